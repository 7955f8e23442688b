/// The element formats of OCP Microscaling (MX) v1.0: blocks of `blockSize` values along the
/// reduction dimension share one E8M0 scale 2^(code − 127); each element is a tiny float
/// (FP8/FP6/FP4) or an 8-bit integer in units of 2⁻⁶ (MXINT8). docs/FORMAT.md has the bit layout.
public enum MXFormat: String, CaseIterable, Sendable {
    case fp8e4m3 = "mxfp8-e4m3"
    case fp8e5m2 = "mxfp8-e5m2"
    case fp6e2m3 = "mxfp6-e2m3"
    case fp6e3m2 = "mxfp6-e3m2"
    case fp4e2m1 = "mxfp4"
    case int8 = "mxint8"

    public static let blockSize = 32
    /// The E8M0 code that means NaN (the whole block is NaN).
    public static let nanScale: UInt8 = 0xFF

    public var bits: Int {
        switch self {
        case .fp8e4m3, .fp8e5m2, .int8: 8
        case .fp6e2m3, .fp6e3m2: 6
        case .fp4e2m1: 4
        }
    }

    /// (exponent bits, mantissa bits) of a float element; MXINT8 is (0, 6): a sign-magnitude view
    /// is not used for it, see `encode`.
    var exponentBits: Int {
        switch self {
        case .fp8e4m3: 4
        case .fp8e5m2: 5
        case .fp6e2m3, .fp4e2m1: 2
        case .fp6e3m2: 3
        case .int8: 0
        }
    }

    var mantissaBits: Int {
        switch self {
        case .fp8e4m3, .fp6e2m3: 3
        case .fp8e5m2, .fp6e3m2: 2
        case .fp4e2m1: 1
        case .int8: 6
        }
    }

    var exponentBias: Int { exponentBits == 0 ? 0 : (1 << (exponentBits - 1)) - 1 }

    /// emax_elem: the exponent of the largest normal element (the spec's table).
    public var maxExponent: Int {
        switch self {
        case .fp8e4m3: 8
        case .fp8e5m2: 15
        case .fp6e2m3, .fp4e2m1: 2
        case .fp6e3m2: 4
        case .int8: 0
        }
    }

    /// The largest finite element value; conversion saturates to it.
    public var maxNormal: Double {
        switch self {
        case .fp8e4m3: 448
        case .fp8e5m2: 57344
        case .fp6e2m3: 7.5
        case .fp6e3m2: 28
        case .fp4e2m1: 6
        case .int8: 127.0 / 64
        }
    }

    /// How an element value halfway between two representable ones is rounded.
    public enum Rounding: String, Sendable, CaseIterable {
        /// The spec's rule (round to nearest, ties to even).
        case nearestEven = "nearest-even"
        /// microsoft/microxcaling's default, for comparing with it.
        case tiesAway = "ties-away"
    }

    /// The element value of every code (2^bits entries; the kernels' lookup table). E4M3's
    /// S.1111.111 and E5M2's exponent-31 codes are NaN/±Inf; MXINT8 is two's complement, −128 included.
    public var decodeTable: [Float] {
        (0..<(1 << bits)).map { decodeElement(UInt8($0)) }
    }

    func decodeElement(_ code: UInt8) -> Float {
        if self == .int8 { return Float(Int8(bitPattern: code)) / 64 }
        let sign: Float = (Int(code) >> (bits - 1)) & 1 == 1 ? -1 : 1
        let exponent = (Int(code) >> mantissaBits) & ((1 << exponentBits) - 1)
        let mantissa = Int(code) & ((1 << mantissaBits) - 1)
        let allOnes = (1 << exponentBits) - 1
        if self == .fp8e4m3 && exponent == allOnes && mantissa == (1 << mantissaBits) - 1 { return .nan }
        if self == .fp8e5m2 && exponent == allOnes { return mantissa == 0 ? sign * .infinity : .nan }
        let fraction = Float(mantissa) / Float(1 << mantissaBits)
        if exponent == 0 { return sign * fraction * Float(sign: .plus, exponent: 1 - exponentBias, significand: 1) }
        return sign * (1 + fraction) * Float(sign: .plus, exponent: exponent - exponentBias, significand: 1)
    }

    /// The code of a finite element value `x` (already divided by the block's scale): rounded to
    /// the element's precision, saturating to ±maxNormal. `x` is a Double so that dividing by the
    /// scale was exact whatever the scale.
    func encode(_ x: Double, rounding: Rounding) -> UInt8 {
        let negative = x.sign == .minus
        let magnitude = Swift.min(abs(x), maxNormal)
        if self == .int8 {
            let steps = Self.roundToInteger(magnitude * 64, rounding)
            let value = Int(Swift.min(steps, 127))
            return UInt8(bitPattern: Int8(negative ? -value : value))
        }
        // The spacing of representable values around `magnitude`: subnormal spacing below the
        // smallest normal, else 2^(exponent − mantissa bits).
        let minNormalExponent = 1 - exponentBias
        let exponent = magnitude == 0 ? minNormalExponent : Swift.max(Int(magnitude.exponent), minNormalExponent)
        let quantum = Double(sign: .plus, exponent: exponent - mantissaBits, significand: 1)
        let rounded = Swift.min(Self.roundToInteger(magnitude / quantum, rounding) * quantum, maxNormal)
        var code: Int
        if rounded < Double(sign: .plus, exponent: minNormalExponent, significand: 1) {
            code = Int(rounded / Double(sign: .plus, exponent: minNormalExponent - mantissaBits, significand: 1))
        } else {
            let e = Int(rounded.exponent)
            let mantissa = Int(rounded / Double(sign: .plus, exponent: e - mantissaBits, significand: 1)) - (1 << mantissaBits)
            code = (e + exponentBias) << mantissaBits | mantissa
        }
        if negative { code |= 1 << (bits - 1) }
        return UInt8(code)
    }

    static func roundToInteger(_ value: Double, _ rounding: Rounding) -> Double {
        switch rounding {
        case .nearestEven: value.rounded(.toNearestOrEven)
        case .tiesAway: value.rounded(.toNearestOrAwayFromZero)
        }
    }
}
