import CKernels
import CoreRuntime

extension BLASKernels {
    /// SparseLinear and SparseInt8Linear: the BSR product with the bias added (CKernels, bsr.c),
    /// then the activation. Threads take whole chunks of rows when there are at least two per
    /// thread (each reads all the weights), else ranges of block rows (each transposes the same
    /// rows of x). MiniLM-L6 at 80% 4×4, seq 128, 2 threads, three alternating rounds of
    /// `swiftlet bench --profile`: 8.30–8.53 ms by rows against 8.89–8.97 by block rows. Each
    /// thread has its own panel and tile in scratch and applies the activation to its own part of y.
    /// Int8 blocks are multiplied as codes and their rows scaled once, so both encodings read only
    /// the stored bytes.
    static func sparseLinear(_ op: some BlockSparseLinearOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        let (r, c) = op.block(inputs[1]!)
        let blockRows = (n + r - 1) / r
        let storedWeights = inputs[1]!.count
        let int8 = op is SparseInt8LinearOp
        let activation = op.activation
        let chunkRows = Int(swk_bsr_chunk_rows(Int32(r)))
        let byRows = (m + chunkRows - 1) / chunkRows >= 2 * threads
        // By block rows, the work per block row is its share of the stored blocks (rows differ;
        // the split is by count), and ranges of 16 output columns where R divides 16 keep the
        // threads' columns of y off each other's cache lines (when N is a multiple of 16 too).
        let split = byRows
            ? ColumnSplit(columns: m, threads: threads, workPerColumn: storedWeights, granularity: chunkRows)
            : ColumnSplit(columns: blockRows, threads: threads, workPerColumn: storedWeights * m / max(blockRows, 1),
                          granularity: 16 % r == 0 ? 16 / r : 1)
        let columnsInput = type(of: op).columnsInput, pointersInput = type(of: op).pointersInput
        let largestBlockRange = byRows ? blockRows : split.ranges.map(\.count).max() ?? 0
        let partFloats = (Int(swk_bsr_linear_scratch_floats(Int64(k), Int32(r), Int32(c), Int64(largestBlockRange))) + 15) / 16 * 16
        return PreparedKernel(scratchBytes: split.ranges.count * partFloats * MemoryLayout<Float>.size) { args in
            guard m > 0, n > 0 else { return }
            let matrix = swk_bsr_matrix(
                n: Int64(n), k: Int64(k), r: Int32(r), c: Int32(c),
                row_pointers: args.input(pointersInput, as: Int32.self), column_indices: args.input(columnsInput, as: Int32.self),
                values: int8 ? nil : args.input(1), codes: int8 ? args.input(1, as: Int8.self) : nil, scales: int8 ? args.input(2) : nil)
            let x = args.input(0), y = args.output(0), bias = op.bias(args)
            let scratch = args.scratch!.assumingMemoryBound(to: Float.self)
            withUnsafePointer(to: matrix) { w in
                split.run { part, range in
                    let rows = byRows ? range : 0..<m, blocks = byRows ? 0..<blockRows : range
                    swk_bsr_linear(w, x + rows.lowerBound * k, Int64(rows.count), Int64(blocks.lowerBound), Int64(blocks.upperBound),
                                   bias, y + rows.lowerBound * n, scratch + part * partFloats)
                    let first = blocks.lowerBound * r, width = min(blocks.upperBound * r, n) - first
                    for row in rows { applyActivation(activation, y + row * n + first, count: width) }
                }
            }
        }
    }
}
