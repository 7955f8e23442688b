/// An output clamp to [min, max] fused into a producing op (Swiftlet's `clip_min`/`clip_max`
/// attributes on Gemm and Conv): ReLU is [0, +inf), ReLU6 [0, 6]. Applying it where the output is
/// written saves the separate pass over memory and the buffer a Relu/Clip node would need.
public struct FusedClamp: Sendable, Equatable {
    public let min: Float
    public let max: Float

    public static let none = FusedClamp(min: -.infinity, max: .infinity)

    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }

    init(_ attributes: Attributes) throws {
        min = try attributes.float("clip_min", default: -.infinity)
        max = try attributes.float("clip_max", default: .infinity)
        guard min <= max else { throw attributes.error("clip_min", "(\(min)) exceeds clip_max (\(max))") }
    }

    public static let attributeNames: Set<String> = ["clip_min", "clip_max"]

    public var isNone: Bool { self == .none }

    /// NaN passes through, as with Clip.
    @inline(__always) public func apply(_ x: Float) -> Float { x < min ? min : (x > max ? max : x) }

    /// Clamps `count` values in place.
    public func apply(_ values: UnsafeMutablePointer<Float>, count: Int) {
        guard !isNone else { return }
        for i in 0..<count { values[i] = apply(values[i]) }
    }
}

/// The activation a `Linear` applies where it writes its output (fused from a following
/// Relu or Gelu node): the same function the node would compute.
public enum FusedActivation: String, Sendable, CaseIterable {
    case none, relu, gelu, geluTanh = "gelu_tanh"

    @inline(__always) public func apply(_ x: Float) -> Float {
        switch self {
        case .none: x
        case .relu: x < 0 ? 0 : x
        case .gelu: GeluOp.exact(x)
        case .geluTanh: GeluOp.tanhForm(x)
        }
    }
}
