/// Converts F16 and BF16 constant tensors to F32 once per session, so kernels see one float type.
/// (Quantized encodings will get their own kernels instead of widening.)
enum WidenConstants {
    static func apply(_ constants: inout [String: ConstantTensor]) {
        for (name, tensor) in constants where tensor.type.dtype == .f16 || tensor.type.dtype == .bf16 {
            let count = tensor.type.count
            let halves = tensor.data.assumingMemoryBound(to: UInt16.self)
            let floats = (0..<count).map { i -> Float in
                tensor.type.dtype == .bf16 ? Float(bitPattern: UInt32(halves[i]) << 16) : Float(Float16(bitPattern: halves[i]))
            }
            constants[name] = .owning(tensor.type.shape, floats: floats)
        }
    }
}
