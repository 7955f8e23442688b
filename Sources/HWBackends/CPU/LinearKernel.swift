import CBLAS
import CKernels
import CoreRuntime

extension BLASKernels {
    /// Linear: each thread's share of output columns, then the activation in place (GELU in
    /// fast_math.c's vectors). A constant W, for fewer than `packedRowsLimit` rows, is packed into
    /// panels once (packed_linear.c; the model's store keeps them for all its sessions) and
    /// multiplied by our register tiles with the bias in their epilogue; any other goes through
    /// sgemm onto rows that start as the bias.
    static func linear(_ op: LinearOp, _ inputs: [TensorType?], constants: ConstantInputs, threads: Int) throws -> Kernel {
        let (m, k, n) = try op.dimensions(inputs)
        _ = try (blasSize(m, "M"), blasSize(k, "K"), blasSize(n, "N"))
        let activation = op.activation
        let split = linearSplit(m: m, k: k, n: n, threads: threads)
        if m < packedRowsLimit, inputs[1]?.dtype == .f32,
           let packed = constants.layout(of: 1, PackedLinearWeights.layout(transposed: false), make: { PackedLinearWeights($0) }) {
            return { args in
                let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
                guard m > 0, n > 0 else { return }
                split.run { _, columns in
                    swk_linear_packed(x, Int64(m), Int64(k), packed.panels, Int64(n), Int64(columns.lowerBound),
                                      Int64(columns.upperBound), bias, y)
                    for row in 0..<m { applyActivation(activation, y + row * n + columns.lowerBound, count: columns.count) }
                }
            }
        }
        return { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            guard m > 0, n > 0 else { return }
            split.run { _, columns in
                linearColumns(columns, m: m, k: k, n: n, x: x, w: w, transposed: false, bias: bias, activation, y: y)
            }
        }
    }

    /// Products of this many rows or more go through sgemm even when W is constant: at 1024 rows
    /// on two threads the panels lost to it (MiniLM b8 s128: 263–269 ms against 243–248), and
    /// blocking the panels' rows to keep X in L2 did not win that back (docs/BENCHMARKS.md, ninth
    /// measurement).
    static let packedRowsLimit = 512

    /// Threads take 16 output columns at a time of a linear layer.
    static func linearSplit(m: Int, k: Int, n: Int, threads: Int) -> ColumnSplit {
        ColumnSplit(columns: n, threads: threads, workPerColumn: m * k, granularity: 16)
    }

    /// Columns `columns` of Y [M, N] = activation(X [M, K] · W + bias): W is [K, N], or [N, K]
    /// when `transposed`. The rows start as the bias and sgemm adds X·W (beta 1); without a bias
    /// sgemm writes. One thread's whole share: bias, product and activation while it is in cache.
    static func linearColumns(_ columns: Range<Int>, m: Int, k: Int, n: Int, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                              transposed: Bool, bias: UnsafePointer<Float>?, _ activation: FusedActivation,
                              y: UnsafeMutablePointer<Float>) {
        let width = columns.count, y = y + columns.lowerBound, beta: Float = bias == nil ? 0 : 1
        let w = w + columns.lowerBound * (transposed ? k : 1), ldw = Int32(transposed ? k : n)
        if let bias {
            for row in 0..<m { (y + row * n).update(from: bias + columns.lowerBound, count: width) }
        }
        if k > 0 && m == 1 {
            rowTimesMatrix(x, k: k, width: width, alpha: 1, w, ldw: ldw, transposed: transposed, beta: beta, y)
        } else if k > 0 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transposed ? CblasTrans : CblasNoTrans, Int32(m), Int32(width), Int32(k),
                        1, x, Int32(k), w, ldw, beta, y, Int32(n))
        } else if bias == nil {
            for row in 0..<m { (y + row * n).update(repeating: 0, count: width) }  // the arena holds old bytes
        }
        for row in 0..<m { applyActivation(activation, y + row * n, count: width) }
    }

    /// y[0..<width] = alpha · x[0..<k] · W + beta · y, W [k, width] with row stride ldw, or its
    /// transpose [width, k] when `transposed`: one row's product as a matrix-vector one. OpenBLAS
    /// 0.3.21's sgemm would pack all of W first (it forwards M = 1 to gemv only from 0.3.27),
    /// tripling the bytes moved (MobileNetV2's 1280→1000 Gemm: 0.60 ms through sgemm, 0.23 ms here).
    static func rowTimesMatrix(_ x: UnsafePointer<Float>, k: Int, width: Int, alpha: Float, _ w: UnsafePointer<Float>, ldw: Int32,
                               transposed: Bool, beta: Float, _ y: UnsafeMutablePointer<Float>) {
        // With beta 0 the arena's old bytes must not matter, whatever sgemv does with 0·NaN.
        if beta == 0 { y.update(repeating: 0, count: width) }
        if transposed {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(width), Int32(k), alpha, w, ldw, x, 1, beta, y, 1)
        } else {
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(width), alpha, w, ldw, x, 1, beta, y, 1)
        }
    }

    /// A linear layer's fused activation over its output, in place (GELU in fast_math.c's vectors).
    static func applyActivation(_ activation: FusedActivation, _ y: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .none: break
        case .relu: for i in 0..<count { y[i] = activation.apply(y[i]) }
        case .gelu: swk_gelu(y, Int64(count))
        case .geluTanh: swk_gelu_tanh(y, Int64(count))
        }
    }
}
