/// Computes, once when the session is made, every node whose inputs are all constants (a
/// Transpose of a weight, arithmetic on constant scalars, shape arithmetic on constant shapes),
/// with the op's reference kernel; its outputs become constants. Shape chains that start from
/// a graph input's shape (Shape → Gather → Unsqueeze → Concat) depend on the run's input shapes:
/// those are computed when a plan is made for each input-shape signature (ExecutionPlan).
enum FoldConstants {
    /// Results larger than this many elements stay nodes: folding trades file memory for
    /// session memory, which is not worth it for a large computed tensor.
    static let elementLimit = 1 << 24

    static func apply(_ graph: Graph, _ constants: inout [String: ConstantTensor]) throws -> Graph {
        var nodes: [Node] = []
        var folded = 0
        for stored in graph.nodes {
            guard !stored.inputs.isEmpty, stored.inputs.allSatisfy({ $0.isEmpty || constants[$0] != nil }),
                  let outputs = try fold(stored, constants)
            else { nodes.append(stored); continue }
            for (name, tensor) in zip(stored.outputs, outputs) { constants[name] = tensor }
            folded += 1
        }
        guard folded > 0 else { return graph }
        Log.logger.debug("folded \(folded) constant node(s)")
        // A folded value that is a graph output stays one: outputs may name constants.
        return try EliminateDeadNodes.apply(
            Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: nodes, constants: constants.mapValues(\.type)),
            constants: constants.mapValues(\.type))
    }

    /// The node's outputs, or nil when it is not worth folding. Errors (a bad shape, an integer
    /// division by zero) are the model's: they name the node.
    private static func fold(_ node: Node, _ constants: [String: ConstantTensor]) throws -> [ConstantTensor]? {
        do {
            var op = node.op
            var inputs = node.inputs.map { $0.isEmpty ? nil : constants[$0] }
            if !type(of: op).parameterInputs.isEmpty && inputs.count > 1 {
                op = try op.binding(inputs.dropFirst().map { $0?.host }, attributes: node.attributes, outputCount: node.outputs.count)
                inputs = [inputs[0]]
            }
            let arity = type(of: op).inputArity.upperBound
            let types = inputs.map { $0?.type } + [TensorType?](repeating: nil, count: arity == Int.max ? 0 : max(0, arity - inputs.count))
            let values = inputs.map { $0.flatMap { $0.type.count <= ExecutionPlan.planTimeElementLimit ? $0.host : nil } }
            let outputTypes = try op.inferTypes(types, values: values)
            guard outputTypes.allSatisfy({ $0.count <= elementLimit && Shape.boundsProblem($0.shape) == nil }) else { return nil }
            if op.isView { return [inputs[0]!.reshaped(outputTypes[0])] }
            return try ExecutionPlan.evaluate(op, types, outputTypes, inputs)
        } catch let error as SwiftletError {
            throw SwiftletError(error.kind == .invalidArgument ? .invalidModel : error.kind,
                                "node '\(node.name)' (\(node.opType)), computed from constants: \(error.message)")
        }
    }
}
