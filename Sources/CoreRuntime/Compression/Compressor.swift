#if canImport(Glibc)
import Glibc
#endif

/// How each linear layer (or, for `pattern`, each 3×3 convolution) of a model is stored after compression.
public enum LayerEncoding: Equatable, Sendable, CustomStringConvertible {
    /// Left as dense F32.
    case dense
    case int8
    case mx(MXFormat)
    /// Pruned by `pattern` to `sparsity`, stored as BSR/CSR F32.
    case sparse(PruningPattern, sparsity: Double)
    /// Pruned, then the kept weights int8 per output row: BSR/CSR blocks of int8 codes.
    case sparseInt8(PruningPattern, sparsity: Double)
    /// Convolutions only: each kernel keeps one of `PatternSparseWeight.standardPatterns`, and
    /// whole kernels go until `sparsity` of the weights are removed (`PatternConv`).
    case pattern(sparsity: Double)

    /// "fp32"/"dense", "int8", an MX format name.
    public init(quantization text: String) throws {
        switch text.lowercased() {
        case "fp32", "dense", "none": self = .dense
        case "int8": self = .int8
        default:
            guard let format = MXFormat(rawValue: text.lowercased()) else {
                throw SwiftletError.invalidArgument("unknown format '\(text)': use fp32, int8, \(MXFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self = .mx(format)
        }
    }

    public var description: String {
        switch self {
        case .dense: "fp32"
        case .int8: "int8"
        case .mx(let format): format.rawValue
        case .sparse(let pattern, let sparsity): "\(pattern) \(Int((sparsity * 100).rounded()))%"
        case .sparseInt8(let pattern, let sparsity): "\(pattern) \(Int((sparsity * 100).rounded()))% int8"
        case .pattern(let sparsity): "pattern \(Int((sparsity * 100).rounded()))%"
        }
    }
}

/// What `swiftlet compress` does: the session's graph passes (so every `nn.Linear` is one
/// `Linear` node with a constant weight), then each linear layer — `Linear`, or `Gemm` whose B
/// and C are constants — re-encoded as the plan says: `Int8Linear`, `MXLinear` or `SparseLinear`.
/// Everything else is kept as it is.
public struct Compressor {
    public struct Plan: Sendable {
        /// The encoding for layers no rule names.
        public var defaultEncoding: LayerEncoding = .dense
        /// nil keeps convolutions as they are; a sparsity prunes each convolution
        /// `patternConvWeight` accepts by patterns (`LayerEncoding.pattern`) to it.
        public var convolutionPatternSparsity: Double?
        /// (node-name glob, encoding): the first matching rule wins over the default.
        public var rules: [(pattern: String, encoding: LayerEncoding)] = []
        public var rounding: MXFormat.Rounding = .nearestEven
        /// Static int8 activation scales by layer name (`ActivationCalibration`); layers without
        /// one quantize each row dynamically.
        public var activationScales: [String: Float] = [:]
        /// Significance-guided pruning: input column norms ‖x_k‖₂ by layer name
        /// (`ActivationCalibration`). A pruned layer with norms ranks its weights by |w|·‖x_k‖₂
        /// (Wanda's score: the weight's share of its output on the data) instead of |w|.
        public var inputColumnNorms: [String: [Float]] = [:]
        /// (node-name glob, key selection) for `Attention` nodes: the first matching rule wins;
        /// unmatched nodes keep theirs.
        public var attentionRules: [(pattern: String, selection: AttentionSelection)] = []
        /// Heads, FFN neurons and blocks taken out before any layer is encoded.
        public var removal = StructuredRemoval()

        public init() {}

        public func encoding(for layer: String) -> LayerEncoding {
            rules.first { fnmatch($0.pattern, layer, 0) == 0 }?.encoding ?? defaultEncoding
        }
    }

    /// One compressed layer, for the report.
    public struct LayerReport: Sendable {
        public let name: String
        public let n: Int
        public let k: Int
        public let encoding: LayerEncoding
        public let bytesBefore: Int
        public let bytesAfter: Int
        /// Weights the layer still has (nonzero ones, after pruning).
        public let parameters: Int
    }

    public struct Result {
        public let graph: Graph
        public let tensors: [String: HostTensor]
        public let layers: [LayerReport]
        /// The attention nodes given a key selection, in graph order.
        public let attention: [(node: String, selection: AttentionSelection)]
        /// What structured removal took out, in the order it was done.
        public let removed: [StructuredRemoval.Change]
        /// Float parameters structured removal took out (weights, biases, norms' scales).
        public let removedParameters: Int
        /// Weights of the optimized graph before re-encoding (what `parameters` compares with:
        /// the passes may already have folded some constants away).
        public let parametersBefore: Int
        /// Weights of the compressed model: the nonzero weights its layers keep plus every other tensor's elements.
        public let parameters: Int

        /// The compressed model as `.swl` bytes and opened from them. Opening is the check: a
        /// result the validator rejects is a bug, never a file or a session.
        public func model(metadata: [String: String]) throws -> (model: Model, bytes: [UInt8]) {
            let bytes = SWLWriter.serialize(graph: graph, tensors: tensors, metadata: metadata)
            return (try bytes.withUnsafeBytes { try Model(bytes: ModelBytes.copy(of: $0)) }, bytes)
        }
    }

    /// A model after the graph passes a session would run (so every `nn.Linear` is one `Linear`
    /// node with a constant weight): what `compress` encodes. Made once, it serves every plan
    /// tried on the same model (significance analysis compresses it dozens of times).
    public struct Optimized: Sendable {
        public let graph: Graph
        let constants: [String: ConstantTensor]
        /// Every value's type at probe input shapes, which structured removal needs (head
        /// counts, a block's residual); nil when `init` was not asked to probe.
        let probed: ShapeProbe?

        /// `probe`: also infer every value's type (plans with a `removal` need it).
        public init(_ model: Model, probe: ShapeProbe.Shapes? = nil) throws {
            var constants = model.constants
            WidenConstants.apply(&constants)
            // Residual Adds stay nodes: `--drop-layers` replaces a block's part by the identity, and
            // a Conv that had absorbed the block's Add and ReLU would take them along. Every
            // convolution stays a Conv, which pattern pruning rewrites.
            let graph = try GraphPasses.optimize(model.graph, &constants, fusingConvolutions: false)
            self.graph = graph
            self.constants = constants
            probed = try probe.map { try ShapeProbe(graph, constants, shapes: $0) }
        }

        /// A copy in which linear layer `layer` no longer hears its inputs `inputs` (columns of
        /// its [N, K] weight zeroed): significance analysis's weight groups. The zeroed weight is
        /// a new constant only this layer reads, so a weight shared with another node stays whole there.
        func zeroingInputs(_ inputs: Range<Int>, of layer: String) throws -> Optimized {
            guard let index = graph.nodes.firstIndex(where: { $0.name == layer }),
                  let linear = Compressor.linearLayer(graph.nodes[index], constants),
                  inputs.lowerBound >= 0, inputs.upperBound <= linear.k else {
                throw SwiftletError(.internal, "no linear layer '\(layer)' with inputs \(inputs)")
            }
            var values = Array(linear.stored.floats)
            for input in inputs {
                for output in 0..<linear.n { values[linear.outputMajor ? output * linear.k + input : input * linear.n + output] = 0 }
            }
            let node = graph.nodes[index]
            var name = node.inputs[1] + ".zeroed"
            while constants[name] != nil { name += "_" }
            var constants = constants
            constants[name] = .owning(linear.stored.type.shape, floats: values)
            var nodes = graph.nodes
            nodes[index] = try Node(name: node.name, opType: node.opType, inputs: [node.inputs[0], name] + node.inputs.dropFirst(2),
                                    outputs: node.outputs, attributes: node.attributes.values)
            let zeroed = try Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: nodes, constants: constants.mapValues(\.type))
            return Optimized(graph: zeroed, constants: constants, probed: probed)
        }

        private init(graph: Graph, constants: [String: ConstantTensor], probed: ShapeProbe?) {
            (self.graph, self.constants, self.probed) = (graph, constants, probed)
        }

        /// The layers `compress` re-encodes, in graph order.
        public var linearLayers: [LayerShape] {
            graph.nodes.compactMap { node in linearLayer(node, constants).map { LayerShape(name: node.name, n: $0.n, k: $0.k) } }
        }

        /// The constants some node or output of the graph reads, as host tensors.
        var readConstants: [String: HostTensor] {
            let read = Set(graph.nodes.flatMap(\.inputs) + graph.outputs.map(\.name))
            return constants.filter { read.contains($0.key) }.mapValues(\.host)
        }
    }

    /// Compresses `model`. `progress(done, total, layer)` is called after each layer.
    public static func compress(_ model: Model, plan: Plan, progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> Result {
        try compress(try Optimized(model, probe: plan.removal.isEmpty ? nil : .symbolic), plan: plan, progress: progress)
    }

    /// Compresses an already optimized model.
    public static func compress(_ optimized: Optimized, plan: Plan, progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> Result {
        var (graph, constants) = (optimized.graph, optimized.constants)
        var removed: [StructuredRemoval.Change] = []
        var removedParameters = 0
        if !plan.removal.isEmpty {
            (graph, removed) = try plan.removal.apply(graph, &constants, probed: optimized.probed ?? ShapeProbe(graph, constants, shapes: .symbolic))
            removedParameters = floatParameters(optimized.graph, optimized.constants) - floatParameters(graph, constants)
        }

        var tensors: [String: HostTensor] = [:]
        var encodedTensors = Set<String>()
        var nodes: [Node] = []
        var layers: [LayerReport] = []
        let total = graph.nodes.count { linearLayer($0, constants) != nil || patternConvWeight($0, constants, plan) != nil }
        var selections: [(node: String, selection: AttentionSelection)] = []
        for node in graph.nodes {
            if node.op is AttentionOp, let rule = plan.attentionRules.first(where: { fnmatch($0.pattern, node.name, 0) == 0 }) {
                var attributes = node.attributes.values.filter { $0.key != "selection" && $0.key != "keep" }
                attributes.merge(rule.selection.attributes) { $1 }
                nodes.append(try Node(name: node.name, opType: node.opType, inputs: node.inputs, outputs: node.outputs, attributes: attributes))
                selections.append((node.name, rule.selection))
                continue
            }
            if let weight = patternConvWeight(node, constants, plan), let sparsity = plan.convolutionPatternSparsity {
                let (encoded, parts, kept) = try encodePatternConv(node, weight: weight, sparsity: sparsity)
                nodes.append(encoded)
                for (name, tensor) in parts {
                    tensors[name] = tensor
                    encodedTensors.insert(name)
                }
                let shape = weight.type.shape
                layers.append(LayerReport(name: node.name, n: shape[0], k: shape[1] * shape[2] * shape[3], encoding: .pattern(sparsity: sparsity),
                                          bytesBefore: weight.type.count * 4, bytesAfter: parts.reduce(0) { $0 + $1.tensor.bytes.count },
                                          parameters: kept))
                progress(layers.count, total, node.name)
                continue
            }
            guard let layer = linearLayer(node, constants) else {
                nodes.append(node)
                continue
            }
            let encoding = plan.encoding(for: node.name)
            guard encoding != .dense else {
                nodes.append(node)
                continue
            }
            let (encoded, parts, kept) = try encode(layer, node: node, encoding: encoding, rounding: plan.rounding,
                                                    activationScale: plan.activationScales[node.name],
                                                    inputColumnNorms: plan.inputColumnNorms[node.name])
            nodes.append(encoded)
            for (name, tensor) in parts {
                tensors[name] = tensor
                encodedTensors.insert(name)
            }
            layers.append(LayerReport(name: node.name, n: layer.n, k: layer.k, encoding: encoding, bytesBefore: layer.n * layer.k * 4,
                                      bytesAfter: parts.reduce(0) { $0 + $1.tensor.bytes.count }, parameters: kept))
            progress(layers.count, total, node.name)
        }
        if plan.convolutionPatternSparsity != nil, !layers.contains(where: { if case .pattern = $0.encoding { true } else { false } }) {
            throw SwiftletError.invalidArgument("pattern pruning found no convolution to prune: it takes 3×3 convolutions with a constant F32 weight and group 1 (after the graph passes) that no rule keeps fp32")
        }
        // Keep the constants something still reads (a replaced layer's dense weight is dropped).
        let used = Set(nodes.flatMap(\.inputs) + graph.outputs.map(\.name))
        for (name, tensor) in constants where used.contains(name) && tensors[name] == nil { tensors[name] = tensor.host }
        let compressed = try Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: nodes, constants: tensors.mapValues { TensorType($0.dtype, $0.shape) })
        let parameters = tensors.filter { !encodedTensors.contains($0.key) }.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
            + layers.reduce(0) { $0 + $1.parameters }
        let read = Set(optimized.graph.nodes.flatMap(\.inputs) + optimized.graph.outputs.map(\.name))
        let parametersBefore = optimized.constants.filter { read.contains($0.key) }.values.reduce(0) { $0 + $1.type.count }
        return Result(graph: compressed, tensors: tensors, layers: layers, attention: selections, removed: removed,
                      removedParameters: removedParameters, parametersBefore: parametersBefore, parameters: parameters)
    }

    /// Elements of the float constants `graph` reads.
    static func floatParameters(_ graph: Graph, _ constants: [String: ConstantTensor]) -> Int {
        Set(graph.nodes.flatMap(\.inputs)).reduce(0) { total, name in
            guard let constant = constants[name], constant.type.dtype.isFloat else { return total }
            return total + constant.type.count
        }
    }

    /// A linear layer `compress` can re-encode: its node's name and weight shape.
    public struct LayerShape: Sendable {
        public let name: String
        public let n: Int
        public let k: Int
    }

    /// A linear layer's parts: its stored weight, the bias tensor's name, the activation. Finding
    /// layers copies nothing; `weight()` makes the [N, K] floats only for a layer being encoded.
    struct LinearLayer {
        /// W as stored: [N, K] when `outputMajor`, else [K, N].
        let stored: ConstantTensor
        let outputMajor: Bool
        let n: Int
        let k: Int
        let bias: String?
        let activation: FusedActivation

        /// W as [N, K] floats.
        func weight() -> [Float] {
            outputMajor ? Array(stored.floats) : Compressor.transpose(Array(stored.floats), rows: k, columns: n)
        }
    }

    /// A [rows, columns] matrix as [columns, rows].
    static func transpose(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var transposed = [Float](repeating: 0, count: values.count)
        for i in 0..<rows { for j in 0..<columns { transposed[j * rows + i] = values[i * columns + j] } }
        return transposed
    }

    static func linearLayer(_ node: Node, _ constants: [String: ConstantTensor]) -> LinearLayer? {
        func biasName(_ index: Int, n: Int) -> String?? {
            guard node.inputs.count > index, !node.inputs[index].isEmpty else { return .some(nil) }
            guard let bias = constants[node.inputs[index]], bias.type.dtype == .f32, bias.type.shape == [n] else { return nil }
            return .some(node.inputs[index])
        }
        switch node.op {
        case let linear as LinearOp:
            guard let w = constants[node.inputs[1]], w.type.dtype == .f32, w.type.rank == 2 else { return nil }
            let (k, n) = (w.type.shape[0], w.type.shape[1])
            guard let bias = biasName(2, n: n) else { return nil }
            return LinearLayer(stored: w, outputMajor: false, n: n, k: k, bias: bias, activation: linear.activation)
        case let gemm as GemmOp:
            // Only Y = X·B(ᵀ) + c with c a vector [N] and a ReLU-or-nothing clamp has a Linear form.
            guard !gemm.transA, gemm.alpha == 1, gemm.beta == 1 || node.inputs.count < 3,
                  let b = constants[node.inputs[1]], b.type.dtype == .f32, b.type.rank == 2 else { return nil }
            let activation: FusedActivation
            switch (gemm.clamp.min, gemm.clamp.max) {
            case (-.infinity, .infinity): activation = .none
            case (0, .infinity): activation = .relu
            default: return nil
            }
            let (k, n) = gemm.transB ? (b.type.shape[1], b.type.shape[0]) : (b.type.shape[0], b.type.shape[1])
            guard let bias = biasName(2, n: n) else { return nil }
            return LinearLayer(stored: b, outputMajor: gemm.transB, n: n, k: k, bias: bias, activation: activation)
        default:
            return nil
        }
    }

    /// The encoded node and its new tensors (named after the node).
    static func encode(_ layer: LinearLayer, node: Node, encoding: LayerEncoding, rounding: MXFormat.Rounding,
                       activationScale: Float? = nil, inputColumnNorms: [Float]? = nil) throws -> (Node, [(name: String, tensor: HostTensor)], kept: Int) {
        let (n, k) = (layer.n, layer.k)
        let weight = layer.weight()
        var parts: [(name: String, tensor: HostTensor)] = []
        func add<T>(_ suffix: String, _ dtype: DType, _ shape: [Int], _ values: [T]) -> String {
            parts.append(part(of: node, suffix, dtype, shape, values))
            return parts.last!.name
        }
        let opType: String
        var kept = n * k
        var inputs = [node.inputs[0]]
        var attributes: [String: JSONValue] = ["activation": .string(layer.activation.rawValue)]
        switch encoding {
        case .dense:
            preconditionFailure("dense layers are not re-encoded")
        case .pattern:
            throw SwiftletError.invalidArgument("layer '\(node.name)': pattern pruning applies to 3×3 convolutions, not linear layers")
        case .int8:
            let (codes, scales) = weight.withUnsafeBufferPointer { Int8Quantization.perChannel(rows: n, columns: k, weights: $0) }
            opType = Int8LinearOp.type
            inputs += [add(".w_int8", .i8, [n, k], codes), add(".w_scale", .f32, [n], scales)]
            if let activationScale, activationScale > 0 {
                guard activationScale.isFinite else {
                    throw SwiftletError.invalidArgument("the calibration data drive layer '\(node.name)''s input to infinity: no static scale fits")
                }
                attributes["x_scale"] = .double(Double(activationScale))
            }
        case .mx(let format):
            let matrix = weight.withUnsafeBufferPointer { MXMatrix(format, rows: n, columns: k, values: $0, rounding: rounding) }
            opType = MXLinearOp.type
            attributes["format"] = .string(format.rawValue)
            inputs += [add(".w_mx", .u8, [n, matrix.rowBytes], matrix.codes), add(".w_mx_scale", .u8, [n, matrix.blocksPerRow], matrix.scales)]
        case .sparse(let pattern, let sparsity), .sparseInt8(let pattern, let sparsity):
            try pattern.check(sparsity: sparsity)
            var importance: [Float]?
            if let norms = inputColumnNorms {
                // Measured on another graph (structured removal changes K): refuse, never misalign.
                guard norms.count == k else {
                    throw SwiftletError.invalidArgument("layer '\(node.name)': \(norms.count) input norms were measured for its \(k) inputs")
                }
                // All-zero norms (no rows, or no finite nonzero input) would rank every weight 0
                // and prune by position: refuse rather than remove the wrong weights.
                guard norms.contains(where: { $0 > 0 }) else {
                    throw SwiftletError.invalidArgument("layer '\(node.name)': the data give its inputs no finite nonzero value, so significance cannot rank its weights")
                }
                importance = weight.indices.map { abs(weight[$0]) * norms[$0 % k] }
            }
            let pruned = Pruning.prune(weight, rows: n, columns: k, pattern: pattern, sparsity: sparsity, importance: importance)
            let matrix = pruned.withUnsafeBufferPointer { BlockSparseMatrix(rows: n, columns: k, block: pattern.storageBlock, dense: $0) }
            kept = pruned.count { $0 != 0 }
            attributes["weight_shape"] = .array([.int(n), .int(k)])
            let valueShape = [matrix.storedBlocks, matrix.blockRows, matrix.blockColumns]
            if case .sparseInt8 = encoding {
                // Per-row scales over the kept weights (pruned zeros cannot raise a row's max).
                let (codes, scales) = pruned.withUnsafeBufferPointer { Int8Quantization.perChannel(rows: n, columns: k, weights: $0) }
                opType = SparseInt8LinearOp.type
                inputs += [add(".w_values", .i8, valueShape, matrix.gather(codes)), add(".w_scale", .f32, [n], scales)]
            } else {
                opType = SparseLinearOp.type
                inputs.append(add(".w_values", .f32, valueShape, matrix.values))
            }
            inputs += [add(".w_columns", .i32, [matrix.storedBlocks], matrix.columnIndices),
                       add(".w_rows", .i32, [matrix.blockRowCount + 1], matrix.rowPointers)]
        }
        if let bias = layer.bias { inputs.append(bias) }
        return (try Node(name: node.name, opType: opType, inputs: inputs, outputs: node.outputs, attributes: attributes), parts, kept)
    }

    /// The weight of a convolution the plan prunes by patterns: a Conv with group 1 (a depthwise
    /// channel would be all or nothing) and a constant F32 3×3 weight (the standard patterns'
    /// size), which no rule keeps fp32; nil for any other node or plan.
    static func patternConvWeight(_ node: Node, _ constants: [String: ConstantTensor], _ plan: Plan) -> ConstantTensor? {
        guard plan.convolutionPatternSparsity != nil, let conv = node.op as? ConvOp, conv.group == 1,
              let weight = constants[node.inputs[1]], weight.type.dtype == .f32, Array(weight.type.shape[2...]) == [3, 3],
              plan.rules.first(where: { fnmatch($0.pattern, node.name, 0) == 0 })?.encoding != .dense else { return nil }
        return weight
    }

    /// One stored part of an encoded weight: `values` as a tensor named after the node.
    static func part<T>(of node: Node, _ suffix: String, _ dtype: DType, _ shape: [Int], _ values: [T]) -> (name: String, tensor: HostTensor) {
        (node.name + suffix, HostTensor(dtype: dtype, shape: shape, bytes: values.withUnsafeBytes { Array($0) }))
    }

    /// A Conv node as PatternConv (`PatternSparseWeight` with the standard patterns), keeping its
    /// attributes, bias and residual; its new tensors are named after the node.
    static func encodePatternConv(_ node: Node, weight: ConstantTensor, sparsity: Double) throws
        -> (Node, [(name: String, tensor: HostTensor)], kept: Int) {
        let shape = weight.type.shape
        let pruned = try PatternSparseWeight(pruning: Array(weight.floats), shape: shape,
                                             patterns: PatternSparseWeight.standardPatterns, sparsity: sparsity)
        let kernels = pruned.channels.count
        let parts = [part(of: node, ".w_values", .f32, [kernels, pruned.entries], pruned.values),
                     part(of: node, ".w_patterns", .i32, [pruned.patterns.count / pruned.entries, pruned.entries], pruned.patterns),
                     part(of: node, ".w_ids", .u8, [kernels], pruned.patternIDs),
                     part(of: node, ".w_channels", .i32, [kernels], pruned.channels),
                     part(of: node, ".w_kernels", .i32, [shape[0] + 1], pruned.kernelPointers)]
        var attributes = node.attributes.values.filter { $0.key != "kernel_shape" }
        attributes["weight_shape"] = .array(shape.map { .int($0) })
        // Conv's optional bias and residual follow the encoding in the same order ("" for a bias
        // absent before a residual).
        var optional = Array(node.inputs.dropFirst(2))
        while optional.last == "" { optional.removeLast() }
        let encoded = try Node(name: node.name, opType: PatternConvOp.type, inputs: [node.inputs[0]] + parts.map(\.name) + optional,
                               outputs: node.outputs, attributes: attributes)
        return (encoded, parts, pruned.values.count)
    }
}
