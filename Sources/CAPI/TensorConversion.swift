import CSwiftlet
import CoreRuntime

/// Conversions between `swl_tensor` and the core's bindings, with every field checked: these
/// values come straight from C callers.
enum CDType {
    static func from(_ dtype: DType) -> swl_dtype {
        switch dtype {
        case .f32: SWL_DTYPE_F32
        case .f16: SWL_DTYPE_F16
        case .i8: SWL_DTYPE_I8
        case .i32: SWL_DTYPE_I32
        case .i64: SWL_DTYPE_I64
        case .bf16, .u8: SWL_DTYPE_F32  // never a graph input or output type
        }
    }

    static func dtype(_ value: swl_dtype, _ what: String) throws -> DType {
        switch value {
        case SWL_DTYPE_F32: .f32
        case SWL_DTYPE_F16: .f16
        case SWL_DTYPE_I8: .i8
        case SWL_DTYPE_I32: .i32
        case SWL_DTYPE_I64: .i64
        default: throw SwiftletError.invalidArgument("\(what): unknown dtype \(value.rawValue)")
        }
    }

    static func shape(_ tensor: swl_tensor, _ what: String) throws -> [Int] {
        guard (0...Int32(SWL_MAX_RANK)).contains(tensor.rank) else {
            throw SwiftletError.invalidArgument("\(what): rank \(tensor.rank) is outside 0...\(SWL_MAX_RANK)")
        }
        let dims = withUnsafeBytes(of: tensor.shape) { Array($0.bindMemory(to: Int64.self).prefix(Int(tensor.rank))) }
        guard dims.allSatisfy({ $0 >= 0 }) else { throw SwiftletError.invalidArgument("\(what): shape \(dims) has a negative dim") }
        return dims.map { Int($0) }
    }

    static func writeShape(_ shape: [Int], into tensor: inout swl_tensor) {
        withUnsafeMutableBytes(of: &tensor.shape) { raw in
            let dims = raw.bindMemory(to: Int64.self)
            for i in 0..<dims.count { dims[i] = i < shape.count ? Int64(shape[i]) : 0 }
        }
    }

    static func name(_ tensor: swl_tensor) -> String? { tensor.name.map { String(cString: $0) } }

    /// size_t arrives as Int: a value above Int.max shows up negative.
    static func byteSize(_ tensor: swl_tensor, _ what: String) throws -> Int {
        guard tensor.byte_size >= 0 else {
            throw SwiftletError.invalidArgument("\(what): byte_size \(UInt(bitPattern: tensor.byte_size)) is implausibly large")
        }
        return tensor.byte_size
    }

    static func inputBinding(_ tensor: swl_tensor, index: Int) throws -> InputBinding {
        let what = "inputs[\(index)]" + (name(tensor).map { " ('\($0)')" } ?? "")
        return InputBinding(name: name(tensor), dtype: try dtype(tensor.dtype, what), shape: try shape(tensor, what),
                            data: UnsafeRawPointer(tensor.data), byteCount: try byteSize(tensor, what))
    }

    static func outputBinding(_ tensor: swl_tensor, index: Int) throws -> OutputBinding {
        let what = "outputs[\(index)]" + (name(tensor).map { " ('\($0)')" } ?? "")
        return OutputBinding(name: name(tensor), dtype: try dtype(tensor.dtype, what), data: tensor.data,
                             capacity: try byteSize(tensor, what))
    }

    /// Writes each output's produced rank and shape back into the caller's tensors.
    static func writeShapes(_ bindings: [OutputBinding], into outputs: UnsafeMutablePointer<swl_tensor>?) {
        guard let outputs else { return }
        for (i, binding) in bindings.enumerated() where binding.shape.count <= Int(SWL_MAX_RANK) {
            outputs[i].rank = Int32(binding.shape.count)
            writeShape(binding.shape, into: &outputs[i])
        }
    }
}
