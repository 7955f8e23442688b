import CKernels
import CoreRuntime

extension BLASKernels {
    /// LayerNormalization, or SkipLayerNormalization (`skipped`: input 1 is the residual, and
    /// scale and bias follow it), in layer_norm.c; rows split across threads. A skip must have X's
    /// shape (what the fusion pass makes of a transformer block's end); one that broadcasts takes
    /// the reference kernel (`CPUBackend`).
    static func layerNorm(_ norm: LayerNormalizationOp, skipped: Bool, _ outputs: [TensorType], threads: Int) throws -> Kernel {
        let (rows, length) = try norm.rows(outputs[0])
        let epsilon = norm.epsilon, parameters = skipped ? 2 : 1
        // ColumnSplit counts multiply-adds; an element here costs far more (the skip add, two
        // passes of statistics in double, the normalization: ~1.3 ns, some 60 of sgemm's), so each
        // counts 16. MiniLM-L6 at seq 128 then splits (SkipLayerNorm 0.74 → 0.58–0.61 ms per run
        // at 2 threads, three alternating rounds of `swiftlet bench --profile`); seq 16 does not.
        let split = ColumnSplit(columns: rows, threads: threads, workPerColumn: length * 16)
        return { args in
            let x = args.input(0), skip = skipped ? args.input(1) : nil, y = args.output(0)
            let scale = args.input(parameters), bias = args.optionalInput(parameters + 1)
            split.run { _, rows in
                swk_layer_norm(x, skip, Int64(rows.lowerBound), Int64(rows.upperBound), Int64(length), epsilon, scale, bias, y)
            }
        }
    }
}
