/// A validated dataflow graph: nodes in a topological order, every input defined, no cycles,
/// names unique. Constant tensors are referred to by name; the `Model` owns their bytes.
public struct Graph: Sendable {
    public let inputs: [ValueInfo]
    public let outputs: [ValueInfo]
    /// Topologically sorted.
    public let nodes: [Node]

    /// Validates and orders `nodes`. `constants` are the names and types of the stored tensors.
    public init(inputs: [ValueInfo], outputs: [ValueInfo], nodes: [Node], constants: [String: TensorType]) throws {
        var producer: [String: Int] = [:]  // value name → node index (-1: graph input or constant)
        for input in inputs {
            guard producer.updateValue(-1, forKey: input.name) == nil else {
                throw SwiftletError.invalidModel("graph input '\(input.name)' is declared twice")
            }
            guard constants[input.name] == nil else {
                throw SwiftletError.invalidModel("graph input '\(input.name)' has the same name as a tensor")
            }
        }
        for name in constants.keys { producer[name] = -1 }
        var nodeNames = Set<String>()
        for (index, node) in nodes.enumerated() {
            guard nodeNames.insert(node.name).inserted else {
                throw SwiftletError.invalidModel("node name '\(node.name)' is used twice")
            }
            for output in node.outputs {
                guard producer.updateValue(index, forKey: output) == nil else {
                    throw SwiftletError.invalidModel("node '\(node.name)': output '\(output)' is already defined")
                }
            }
        }
        for node in nodes {
            for input in node.inputs where !input.isEmpty && producer[input] == nil {
                throw SwiftletError.invalidModel("node '\(node.name)': input '\(input)' is not defined by any node, graph input or tensor")
            }
        }
        for node in nodes {
            do {
                try node.op.validateConstants(node.inputs.map { constants[$0] })
            } catch let error as SwiftletError {
                throw SwiftletError.invalidModel("node '\(node.name)' (\(node.opType)): \(error.message)")
            }
        }
        for output in outputs where producer[output.name] == nil {
            throw SwiftletError.invalidModel("graph output '\(output.name)' is not produced by any node, graph input or tensor")
        }
        guard Set(outputs.map(\.name)).count == outputs.count else {
            throw SwiftletError.invalidModel("a graph output is listed twice")
        }
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = try Self.topologicalOrder(nodes, producer: producer)
    }

    /// Kahn's algorithm, stable with respect to the listed order.
    private static func topologicalOrder(_ nodes: [Node], producer: [String: Int]) throws -> [Node] {
        var pending = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for input in node.inputs where !input.isEmpty {
                if let source = producer[input], source >= 0 {
                    pending[index] += 1
                    consumers[source].append(index)
                }
            }
        }
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }.reversed() as [Int]
        var order: [Node] = []
        order.reserveCapacity(nodes.count)
        while let next = ready.popLast() {
            order.append(nodes[next])
            for consumer in consumers[next].reversed() {
                pending[consumer] -= 1
                if pending[consumer] == 0 { ready.append(consumer) }
            }
        }
        if order.count < nodes.count {
            let stuck = (0..<nodes.count).filter { pending[$0] > 0 }.map { "'\(nodes[$0].name)'" }
            throw SwiftletError.invalidModel("the graph has a cycle through node(s) \(stuck.prefix(5).joined(separator: ", "))")
        }
        return order
    }
}
