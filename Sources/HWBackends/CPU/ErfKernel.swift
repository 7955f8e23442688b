import CKernels
import CoreRuntime

extension BLASKernels {
    /// Erf (graphs whose GELU was not fused) through fast_math.c's vector erf: the output takes a
    /// copy of the input, then erf runs on it in place.
    static func erf(_ outputs: [TensorType]) -> Kernel {
        let count = outputs[0].count
        return { args in
            let y = args.output(0)
            y.update(from: args.input(0), count: count)
            swk_erf(y, Int64(count))
        }
    }
}
