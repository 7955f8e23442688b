/// Drops nodes none of whose outputs reach a graph output (exporters leave some; fusions leave
/// the insides of their patterns; structured removal leaves what only a removed part needed).
enum EliminateDeadNodes {
    static func apply(_ graph: Graph, constants: [String: TensorType]) throws -> Graph {
        let kept = liveNodes(graph.nodes, outputs: graph.outputs.map(\.name))
        guard kept.count < graph.nodes.count else { return graph }
        Log.logger.debug("removed \(graph.nodes.count - kept.count) dead node(s)")
        return try Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: kept, constants: constants)
    }

    /// The nodes some of whose outputs reach `outputs`, in their listed order. Each needed value
    /// is traced to its producer, so the list need not be topologically sorted (a graph being
    /// rewired is not).
    static func liveNodes(_ nodes: [Node], outputs: [String]) -> [Node] {
        var producer: [String: Int] = [:]
        for (index, node) in nodes.enumerated() { for output in node.outputs { producer[output] = index } }
        var live = Set<Int>()
        var pending = outputs
        while let value = pending.popLast() {
            guard let index = producer[value], live.insert(index).inserted else { continue }
            pending += nodes[index].inputs.filter { !$0.isEmpty }
        }
        return nodes.indices.filter(live.contains).map { nodes[$0] }
    }
}
