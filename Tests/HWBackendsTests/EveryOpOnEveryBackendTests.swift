import CoreRuntime
import HWBackends
import Testing
import TestSupport

/// Every op on every backend against the reference backend (the oracle), on random shapes with
/// ragged sizes — the ggml `test-backend-ops` idea. numpy checks the reference itself
/// (python/tests/test_ops.py).
@Suite struct EveryOpOnEveryBackendTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let label: String
        let spec: ModelSpec
        let inputs: [String: HostTensor]
        var testDescription: String { label }
    }

    static func single(_ label: String, op: String, inputs: [(String, [Int])], constants: [(String, [Int])] = [],
                       attrs: [String: JSONValue] = [:], outputs: Int = 1, positive: Set<String> = [], seed: UInt64 = 1) -> Case {
        var random = Random(seed)
        var feeds: [String: HostTensor] = [:]
        for (name, shape) in inputs { feeds[name] = HostTensor(random.floats(shape.reduce(1, *)), shape: shape) }
        var tensors: [String: HostTensor] = [:]
        for (name, shape) in constants {
            // Some parameters (variances) are only meaningful when positive.
            let values = random.floats(shape.reduce(1, *)).map { positive.contains(name) ? abs($0) + 0.1 : $0 }
            tensors[name] = HostTensor(values, shape: shape)
        }
        let outputNames = (0..<outputs).map { "y\($0)" }
        // Output shapes are declared fully dynamic: shape inference is what is under test.
        let declared = outputNames.map { name in f32(name, []) }
        return Case(label: label, spec: ModelSpec(
            inputs: inputs.map { name, shape in f32(name, shape.map { .fixed($0) }) },
            outputs: declared,
            nodes: [(op, inputs.map(\.0) + constants.map(\.0), outputNames, attrs)],
            tensors: tensors), inputs: feeds)
    }

    static func ints(_ values: Int...) -> JSONValue { .array(values.map { .int($0) }) }

    static let cases: [Case] = [
        single("Gemm transB bias", op: "Gemm", inputs: [("a", [7, 33])], constants: [("b", [19, 33]), ("c", [19])], attrs: ["transB": .int(1)]),
        single("Gemm transA alpha beta C[M,1]", op: "Gemm", inputs: [("a", [33, 5])], constants: [("b", [33, 64]), ("c", [5, 1])],
               attrs: ["transA": .int(1), "alpha": .double(0.5), "beta": .double(2)]),
        single("Gemm no C, 1x1", op: "Gemm", inputs: [("a", [1, 1])], constants: [("b", [1, 1])]),
        single("Gemm fused clamp", op: "Gemm", inputs: [("a", [6, 17])], constants: [("b", [17, 9]), ("c", [9])],
               attrs: ["clip_min": .double(-0.1), "clip_max": .double(0.3)]),
        single("Conv fused relu", op: "Conv", inputs: [("x", [3, 2, 6, 6])], constants: [("w", [4, 2, 3, 3]), ("b", [4])],
               attrs: ["pads": ints(1, 1, 1, 1), "clip_min": .double(0)]),
        single("MatMul 2D large", op: "MatMul", inputs: [("a", [65, 300])], constants: [("b", [300, 31])]),
        single("MatMul batched shared B", op: "MatMul", inputs: [("a", [2, 3, 17, 9])], constants: [("b", [9, 5])]),
        single("MatMul batch broadcast", op: "MatMul", inputs: [("a", [3, 1, 4, 6]), ("b", [5, 6, 2])]),
        single("MatMul vector × matrix", op: "MatMul", inputs: [("a", [6]), ("b", [2, 6, 3])]),
        single("MatMul matrix × vector", op: "MatMul", inputs: [("a", [4, 6]), ("b", [6])]),
        single("Conv 3x3 pad stride bias", op: "Conv", inputs: [("x", [2, 3, 11, 9])], constants: [("w", [5, 3, 3, 3]), ("b", [5])],
               attrs: ["pads": ints(1, 0, 2, 1), "strides": ints(2, 1)]),
        single("Conv dilated", op: "Conv", inputs: [("x", [1, 2, 13, 13])], constants: [("w", [4, 2, 3, 3])],
               attrs: ["dilations": ints(2, 3), "pads": ints(1, 1, 1, 1)]),
        single("Conv grouped", op: "Conv", inputs: [("x", [1, 6, 7, 7])], constants: [("w", [4, 3, 3, 3])], attrs: ["group": .int(2)]),
        single("Conv depthwise", op: "Conv", inputs: [("x", [2, 8, 9, 9])], constants: [("w", [8, 1, 3, 3]), ("b", [8])],
               attrs: ["group": .int(8), "pads": ints(1, 1, 1, 1)]),
        single("Conv depthwise stride 2 dilated fused", op: "Conv", inputs: [("x", [1, 6, 11, 10])], constants: [("w", [6, 1, 3, 3]), ("b", [6])],
               attrs: ["group": .int(6), "strides": ints(2, 2), "dilations": ints(1, 2), "pads": ints(2, 1, 0, 2), "clip_min": .double(0), "clip_max": .double(0.5)]),
        single("Conv depthwise 5x5 no bias", op: "Conv", inputs: [("x", [2, 3, 9, 7])], constants: [("w", [3, 1, 5, 5])],
               attrs: ["group": .int(3), "pads": ints(2, 2, 2, 2)]),
        single("Conv pointwise", op: "Conv", inputs: [("x", [1, 16, 5, 7])], constants: [("w", [24, 16, 1, 1]), ("b", [24])]),
        single("ExpandDepthwiseConv fused kernel", op: "ExpandDepthwiseConv", inputs: [("x", [2, 5, 9, 8])],
               constants: [("w1", [32, 5, 1, 1]), ("w2", [32, 1, 3, 3]), ("b1", [32]), ("b2", [32])],
               attrs: ["group": .int(32), "pads": ints(1, 1, 1, 1), "expansion_clip_min": .double(0), "expansion_clip_max": .double(6),
                       "clip_min": .double(-1), "clip_max": .double(3)]),
        single("ExpandDepthwiseConv two kernels, no biases", op: "ExpandDepthwiseConv", inputs: [("x", [1, 3, 7, 6])],
               constants: [("w1", [24, 3, 1, 1]), ("w2", [24, 1, 3, 3])], attrs: ["group": .int(24), "strides": ints(2, 2)]),
        single("MaxPool ceil pads", op: "MaxPool", inputs: [("x", [1, 3, 10, 9])],
               attrs: ["kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1), "ceil_mode": .int(1)]),
        single("AveragePool count pads", op: "AveragePool", inputs: [("x", [2, 2, 7, 7])],
               attrs: ["kernel_shape": ints(3, 2), "pads": ints(1, 0, 1, 1), "count_include_pad": .int(1)]),
        single("GlobalAveragePool", op: "GlobalAveragePool", inputs: [("x", [2, 5, 3, 4])]),
        single("BatchNormalization", op: "BatchNormalization", inputs: [("x", [2, 4, 3, 3])],
               constants: [("s", [4]), ("b", [4]), ("m", [4]), ("v", [4])], positive: ["v"]),
        single("Relu", op: "Relu", inputs: [("x", [3, 301])]),
        single("Sigmoid", op: "Sigmoid", inputs: [("x", [257])]),
        single("Tanh", op: "Tanh", inputs: [("x", [5, 7])]),
        single("Clip", op: "Clip", inputs: [("x", [64])], attrs: ["min": .double(-0.25), "max": .double(0.5)]),
        single("Gelu erf", op: "Gelu", inputs: [("x", [130])]),
        single("Gelu tanh", op: "Gelu", inputs: [("x", [130])], attrs: ["approximate": .string("tanh")]),
        single("Add broadcast", op: "Add", inputs: [("a", [2, 3, 5]), ("b", [3, 1])]),
        single("Sub scalar", op: "Sub", inputs: [("a", []), ("b", [4, 4])]),
        single("Mul", op: "Mul", inputs: [("a", [9, 1]), ("b", [1, 11])]),
        single("Div", op: "Div", inputs: [("a", [6]), ("b", [6])]),
        single("Softmax axis 1", op: "Softmax", inputs: [("x", [2, 5, 3])], attrs: ["axis": .int(1)]),
        single("Softmax masked", op: "Softmax", inputs: [("x", [2, 3, 4]), ("mask", [2, 1, 4])]),
        single("LayerNormalization", op: "LayerNormalization", inputs: [("x", [3, 4, 10])], constants: [("s", [10]), ("b", [10])]),
        single("LayerNormalization two axes", op: "LayerNormalization", inputs: [("x", [3, 4, 5])], constants: [("s", [4, 5])], attrs: ["axis": .int(1)]),
        single("Transpose", op: "Transpose", inputs: [("x", [2, 3, 4, 5])], attrs: ["perm": ints(0, 2, 3, 1)]),
        single("Slice negative steps", op: "Slice", inputs: [("x", [6, 7])],
               attrs: ["starts": ints(-1, 1), "ends": ints(-100, 100), "axes": ints(0, 1), "steps": ints(-2, 3)]),
        single("Split", op: "Split", inputs: [("x", [4, 9])], attrs: ["axis": .int(1), "split": ints(2, 3, 4)], outputs: 3),
        single("Concat", op: "Concat", inputs: [("a", [2, 3, 2]), ("b", [2, 1, 2]), ("c", [2, 4, 2])], attrs: ["axis": .int(1)]),
        single("Flatten", op: "Flatten", inputs: [("x", [2, 3, 4])], attrs: ["axis": .int(2)]),
        single("Reshape", op: "Reshape", inputs: [("x", [2, 3, 4])], attrs: ["shape": ints(0, -1)]),
        single("Unsqueeze", op: "Unsqueeze", inputs: [("x", [2, 3])], attrs: ["axes": ints(0, -1)]),
        single("Squeeze", op: "Squeeze", inputs: [("x", [1, 3, 1])]),
        single("Identity", op: "Identity", inputs: [("x", [5])]),
    ]

    /// Output shapes are left undeclared above; they come from the op's own shape inference.
    static func run(_ testCase: Case, on backendName: String) throws -> [String: HostTensor] {
        var options = SessionOptions()
        try options.setBackend(backendName)
        var spec = testCase.spec
        let node = spec.nodes[0]
        let op = try Node(name: "probe", opType: node.op, inputs: node.inputs, outputs: node.outputs, attributes: node.attrs).op
        let arity = type(of: op).inputArity.upperBound
        let inputTypes: [TensorType?] = node.inputs.map { name in
            let shape = testCase.inputs[name]?.shape ?? spec.tensors[name]!.shape
            return TensorType(.f32, shape)
        } + Array(repeating: nil, count: arity == Int.max ? 0 : arity - node.inputs.count)
        let types = try op.inferTypes(inputTypes)
        spec.outputs = zip(spec.outputs, types).map { f32($0.name, $1.shape.map { .fixed($0) }) }
        return try Session(model: try spec.model(), options: options).run(testCase.inputs).outputs
    }

    @Test(arguments: cases)
    func cpuMatchesTheReference(_ testCase: Case) throws {
        let expected = try Self.run(testCase, on: "reference")
        let actual = try Self.run(testCase, on: "cpu")
        #expect(!expected.isEmpty)
        for (name, reference) in expected {
            let got = try #require(actual[name])
            #expect(got.shape == reference.shape)
            // The reference accumulates in double; OpenBLAS in float. 1e-5 of the output's scale
            // covers fp32 accumulation over these reduction lengths (≤ 300) and catches any
            // indexing or broadcasting mistake, which is off by O(1) of that scale.
            let scale = max(1, reference.floats.map(abs).max() ?? 0)
            for (a, b) in zip(got.floats, reference.floats) {
                #expect(abs(a - b) <= 1e-5 * scale, "\(testCase.label) \(name): \(a) vs \(b)")
            }
        }
    }
}
