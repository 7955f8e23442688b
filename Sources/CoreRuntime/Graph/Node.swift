/// One operation of the graph. `op` holds the parsed, validated attributes.
public struct Node: Sendable {
    public let name: String
    public let opType: String
    /// Value names; "" marks an absent optional input.
    public let inputs: [String]
    public let outputs: [String]
    public let attributes: Attributes
    public let op: any Operator

    /// Parses the op and checks arity and attributes.
    public init(name: String, opType: String, inputs: [String], outputs: [String], attributes: [String: JSONValue] = [:]) throws {
        guard let type = Operators.byType[opType] else {
            throw SwiftletError.invalidModel("node '\(name)': unknown op '\(opType)' (known: \(Operators.byType.keys.sorted().joined(separator: ", ")))")
        }
        guard type.inputArity.contains(inputs.count) else {
            throw SwiftletError.invalidModel("node '\(name)': \(opType) takes \(Self.describe(type.inputArity)) inputs, has \(inputs.count)")
        }
        guard type.outputArity.contains(outputs.count) else {
            throw SwiftletError.invalidModel("node '\(name)': \(opType) has \(Self.describe(type.outputArity)) outputs, not \(outputs.count)")
        }
        // "" marks an absent optional input: allowed only past the op's required ones (and never
        // among a variadic op's inputs).
        let required = type.inputArity.upperBound == Int.max ? inputs.count : type.inputArity.lowerBound
        if let missing = inputs.prefix(required).firstIndex(of: "") {
            throw SwiftletError.invalidModel("node '\(name)': \(opType) input \(missing) is required but empty")
        }
        guard outputs.allSatisfy({ !$0.isEmpty }) else {
            throw SwiftletError.invalidModel("node '\(name)': output names must not be empty")
        }
        let parsed = Attributes(attributes, nodeName: name)
        self.name = name
        self.opType = opType
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = parsed
        self.op = try type.init(attributes: parsed, inputCount: inputs.count, outputCount: outputs.count)
    }

    /// The same node with a bound op (parameter inputs turned into attributes) and fewer inputs.
    init(_ node: Node, op: any Operator, inputs: [String]) {
        name = node.name
        opType = node.opType
        self.inputs = inputs
        outputs = node.outputs
        attributes = node.attributes
        self.op = op
    }

    private static func describe(_ range: ClosedRange<Int>) -> String {
        range.lowerBound == range.upperBound ? "\(range.lowerBound)"
            : range.upperBound == Int.max ? "at least \(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)"
    }

    /// The node as graph JSON (docs/FORMAT.md).
    public var json: JSONValue {
        var fields: [String: JSONValue] = [
            "name": .string(name), "op": .string(opType),
            "inputs": .array(inputs.map { .string($0) }), "outputs": .array(outputs.map { .string($0) }),
        ]
        if !attributes.values.isEmpty { fields["attrs"] = .object(attributes.values) }
        return .object(fields)
    }
}
