import CoreRuntime

/// Builds models in code (no files), the way every test here makes its input.
public struct ModelSpec: Sendable {
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var nodes: [(op: String, inputs: [String], outputs: [String], attrs: [String: JSONValue])]
    public var tensors: [String: HostTensor] = [:]

    public init(inputs: [ValueInfo], outputs: [ValueInfo],
                nodes: [(op: String, inputs: [String], outputs: [String], attrs: [String: JSONValue])],
                tensors: [String: HostTensor] = [:]) {
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = nodes
        self.tensors = tensors
    }

    public func graph() throws -> Graph {
        try Graph(inputs: inputs, outputs: outputs,
                  nodes: nodes.enumerated().map { index, n in
                      try Node(name: "n\(index)_\(n.op)", opType: n.op, inputs: n.inputs, outputs: n.outputs, attributes: n.attrs)
                  },
                  constants: tensors.mapValues { TensorType($0.dtype, $0.shape) })
    }

    public func bytes() throws -> [UInt8] { SWLWriter.serialize(graph: try graph(), tensors: tensors) }

    public func model() throws -> Model { try Model(bytes: try bytes().withUnsafeBytes { ModelBytes.copy(of: $0) }) }
}

public func f32(_ name: String, _ dims: [Dim]) -> ValueInfo { ValueInfo(name: name, dtype: .f32, dims: dims) }

/// Deterministic pseudo-random floats in [-1, 1).
public struct Random {
    var state: UInt64
    public init(_ seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func floats(_ count: Int) -> [Float] { (0..<count).map { _ in Float(next() >> 40) / Float(1 << 23) - 1 } }
    public mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
}

/// A small MLP used wherever a test needs "some valid model".
public func smallMLP() -> ModelSpec {
    var random = Random(7)
    return ModelSpec(
        inputs: [f32("input", [.symbol("batch"), .fixed(4)])],
        outputs: [f32("probs", [.symbol("batch"), .fixed(3)])],
        nodes: [
            ("Gemm", ["input", "w1", "b1"], ["h"], ["transB": .int(1)]),
            ("Relu", ["h"], ["a"], [:]),
            ("Gemm", ["a", "w2", "b2"], ["logits"], ["transB": .int(1)]),
            ("Softmax", ["logits"], ["probs"], ["axis": .int(-1)]),
        ],
        tensors: [
            "w1": HostTensor(random.floats(20), shape: [5, 4]), "b1": HostTensor(random.floats(5), shape: [5]),
            "w2": HostTensor(random.floats(15), shape: [3, 5]), "b2": HostTensor(random.floats(3), shape: [3]),
        ])
}
