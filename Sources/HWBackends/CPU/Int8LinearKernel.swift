import CKernels
import CoreRuntime

extension BLASKernels {
    /// Int8Linear: each row of X quantized (Int8Quantization, the reference's arithmetic) into
    /// int16 scratch padded to a multiple of 16, then the int8 product (CKernels, int8_gemm.c)
    /// writes scaled, biased rows; the activation follows.
    static func int8Linear(_ op: Int8LinearOp, _ inputs: [TensorType?]) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        let kp = (k + 15) / 16 * 16
        let activation = op.activation, staticScale = op.staticScale
        let codeBytes = m * kp * MemoryLayout<Int16>.size
        return PreparedKernel(scratchBytes: codeBytes + m * MemoryLayout<Float>.size) { args in
            guard m > 0, n > 0 else { return }
            let codes = args.scratch!.assumingMemoryBound(to: Int16.self)
            let scales = (args.scratch! + codeBytes).assumingMemoryBound(to: Float.self)
            let x = args.input(0), y = args.output(0)
            for row in 0..<m {
                scales[row] = Int8Quantization.activationScale(x + row * k, count: k, staticScale: staticScale)
                Int8Quantization.quantizeRow(x + row * k, count: k, scale: scales[row], into: codes + row * kp)
                (codes + row * kp + k).update(repeating: 0, count: kp - k)
            }
            swk_int8_gemm(Int64(m), Int64(n), Int64(k), codes, Int64(kp), scales, args.input(1, as: Int8.self), args.input(2),
                          op.bias(args), y)
            applyActivation(activation, y, count: m * n)
        }
    }
}
