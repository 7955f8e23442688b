/// What a caller runs: a `Session` (one model on a backend) or an `Ensemble` (several sessions
/// and a combiner). The C API's `swl_session`, the CLI and the Swift tests hold one of these.
/// Implementations are thread-safe: `run` may be called concurrently.
public protocol Runnable: AnyObject, Sendable {
    /// The inputs a run takes (names, dtypes, declared shapes).
    var inputs: [ValueInfo] { get }
    /// The outputs a run can write.
    var outputs: [ValueInfo] { get }
    /// Output types for these input shapes (in `inputs` order).
    func outputTypes(inputShapes: [[Int]]) throws -> [TensorType]
    /// Runs on caller memory. On success every output binding's `shape` is set and its data
    /// written; on `bufferTooSmall` only the shapes are set; on any other failure nothing is.
    func run(inputs: [InputBinding], outputs: inout [OutputBinding], profile: Bool) throws -> RunReport
}

extension Session: Runnable {
    public var inputs: [ValueInfo] { graph.inputs }
    public var outputs: [ValueInfo] { graph.outputs }
}
