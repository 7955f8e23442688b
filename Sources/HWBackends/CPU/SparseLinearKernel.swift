import CKernels
import CoreRuntime

extension BLASKernels {
    /// SparseLinear and SparseInt8Linear: X transposed into scratch (rows padded to a multiple of
    /// 8, K to whole blocks), the BSR product in that layout (CKernels, bsr.c) with its block rows
    /// split over the session's threads, then transposed back with the bias added and the
    /// activation applied. Int8 blocks are decoded to floats in scratch first (nonzeros only: a
    /// 1/M share of the product's work), so both run the same float kernel.
    static func sparseLinear(_ op: some BlockSparseLinearOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        let (r, c) = op.block(inputs[1]!)
        let blockRows = (n + r - 1) / r, kPadded = (k + c - 1) / c * c
        let mp = (m + 7) / 8 * 8
        let storedBlocks = inputs[1]!.shape[0]
        let int8 = op as? SparseInt8LinearOp
        let xtCount = kPadded * mp, ytCount = blockRows * r * mp, decodedCount = int8 == nil ? 0 : storedBlocks * r * c
        let activation = op.activation
        // Work per block row: its share of the stored blocks (rows differ; the split is by count).
        let split = ColumnSplit(columns: blockRows, threads: threads, workPerColumn: storedBlocks * r * c * m / max(blockRows, 1))
        let columnsInput = type(of: op).columnsInput, pointersInput = type(of: op).pointersInput
        return PreparedKernel(scratchBytes: (xtCount + ytCount + decodedCount) * MemoryLayout<Float>.size) { args in
            guard m > 0, n > 0 else { return }
            let xt = args.scratch!.assumingMemoryBound(to: Float.self), yt = xt + xtCount, decoded = yt + ytCount
            let y = args.output(0)
            let values: UnsafePointer<Float>
            if let int8 {
                int8.decodeValues(args, inputs, into: decoded)
                values = UnsafePointer(decoded)
            } else {
                values = args.input(1)
            }
            swk_transpose_pad(args.input(0), Int64(m), Int64(k), Int64(kPadded), Int64(mp), xt)
            let rowPointers = args.input(pointersInput, as: Int32.self), columns = args.input(columnsInput, as: Int32.self)
            split.run { _, blockRange in
                // Row pointers index the whole arrays, so a range starts at its own pointer.
                swk_bsr_times_dense(Int64(blockRange.count), Int32(r), Int32(c), rowPointers + blockRange.lowerBound, columns,
                                    values, xt, Int64(mp), yt + blockRange.lowerBound * r * mp)
            }
            swk_transpose_bias(yt, Int64(mp), Int64(m), Int64(n), op.bias(args), y)
            applyActivation(activation, y, count: m * n)
        }
    }
}
