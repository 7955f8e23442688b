import CKernels
import CoreRuntime

extension BLASKernels {
    /// Int8Linear: each row of X quantized (int8_quantize.c: Int8Quantization's arithmetic,
    /// vectorized) into int16 scratch padded to a multiple of 16, then the int8 product (CKernels, int8_gemm.c)
    /// writes scaled, biased rows — its output columns split over the session's threads, each
    /// with its own weight panel in scratch; the activation follows.
    static func int8Linear(_ op: Int8LinearOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        let kp = (k + 15) / 16 * 16
        let activation = op.activation, staticScale = op.staticScale
        let split = ColumnSplit(columns: n, threads: threads, workPerColumn: m * k, granularity: 16)
        let codeBytes = m * kp * MemoryLayout<Int16>.size, scaleBytes = m * MemoryLayout<Float>.size
        let panelBytes = m >= Int(SWK_INT8_PACKED_ROWS) ? 16 * kp : 0
        return PreparedKernel(scratchBytes: codeBytes + scaleBytes + split.ranges.count * panelBytes) { args in
            guard m > 0, n > 0 else { return }
            let codes = args.scratch!.assumingMemoryBound(to: Int16.self)
            let scales = (args.scratch! + codeBytes).assumingMemoryBound(to: Float.self)
            let panels = (args.scratch! + codeBytes + scaleBytes).assumingMemoryBound(to: Int8.self)
            let x = args.input(0), w = args.input(1, as: Int8.self), wScales = args.input(2), bias = op.bias(args)
            let y = args.output(0)
            swk_int8_quantize_rows(x, Int64(m), Int64(k), Int64(kp), staticScale, codes, scales)
            split.run { part, columns in
                swk_int8_gemm(Int64(m), Int64(columns.lowerBound), Int64(columns.upperBound), Int64(n), Int64(k), codes,
                              Int64(kp), scales, w, wScales, bias, panels + part * panelBytes, y)
            }
            applyActivation(activation, y, count: m * n)
        }
    }
}
