/// How a session runs a model. Plain data; `HWBackends` validates backend names and parses the
/// string settings of the C API and CLI (`SessionOptions+Settings.swift`).
public struct SessionOptions: Sendable, Equatable {
    /// Backend name ("cpu", "reference", …).
    public var backend = "cpu"
    /// 0 = one per core.
    public var threads = 0
    /// Run graph passes (BatchNormalization folding, …) before planning.
    public var optimizeGraph = true

    public init() {}
}
