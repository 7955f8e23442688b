import CKernels
import CoreRuntime

extension BLASKernels {
    /// SparseLinear and SparseInt8Linear: the BSR product with the bias added (CKernels, bsr.c),
    /// block rows split over the session's threads, each with its own panel and tile in scratch,
    /// then the activation. Int8 blocks are multiplied as codes and their rows scaled once, so
    /// both encodings read only the stored bytes.
    static func sparseLinear(_ op: some BlockSparseLinearOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        let (r, c) = op.block(inputs[1]!)
        let blockRows = (n + r - 1) / r
        let storedBlocks = inputs[1]!.shape[0]
        let int8 = op is SparseInt8LinearOp
        let activation = op.activation
        // Work per block row: its share of the stored blocks (rows differ; the split is by count).
        // Ranges of 16 output columns where R divides 16 keep the threads' columns of y off each
        // other's cache lines.
        let split = ColumnSplit(columns: blockRows, threads: threads, workPerColumn: storedBlocks * r * c * m / max(blockRows, 1),
                                granularity: 16 % r == 0 ? 16 / r : 1)
        let columnsInput = type(of: op).columnsInput, pointersInput = type(of: op).pointersInput
        let largestRange = split.ranges.map(\.count).max() ?? 0
        let partFloats = (Int(swk_bsr_linear_scratch_floats(Int64(k), Int32(r), Int32(c), Int64(largestRange))) + 15) / 16 * 16
        return PreparedKernel(scratchBytes: split.ranges.count * partFloats * MemoryLayout<Float>.size) { args in
            guard m > 0, n > 0 else { return }
            let matrix = swk_bsr_matrix(
                n: Int64(n), k: Int64(k), r: Int32(r), c: Int32(c),
                row_pointers: args.input(pointersInput, as: Int32.self), column_indices: args.input(columnsInput, as: Int32.self),
                values: int8 ? nil : args.input(1), codes: int8 ? args.input(1, as: Int8.self) : nil, scales: int8 ? args.input(2) : nil)
            let x = args.input(0), y = args.output(0), bias = op.bias(args)
            let scratch = args.scratch!.assumingMemoryBound(to: Float.self)
            withUnsafePointer(to: matrix) { w in
                split.run { part, blockRange in
                    swk_bsr_linear(w, x, Int64(m), Int64(blockRange.lowerBound), Int64(blockRange.upperBound), bias, y,
                                   scratch + part * partFloats)
                }
            }
            applyActivation(activation, y, count: m * n)
        }
    }
}
