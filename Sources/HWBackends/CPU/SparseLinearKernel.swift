import CKernels
import CoreRuntime

extension BLASKernels {
    /// SparseLinear: X transposed into scratch (rows padded to a multiple of 8, K to whole
    /// blocks), the BSR product in that layout (CKernels, bsr.c), then transposed back with the
    /// bias added and the activation applied.
    static func sparseLinear(_ op: SparseLinearOp, _ inputs: [TensorType?]) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        let (r, c) = op.block(inputs[1]!)
        let blockRows = (n + r - 1) / r, kPadded = (k + c - 1) / c * c
        let mp = (m + 7) / 8 * 8
        let xtCount = kPadded * mp, ytCount = blockRows * r * mp
        let activation = op.activation
        return PreparedKernel(scratchBytes: (xtCount + ytCount) * MemoryLayout<Float>.size) { args in
            guard m > 0, n > 0 else { return }
            let xt = args.scratch!.assumingMemoryBound(to: Float.self), yt = xt + xtCount
            let y = args.output(0)
            swk_transpose_pad(args.input(0), Int64(m), Int64(k), Int64(kPadded), Int64(mp), xt)
            swk_bsr_times_dense(Int64(blockRows), Int32(r), Int32(c), args.input(3, as: Int32.self), args.input(2, as: Int32.self),
                                args.input(1), xt, Int64(mp), yt)
            swk_transpose_bias(yt, Int64(mp), Int64(m), Int64(n), op.bias(args), y)
            applyActivation(activation, y, count: m * n)
        }
    }
}
