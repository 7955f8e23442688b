/// An execution target. The session asks `supports` once per node when it is created and gives
/// unsupported nodes to the fallback (the CPU); `prepare` then builds a kernel for each concrete
/// shape signature. Simulated backends (SparCE, systolic, IMC) implement the same protocol.
public protocol Backend: Sendable {
    /// The name users select it by ("cpu").
    var name: String { get }
    /// Whether this backend runs `node`. Policy (what pays off where) belongs here.
    func supports(_ node: Node) -> Bool
    /// A kernel for `node` at these concrete types (already checked by `inferTypes`).
    func prepare(_ node: Node, inputs: [TensorType?], outputs: [TensorType]) throws -> PreparedKernel
    /// The same, knowing the node's constant inputs: for kernels that lay a weight out their own
    /// way once (`ConstantInputs.layout`). By default the constants are not looked at.
    func prepare(_ node: Node, inputs: [TensorType?], outputs: [TensorType], constants: ConstantInputs) throws -> PreparedKernel
}

extension Backend {
    public func prepare(_ node: Node, inputs: [TensorType?], outputs: [TensorType], constants: ConstantInputs) throws -> PreparedKernel {
        try prepare(node, inputs: inputs, outputs: outputs)
    }
}

/// Every op's plain reference kernel: slow, obviously correct, the oracle for other backends.
public struct ReferenceBackend: Backend {
    public init() {}
    public var name: String { "reference" }
    public func supports(_ node: Node) -> Bool { true }
    public func prepare(_ node: Node, inputs: [TensorType?], outputs: [TensorType]) throws -> PreparedKernel {
        PreparedKernel(try node.op.referenceKernel(inputs, outputs))
    }
}
