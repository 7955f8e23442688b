/// What one run did: time, work, memory, and where each node ran.
public struct RunReport: Sendable {
    public var wallTimeMs = 0.0
    public var flops = 0
    public var bytesMoved = 0
    public var peakActivationBytes = 0
    public var nodeCount = 0
    public var fallbackNodeCount = 0
    /// Simulated backends only.
    public var simulatedCycles = 0
    public var simulatedEnergyMillijoules = 0.0
    /// Per node, in execution order; filled only when the run was asked to profile.
    public var nodes: [NodeReport] = []
    /// An ensemble's run: each member's own report, in member order (empty for a plain session).
    public var members: [RunReport] = []

    public init() {}
}

public struct NodeReport: Sendable {
    public let name: String
    public let opType: String
    public let backend: String
    public let flops: Int
    public let timeMs: Double
}
