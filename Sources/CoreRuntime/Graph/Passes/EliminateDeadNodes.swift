/// Drops nodes none of whose outputs reach a graph output (exporters leave some; fusions leave
/// the insides of their patterns).
enum EliminateDeadNodes {
    static func apply(_ graph: Graph, constants: [String: TensorType]) throws -> Graph {
        var needed = Set(graph.outputs.map(\.name))
        var kept: [Node] = []
        for node in graph.nodes.reversed() where node.outputs.contains(where: needed.contains) {
            kept.append(node)
            needed.formUnion(node.inputs.filter { !$0.isEmpty })
        }
        guard kept.count < graph.nodes.count else { return graph }
        Log.logger.debug("removed \(graph.nodes.count - kept.count) dead node(s)")
        return try Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: kept.reversed(), constants: constants)
    }
}
