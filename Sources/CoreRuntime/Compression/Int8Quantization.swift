/// Symmetric int8 quantization: weights per output channel, activations per row (dynamic) or with
/// one calibrated scale (static). Codes lie in [−127, 127] so that products of two codes and their
/// pairwise sums fit the 16/32-bit lanes the CPU kernels multiply in.
public enum Int8Quantization {
    /// Per-output-channel codes and scales of `weights` [rows N, columns K]: scale_n = max|W[n,:]|/127,
    /// code = round-half-even(W / scale_n). An all-zero row gets scale 0 and zero codes.
    public static func perChannel(rows: Int, columns: Int, weights: UnsafeBufferPointer<Float>) -> (codes: [Int8], scales: [Float]) {
        precondition(weights.count == rows * columns)
        var codes = [Int8](repeating: 0, count: rows * columns)
        var scales = [Float](repeating: 0, count: rows)
        for row in 0..<rows {
            var amax: Float = 0
            for i in 0..<columns { amax = max(amax, abs(weights[row * columns + i])) }
            let scale = amax / 127
            scales[row] = scale
            guard scale > 0 else { continue }
            for i in 0..<columns { codes[row * columns + i] = code(weights[row * columns + i] / scale) }
        }
        return (codes, scales)
    }

    /// round-half-even(x), saturated to ±127 (NaN → 0).
    @inlinable public static func code(_ x: Float) -> Int8 {
        let rounded = x.rounded(.toNearestOrEven)
        return rounded.isNaN ? 0 : Int8(max(-127, min(127, rounded)))
    }

    /// The scale a row of activations is quantized with: the static scale when one was
    /// calibrated (> 0), else max|x|/127 of the row (dynamic).
    @inlinable public static func activationScale(_ row: UnsafePointer<Float>, count: Int, staticScale: Float) -> Float {
        if staticScale > 0 { return staticScale }
        var amax: Float = 0
        for i in 0..<count { amax = max(amax, abs(row[i])) }
        return amax / 127
    }

    /// Quantizes a row of activations with `scale`: code = round-half-even(x · (1/scale)) — one
    /// reciprocal per row, the same arithmetic in every kernel so that integer results agree exactly.
    /// (Int8 codes for the reference kernel, the same codes widened to Int16 for the CPU's.)
    @inlinable public static func quantizeRow<Code: FixedWidthInteger & SignedInteger>(
        _ row: UnsafePointer<Float>, count: Int, scale: Float, into codes: UnsafeMutablePointer<Code>) {
        let inverse: Float = scale > 0 ? 1 / scale : 0
        for i in 0..<count { codes[i] = Code(code(row[i] * inverse)) }
    }
}
