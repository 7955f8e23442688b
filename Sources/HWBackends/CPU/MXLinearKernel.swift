import CBLAS
import CKernels
import CoreRuntime

extension BLASKernels {
    /// Up to this many rows, MXLinear reads the packed codes directly (matrix-vector: the bytes
    /// are the cost); above it, decoding W once and multiplying with sgemm is faster.
    static let mxDirectRows = 8

    /// MXLinear (weight-only MX). Few rows: the direct kernel (CKernels, mx_matvec.c). More: W
    /// decoded into float scratch [N, K], then sgemm (X · Wᵀ) onto rows that start as the bias,
    /// split by columns across threads; the decode is O(N·K) against the product's O(M·N·K).
    static func mxLinear(_ op: MXLinearOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        _ = try (blasSize(m, "M"), blasSize(k, "K"), blasSize(n, "N"))
        let activation = op.activation
        if m <= mxDirectRows {
            let rowBytes = MXMatrix.rowBytes(op.format, columns: k), element = kernelElement(op.format)
            let split = ColumnSplit(columns: n, threads: threads, workPerColumn: m * k)
            return PreparedKernel { args in
                guard m > 0, n > 0 else { return }
                let codes = args.input(1, as: UInt8.self), scales = args.input(2, as: UInt8.self)
                let x = args.input(0), bias = op.bias(args), y = args.output(0)
                op.decodeTable.withUnsafeBufferPointer { table in
                    split.run { _, columns in
                        swk_mx_matvec(element, Int64(m), Int64(columns.lowerBound), Int64(columns.upperBound), Int64(n), Int64(k),
                                      codes, Int64(rowBytes), scales, table.baseAddress!, x, bias, y)
                    }
                }
                applyActivation(activation, args.output(0), count: m * n)
            }
        }
        let split = linearSplit(m: m, k: k, n: n, threads: threads)
        return PreparedKernel(scratchBytes: n * k * MemoryLayout<Float>.size) { args in
            guard m > 0, n > 0 else { return }
            let w = args.scratch!.assumingMemoryBound(to: Float.self), x = args.input(0), y = args.output(0)
            op.decodeWeight(args, inputs, n: n, k: k, into: w)
            let bias = op.bias(args)
            split.run { _, columns in
                linearColumns(columns, m: m, k: k, n: n, x: x, w: w, transposed: true, bias: bias, activation, y: y)
            }
        }
    }

    /// The C kernels' name for an element format.
    static func kernelElement(_ format: MXFormat) -> swk_mx_element {
        switch format {
        case .fp8e4m3: SWK_MXFP8_E4M3
        case .fp8e5m2: SWK_MXFP8_E5M2
        case .fp6e2m3: SWK_MXFP6_E2M3
        case .fp6e3m2: SWK_MXFP6_E3M2
        case .fp4e2m1: SWK_MXFP4_E2M1
        case .int8: SWK_MXINT8
        }
    }
}
