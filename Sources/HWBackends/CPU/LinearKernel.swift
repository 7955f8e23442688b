import CBLAS
import CoreRuntime

extension BLASKernels {
    /// Linear: one sgemm over all M rows onto rows that start as the bias,
    /// then the activation runs over the output in place (GELU in FastMath's vectors).
    static func linear(_ op: LinearOp, _ inputs: [TensorType?]) throws -> Kernel {
        let (m, k, n) = try op.dimensions(inputs)
        _ = try (blasSize(m, "M"), blasSize(k, "K"), blasSize(n, "N"))
        let activation = op.activation
        return { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            guard m > 0, n > 0 else { return }
            // With a bias the rows start as it and sgemm adds X·W (beta 1); without, sgemm writes.
            if let bias {
                for row in 0..<m { (y + row * n).update(from: bias, count: n) }
            }
            if k > 0 && m == 1 {
                // One row is a matrix-vector product: OpenBLAS 0.3.21's sgemm would pack all of W
                // first (it forwards M = 1 to gemv only from 0.3.27), tripling the bytes moved.
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, w, Int32(n), x, 1, bias == nil ? 0 : 1, y, 1)
            } else if k > 0 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                            1, x, Int32(k), w, Int32(n), bias == nil ? 0 : 1, y, Int32(n))
            } else if bias == nil {
                y.update(repeating: 0, count: m * n)  // an empty product; the arena holds old bytes
            }
            applyActivation(activation, y, count: m * n)
        }
    }

    /// A linear layer's fused activation over its output, in place (GELU in FastMath's vectors).
    static func applyActivation(_ activation: FusedActivation, _ y: UnsafeMutablePointer<Float>, count: Int) {
        switch activation {
        case .none: break
        case .relu: for i in 0..<count { y[i] = activation.apply(y[i]) }
        case .gelu: FastMath.gelu(y, count: count)
        case .geluTanh: FastMath.geluTanh(y, count: count)
        }
    }
}
