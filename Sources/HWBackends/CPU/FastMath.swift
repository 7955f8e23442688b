/// exp, erf and the loops built on them (softmax rows, GELU) as branch-free scalar code the
/// compiler vectorizes: libm's expf and erff are opaque calls, and measured on MiniLM-L6 at b1 s128 they were ~15 ms of a 55 ms run
/// (1.2 M erff for GELU, 1.2 M expf for attention softmax; `swiftlet bench --profile`).
///
/// exp: Cephes' expf polynomial (range reduction by ln 2 split in two, rounding to nearest by the
/// 1.5·2²³ trick since SSE2 has no vector floor; degree-5 polynomial): ≤ 4 ulp of libm on
/// [−87, 88]; inputs are clamped to [−87.34, 88], so below they give e^−87.34 ≈ 1.2e−38 instead
/// of 0 — a softmax weight that small is zero for every purpose — and above e^88 ≈ 1.7e38.
/// erf: 1 − erfc with Numerical Recipes' erfc (Chebyshev fit, relative error < 1.2e−7); with
/// fp32 rounding, within 3e−7 of libm's erff. Both tested against libm in FastMathTests.
enum FastMath {
    @inline(__always)
    static func exp(_ input: Float) -> Float {
        let x = min(max(input, -87.33654), 88)
        let magic: Float = 12582912  // 1.5·2²³: adding and subtracting it rounds to an integer
        let n = (x * 1.44269504088896341 + magic) - magic
        var r = x - n * 0.693359375
        r -= n * -2.12194440e-4
        var y: Float = 1.9875691500e-4
        y = y * r + 1.3981999507e-3
        y = y * r + 8.3334519073e-3
        y = y * r + 4.1665795894e-2
        y = y * r + 1.6666665459e-1
        y = y * r + 5.0000001201e-1
        y = y * (r * r) + r + 1
        // 2ⁿ from its bits (n ∈ [−126, 127], a normal float): n + 127 + 1.5·2²³ holds n + 127 in
        // its low mantissa bits. No Float → Int conversion, whose overflow check would keep the
        // loop from vectorizing.
        let biased = (n + (magic + 127)).bitPattern &- magic.bitPattern
        return y * Float(bitPattern: biased &<< 23)
    }

    @inline(__always)
    static func erf(_ x: Float) -> Float {
        let z = Swift.abs(x)
        let t = 1 / (1 + 0.5 * z)
        var p: Float = 0.17087277
        p = p * t - 0.82215223
        p = p * t + 1.48851587
        p = p * t - 1.13520398
        p = p * t + 0.27886807
        p = p * t - 0.18628806
        p = p * t + 0.09678418
        p = p * t + 0.37409196
        p = p * t + 1.00002368
        p = p * t - 1.26551223
        let magnitude = 1 - t * exp(p - z * z)
        return x < 0 ? -magnitude : magnitude
    }

    /// x·(1 + erf(x/√2))/2 in place.
    static func gelu(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = values[i]
            values[i] = 0.5 * x * (1 + erf(x * 0.7071067811865476))
        }
    }

    /// x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2 in place, with 1 + tanh(u) = 2 − 2/(e^{2u} + 1).
    static func geluTanh(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = values[i]
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
            values[i] = 0.5 * x * (2 - 2 / (exp(2 * u) + 1))
        }
    }

    /// exp in place.
    static func exp(_ values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { values[i] = exp(values[i]) }
    }

    /// Softmax of one row in place (a row whose maximum is −inf, fully masked, becomes zeros).
    static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for j in 0..<count { maximum = .maximumPropagatingNaN(maximum, row[j]) }
        guard maximum != -.infinity else { row.update(repeating: 0, count: count); return }
        // Separate loops: the exp loop vectorizes only without the (order-dependent) sum in it.
        // exp clamps its input near −87, so a −∞ score (masked, or dropped by approximate
        // attention) would keep ~1e-38 of weight: it gets exactly 0.
        for j in 0..<count { row[j] = row[j] == -.infinity ? 0 : exp(row[j] - maximum) }
        var sum: Float = 0
        for j in 0..<count { sum += row[j] }
        let inverse = 1 / sum
        for j in 0..<count { row[j] *= inverse }
    }
}
