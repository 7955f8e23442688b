import CBLAS
import CKernels
import CoreRuntime

extension BLASKernels {
    /// Up to this many rows, MXLinear reads the packed codes directly (matrix-vector: the bytes
    /// are the cost); above it, decoding W once and multiplying with sgemm is faster.
    static let mxDirectRows = 8

    /// MXLinear (weight-only MX). Few rows: the direct kernel (CKernels, mx_matvec.c). More: W
    /// decoded into float scratch [N, K], then one sgemm (X · Wᵀ) onto rows that start as the
    /// bias; the decode is O(N·K) against the product's O(M·N·K).
    static func mxLinear(_ op: MXLinearOp, _ inputs: [TensorType?]) throws -> PreparedKernel {
        let (m, k, n) = try op.dimensions(inputs)
        _ = try (blasSize(m, "M"), blasSize(k, "K"), blasSize(n, "N"))
        let activation = op.activation
        if m <= mxDirectRows {
            let rowBytes = MXMatrix.rowBytes(op.format, columns: k), bits = Int32(op.format.bits)
            return PreparedKernel { args in
                guard m > 0, n > 0 else { return }
                op.decodeTable.withUnsafeBufferPointer { table in
                    swk_mx_matvec(Int64(m), Int64(n), Int64(k), bits, args.input(1, as: UInt8.self), Int64(rowBytes),
                                  args.input(2, as: UInt8.self), table.baseAddress!, args.input(0), op.bias(args), args.output(0))
                }
                applyActivation(activation, args.output(0), count: m * n)
            }
        }
        return PreparedKernel(scratchBytes: n * k * MemoryLayout<Float>.size) { args in
            guard m > 0, n > 0 else { return }
            let w = args.scratch!.assumingMemoryBound(to: Float.self), y = args.output(0)
            op.decodeWeight(args, inputs, n: n, k: k, into: w)
            let bias = op.bias(args)
            if let bias { for row in 0..<m { (y + row * n).update(from: bias, count: n) } }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, args.input(0), Int32(k),
                        w, Int32(k), bias == nil ? 0 : 1, y, Int32(n))
            applyActivation(activation, y, count: m * n)
        }
    }
}
