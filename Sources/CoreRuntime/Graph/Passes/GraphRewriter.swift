/// What every fusion pass needs: who produces and who consumes each value, the constants, and a
/// way to replace a pattern's final node by a fused one.
///
/// A fusion only ever replaces the node at the *root* of its pattern with a node computing the
/// same outputs; the nodes inside the pattern then lose their consumers and `finish` drops them
/// (dead-node elimination). So a fusion is correct whatever else uses an intermediate value —
/// such a value is still computed — and `privateProducer` is only a check that fusing pays. The
/// exception: a node whose name the replacement takes (`takingNameOf`) is dropped outright, so
/// its output must be private to the pattern.
struct GraphRewriter {
    let graph: Graph
    private(set) var constants: [String: ConstantTensor]
    let producers: [String: Node]
    /// Uses of each value by nodes and as a graph output.
    let useCounts: [String: Int]
    private var replacements: [String: Node] = [:]
    /// Nodes a replacement took the name of (`replace(…, takingNameOf:)`), dropped by `finish`.
    private var absorbed = Set<String>()

    init(_ graph: Graph, constants: [String: ConstantTensor]) {
        self.graph = graph
        self.constants = constants
        var uses: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs where !input.isEmpty { uses[input, default: 0] += 1 } }
        for output in graph.outputs { uses[output.name, default: 0] += 1 }
        useCounts = uses
        producers = Dictionary(graph.nodes.map { node in node.outputs.map { ($0, node) } }.joined(), uniquingKeysWith: { a, _ in a })
    }

    var replacedCount: Int { replacements.count }

    /// The node that computes `value`, if the value has exactly one use (the pattern's).
    func privateProducer(_ value: String) -> Node? {
        useCounts[value] == 1 ? producers[value] : nil
    }

    func producer(_ value: String) -> Node? { producers[value] }

    /// The value of an F32 constant with exactly one element.
    func scalar(_ value: String) -> Float? {
        guard let tensor = constants[value], tensor.type.dtype == .f32, tensor.type.count == 1 else { return nil }
        return tensor.floats[0]
    }

    /// True when `node` has not been replaced yet (patterns must not overlap at their roots).
    func isUntouched(_ node: Node) -> Bool { replacements[node.name] == nil }

    /// Replaces `root` by a node of `opType` with the root's outputs and name, or the name of
    /// `named`: a node of the pattern whose output only the pattern uses, which is then dropped
    /// (a fused Conv + Add keeps the Conv's name, which profiles and compression rules know).
    mutating func replace(_ root: Node, opType: String, inputs: [String], attributes: [String: JSONValue] = [:],
                          takingNameOf named: Node? = nil) throws {
        if let named {
            precondition(named.outputs.allSatisfy { useCounts[$0] == 1 }, "a node whose name a fusion takes must be private to it")
            absorbed.insert(named.name)
        }
        replacements[root.name] = try Node(name: named?.name ?? root.name, opType: opType, inputs: inputs, outputs: root.outputs,
                                           attributes: attributes)
    }

    /// Adds a constant under a name derived from `base` that no value uses yet.
    mutating func addConstant(_ base: String, _ tensor: ConstantTensor) -> String {
        var name = base, counter = 1
        while constants[name] != nil || producers[name] != nil { name = "\(base).\(counter)"; counter += 1 }
        constants[name] = tensor
        return name
    }

    /// The rewritten graph, without the nodes nothing uses any more.
    func finish(_ what: String) throws -> Graph {
        guard !replacements.isEmpty else { return graph }
        Log.logger.debug("\(what): \(replacements.count) fused")
        let nodes = graph.nodes.compactMap { absorbed.contains($0.name) ? nil : replacements[$0.name] ?? $0 }
        return try EliminateDeadNodes.apply(
            Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: nodes, constants: constants.mapValues(\.type)),
            constants: constants.mapValues(\.type))
    }
}
