/// Folds `Relu(Conv(…))`, `Clip(Gemm(…))` and the like (Conv, PatternConv, Gemm) into the producer's output clamp
/// (`clip_min`/`clip_max`), when the producer's output feeds nothing else and has no clamp yet
/// (two clamps do not always compose into one: disjoint ranges give a constant). Exact: the
/// clamp is the same float comparison the activation node would do.
enum FuseActivation {
    static func apply(_ graph: Graph, constants: [String: TensorType]) throws -> Graph {
        var consumers: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs where !input.isEmpty { consumers[input, default: 0] += 1 } }
        for output in graph.outputs { consumers[output.name, default: 0] += 1 }
        let producers = Dictionary(graph.nodes.map { node in node.outputs.map { ($0, node) } }.joined(), uniquingKeysWith: { a, _ in a })

        var replaced: [String: Node] = [:]  // producer name → producer with the clamp
        var removed = Set<String>()
        for activation in graph.nodes {
            let range: FusedClamp
            switch activation.op {
            case is ReluOp: range = FusedClamp(min: 0, max: .infinity)
            case let clip as ClipOp: range = FusedClamp(min: clip.min, max: clip.max)
            default: continue
            }
            guard let producer = producers[activation.inputs[0]], consumers[activation.inputs[0]] == 1,
                  replaced[producer.name] == nil, Self.clamp(of: producer)?.isNone == true
            else { continue }
            var attributes = producer.attributes.values
            if range.min > -.infinity { attributes["clip_min"] = .double(Double(range.min)) }
            if range.max < .infinity { attributes["clip_max"] = .double(Double(range.max)) }
            replaced[producer.name] = try Node(name: producer.name, opType: producer.opType, inputs: producer.inputs,
                                               outputs: activation.outputs, attributes: attributes)
            removed.insert(activation.name)
        }
        guard !removed.isEmpty else { return graph }
        Log.logger.debug("fused \(removed.count) activation node(s) into Conv/Gemm")
        let nodes = graph.nodes.compactMap { removed.contains($0.name) ? nil : (replaced[$0.name] ?? $0) }
        return try Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: nodes, constants: constants)
    }

    /// The clamp of an op that can take one.
    private static func clamp(of node: Node) -> FusedClamp? {
        switch node.op {
        case let conv as ConvOp: conv.clamp
        case let conv as PatternConvOp: conv.clamp
        case let gemm as GemmOp: gemm.clamp
        default: nil
        }
    }
}
