import Foundation

/// Significance Analysis (AxFormer): how much each component matters on given data, measured by
/// approximating it — another encoding, or removing it — and re-running the model. Components are
/// linear layers (approximated or removed), the structures `StructuredRemoval` takes out:
/// attention heads, groups of FFN neurons, blocks; and weight groups: a linear layer's weights
/// from a contiguous range of its inputs (columns of W [N, K]), zeroed.
///
/// The measure, per sample (a sample is one slice along the first axis of the model's first
/// output):
/// - with labels, the task loss: cross-entropy of the sample's scores (as logits) against its label;
/// - without, the output divergence from the unmodified model: ‖y′ − y‖² over the mean ‖y‖² of
///   all samples (one normalizer, so a sample whose output is all zeros is measured too).
/// A model's loss is the mean over samples; a component's significance is its loss minus the
/// unmodified model's. Non-finite losses count as +∞ (the change broke the model on that data).
public struct SignificanceAnalysis {
    /// What a layer is replaced by when its significance is measured.
    public enum Approximation: Equatable, Sendable, CustomStringConvertible {
        /// Stored in another encoding (int8, an MX format, pruned).
        case encoding(LayerEncoding)
        /// W = 0: the layer outputs its bias (through its activation) — the layer's contribution is gone.
        case removed

        /// "removed" or a format name `LayerEncoding(quantization:)` accepts.
        public init(parsing text: String) throws {
            self = text.lowercased() == "removed" ? .removed : .encoding(try LayerEncoding(quantization: text))
        }

        var layerEncoding: LayerEncoding {
            switch self {
            case .encoding(let encoding): encoding
            case .removed: .sparse(.unstructured, sparsity: 1)
            }
        }

        public var description: String {
            switch self {
            case .encoding(let encoding): encoding.description
            case .removed: "removed"
            }
        }
    }

    /// The model's loss on the data: the mean and each sample's; with labels, which samples it
    /// classifies correctly (the first largest score is the label).
    public struct Evaluation: Sendable {
        public let loss: Double
        public let sampleLosses: [Double]
        public let correct: [Bool]?

        /// With labels: samples right in `other` and wrong here (`lost`), and the reverse.
        public func flips(from other: Evaluation) -> (lost: Int, gained: Int) {
            guard let correct, let before = other.correct else { return (0, 0) }
            return (zip(before, correct).count { $0 && !$1 }, zip(before, correct).count { !$0 && $1 })
        }

        /// Share of samples whose loss is higher here than in `other`.
        public func worseFraction(than other: Evaluation) -> Double {
            let worse = zip(sampleLosses, other.sampleLosses).count { $0 > $1 }
            return Double(worse) / Double(max(sampleLosses.count, 1))
        }
    }

    /// What kind of component an entry measures.
    public enum Kind: String, Sendable {
        case linearLayer = "linear layer"
        case head = "attention head"
        case neuronGroup = "FFN neuron group"
        case block
        case weightGroup = "weight group"
    }

    /// A head, neuron group or block: what `measure(removing:)` takes out.
    public struct StructuralComponent: Sendable {
        public let name: String
        public let kind: Kind
        public let removal: StructuredRemoval
    }

    /// One measurement: `component` under `approximation`.
    public struct Entry: Sendable {
        /// A linear layer's node name, or a structural component's name.
        public let component: String
        public let kind: Kind
        /// The weights the component has: a layer's N·K, a structure's removed float parameters.
        public let parameters: Int
        public let approximation: Approximation
        public let loss: Double
        /// loss − the unmodified model's loss.
        public let significance: Double
        /// Share of samples that do worse than with the unmodified model.
        public let worseFraction: Double
    }

    public let model: Model
    /// The linear layers `Compressor` can re-encode, in graph order.
    public let layers: [Compressor.LayerShape]
    /// The unmodified model's evaluation.
    public let baseline: Evaluation
    /// The measure: task loss with labels, divergence without.
    public var measureName: String { labels == nil ? "divergence" : "cross-entropy" }

    /// The model after the graph passes, made once for every plan evaluated.
    let optimized: Compressor.Optimized
    let data: [String: HostTensor]
    let labels: [Int]?
    let makeSession: (Model) throws -> Session
    /// What every plan `measure` builds inherits (MX rounding, static activation scales).
    let settings: Compressor.Plan
    let reference: [Float]
    let sampleCount: Int

    /// Runs `model` once on `data` (the baseline). `labels` must give one class per sample;
    /// `makeSession` opens each evaluated model (backend and threads are the caller's choice);
    /// `settings`' rounding and activation scales apply to every layer `measure` approximates.
    /// `structural`: prepare for `structuralComponents` and `measure(removing:)`.
    public init(model: Model, data: [String: HostTensor], labels: [Int]?, settings: Compressor.Plan = Compressor.Plan(),
                structural: Bool = false, makeSession: @escaping (Model) throws -> Session) throws {
        self.model = model
        self.data = data
        self.labels = labels
        self.makeSession = makeSession
        var settings = settings
        settings.defaultEncoding = .dense
        settings.rules = []
        settings.attentionRules = []
        settings.removal = StructuredRemoval()
        self.settings = settings
        // Structures are found at the data's own shapes (a symbolic probe could trip on
        // differently named dimensions that must agree).
        optimized = try Compressor.Optimized(model, probe: structural ? .inputs(data.mapValues(\.shape)) : nil)
        layers = optimized.linearLayers
        guard !layers.isEmpty else { throw SwiftletError.invalidArgument("the model has no linear layers to analyze") }
        let output = try Self.firstOutput(of: try makeSession(model), model: model, data: data)
        guard let samples = output.shape.first, samples > 0 else {
            throw SwiftletError.invalidArgument("the first output \(output.shape) has no samples along its first axis")
        }
        if let labels {
            guard labels.count == samples else {
                throw SwiftletError.invalidArgument("\(labels.count) labels for \(samples) samples (the first output's first axis)")
            }
            let classes = output.shape.dropFirst().reduce(1, *)
            if let bad = labels.first(where: { !(0..<classes).contains($0) }) {
                throw SwiftletError.invalidArgument("label \(bad) is not a class of the first output's \(classes) scores")
            }
        }
        reference = output.floats
        sampleCount = samples
        baseline = Self.evaluation(reference, reference: reference, samples: samples, labels: labels)
        // A non-finite baseline would make every significance ∞ − ∞: nothing could be ranked.
        guard baseline.loss.isFinite, reference.allSatisfy(\.isFinite) else {
            throw SwiftletError.invalidArgument("the unmodified model's output is not finite on this data (\(measureName) \(baseline.loss)): significance cannot be measured")
        }
    }

    /// The loss of the model that `plan` compresses this one into, and that model's bits per
    /// weight of the original linear layers: every byte of each layer's encoding, a dense layer
    /// its F32 bytes at the size a removal left it, a layer a removal took out none.
    /// `removedParameters`: the float parameters `plan.removal` took out.
    public func evaluate(_ plan: Compressor.Plan) throws -> (evaluation: Evaluation, bitsPerWeight: Double, removedParameters: Int) {
        try evaluate(plan, from: optimized)
    }

    /// `evaluate` on another version of the measured graph's weights (`source`).
    func evaluate(_ plan: Compressor.Plan, from source: Compressor.Optimized) throws
        -> (evaluation: Evaluation, bitsPerWeight: Double, removedParameters: Int) {
        let result = try Compressor.compress(source, plan: plan)
        let compressed = try result.model(metadata: [:]).model
        let output = try Self.firstOutput(of: try makeSession(compressed), model: compressed, data: data)
        let encodedBytes = Dictionary(uniqueKeysWithValues: result.layers.map { ($0.name, $0.bytesAfter) })
        let nodes = Dictionary(result.graph.nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let bytes = layers.reduce(0) { total, layer in
            if let encoded = encodedBytes[layer.name] { return total + encoded }
            guard let node = nodes[layer.name], let weight = result.tensors[node.inputs[1]] else { return total }
            return total + weight.bytes.count
        }
        return (Self.evaluation(output.floats, reference: reference, samples: sampleCount, labels: labels),
                8 * Double(bytes) / Double(layers.reduce(0) { $0 + $1.n * $1.k }), result.removedParameters)
    }

    /// The model `plan` makes of this one, from the graph this analysis measures (its structures
    /// found at the data's shapes).
    public func compress(_ plan: Compressor.Plan, progress: (Int, Int, String) -> Void = { _, _, _ in }) throws -> Compressor.Result {
        try Compressor.compress(optimized, plan: plan, progress: progress)
    }

    /// The measured graph after `removal`, or the removal's own refusal (a node's last head, a
    /// rule that matches nothing) as a failure; other errors are thrown.
    public func removing(_ removal: StructuredRemoval) throws -> Result<Graph, SwiftletError> {
        guard !removal.isEmpty else { return .success(optimized.graph) }
        var constants = optimized.constants
        do {
            return .success(try removal.apply(optimized.graph, &constants, probed: optimized.probed ?? ShapeProbe(optimized.graph, constants, shapes: .symbolic)).graph)
        } catch let error as SwiftletError where error.kind == .invalidArgument {
            return .failure(error)
        }
    }

    /// Every layer (of `only`, if given) under every approximation, one at a time (all other
    /// layers unmodified), in graph order. `progress(done, total)` after each measurement.
    public func measure(_ approximations: [Approximation], only: Set<String>? = nil,
                        progress: (Int, Int) -> Void = { _, _ in }) throws -> [Entry] {
        let measured = layers.filter { only?.contains($0.name) ?? true }
        var entries: [Entry] = []
        for layer in measured {
            for approximation in approximations {
                var plan = settings
                plan.rules = [(Self.exactPattern(layer.name), approximation.layerEncoding)]
                let evaluation = try evaluate(plan).evaluation
                entries.append(Entry(component: layer.name, kind: .linearLayer, parameters: layer.n * layer.k, approximation: approximation,
                                     loss: evaluation.loss, significance: evaluation.loss - baseline.loss,
                                     worseFraction: evaluation.worseFraction(than: baseline)))
                progress(entries.count, measured.count * approximations.count)
            }
        }
        return entries
    }

    /// The structures to measure: every head of every Attention node (`heads`), each FFN's
    /// neurons in `neuronGroups` contiguous groups (sizes differing by at most one), and a block
    /// per glob in `blocks`. Each is checked by removing it from the graph, so one that cannot be
    /// removed is refused before anything is measured. Needs `structural: true` at init.
    public func structuralComponents(heads: Bool, neuronGroups: Int?, blocks: [String]) throws -> [StructuralComponent] {
        guard let probed = optimized.probed else {
            throw SwiftletError(.internal, "structural components need SignificanceAnalysis(structural: true)")
        }
        var components: [StructuralComponent] = []
        var removal = StructuredRemoval()
        if heads {
            for node in optimized.graph.nodes where node.op is AttentionOp {
                for head in 0..<(probed.types[node.inputs[0]]?.shape[2] ?? 0) {
                    removal.heads = [(Self.exactPattern(node.name), [head])]
                    components.append(StructuralComponent(name: "\(node.name) head \(head)", kind: .head, removal: removal))
                }
            }
            removal.heads = []
        }
        if let groups = neuronGroups {
            guard groups >= 2 else { throw SwiftletError.invalidArgument("neuron groups must be at least 2 (one group is the whole FFN: a block)") }
            for pair in StructuredRemoval.feedForwardPairs(optimized.graph.nodes, graphOutputs: Set(optimized.graph.outputs.map(\.name)),
                                                              optimized.constants) {
                guard pair.neurons >= groups else {
                    throw SwiftletError.invalidArgument("'\(pair.first)' has \(pair.neurons) neurons: fewer than \(groups) groups")
                }
                for group in 0..<groups {
                    let range = (group * pair.neurons / groups)..<((group + 1) * pair.neurons / groups)
                    removal.neurons = [(Self.exactPattern(pair.first), .indices(Array(range)))]
                    components.append(StructuralComponent(name: "\(pair.first) neurons \(range.lowerBound)-\(range.upperBound - 1)",
                                                          kind: .neuronGroup, removal: removal))
                }
            }
            removal.neurons = []
        }
        for pattern in blocks {
            removal.blocks = [pattern]
            components.append(StructuralComponent(name: "block \(pattern)", kind: .block, removal: removal))
        }
        for component in components {
            var constants = optimized.constants
            _ = try component.removal.apply(optimized.graph, &constants, probed: probed)
        }
        return components
    }

    /// Each component removed in turn (everything else unmodified). `progress(done, total)`.
    public func measure(removing components: [StructuralComponent], progress: (Int, Int) -> Void = { _, _ in }) throws -> [Entry] {
        var entries: [Entry] = []
        for component in components {
            var plan = settings
            plan.removal = component.removal
            let (evaluation, _, removed) = try evaluate(plan)
            entries.append(Entry(component: component.name, kind: component.kind, parameters: removed, approximation: .removed,
                                 loss: evaluation.loss, significance: evaluation.loss - baseline.loss,
                                 worseFraction: evaluation.worseFraction(than: baseline)))
            progress(entries.count, components.count)
        }
        return entries
    }

    /// Every linear layer's weights (of `only`'s layers, if given) in `groups` contiguous ranges
    /// of its inputs (sizes differing by at most one), each range zeroed in turn with everything
    /// else unmodified, in graph order. `progress(done, total)` after each measurement.
    public func measure(weightGroups groups: Int, only: Set<String>? = nil, progress: (Int, Int) -> Void = { _, _ in }) throws -> [Entry] {
        let measured = layers.filter { only?.contains($0.name) ?? true }
        try check(weightGroups: groups, of: measured)
        var entries: [Entry] = []
        for layer in measured {
            for group in 0..<groups {
                let inputs = (group * layer.k / groups)..<((group + 1) * layer.k / groups)
                let evaluation = try evaluate(settings, from: optimized.zeroingInputs(inputs, of: layer.name)).evaluation
                entries.append(Entry(component: "\(layer.name) inputs \(inputs.lowerBound)-\(inputs.upperBound - 1)", kind: .weightGroup,
                                     parameters: layer.n * inputs.count, approximation: .removed, loss: evaluation.loss,
                                     significance: evaluation.loss - baseline.loss, worseFraction: evaluation.worseFraction(than: baseline)))
                progress(entries.count, measured.count * groups)
            }
        }
        return entries
    }

    /// Throws unless every layer of `measured` (all, if nil) can be cut into `groups` ≥ 2 weight groups.
    public func check(weightGroups groups: Int, of measured: [Compressor.LayerShape]? = nil) throws {
        guard groups >= 2 else { throw SwiftletError.invalidArgument("weight groups must be at least 2 (one group is the whole layer: --approximate removed)") }
        if let narrow = (measured ?? layers).first(where: { $0.k < groups }) {
            throw SwiftletError.invalidArgument("'\(narrow.name)' has \(narrow.k) inputs: fewer than \(groups) weight groups")
        }
    }

    /// A glob that matches only `name` (Compressor's rules are fnmatch patterns).
    static func exactPattern(_ name: String) -> String {
        var pattern = ""
        for character in name {
            if "*?[]\\".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern
    }

    static func firstOutput(of session: Session, model: Model, data: [String: HostTensor]) throws -> HostTensor {
        let name = model.graph.outputs[0].name
        let outputs = try session.run(data).outputs
        guard let output = outputs[name] else { throw SwiftletError(.internal, "the run returned no '\(name)'") }
        guard output.dtype == .f32 else {
            throw SwiftletError.unsupported("significance needs a float first output; '\(name)' is \(output.dtype.rawValue)")
        }
        return output
    }

    /// Per-sample losses of `output` ([samples, …] floats).
    static func evaluation(_ output: [Float], reference: [Float], samples: Int, labels: [Int]?) -> Evaluation {
        let width = output.count / samples
        let meanSquare = reference.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(samples)
        let correct = labels.map { labels in
            (0..<samples).map { sample in
                let row = output[(sample * width)..<((sample + 1) * width)]
                return row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - sample * width == labels[sample]
            }
        }
        let losses = (0..<samples).map { sample -> Double in
            let row = output[(sample * width)..<((sample + 1) * width)]
            let loss: Double
            if let labels {
                let largest = Double(row.max() ?? 0)
                let logSum = largest + log(row.reduce(0) { $0 + exp(Double($1) - largest) })
                loss = logSum - Double(row[row.startIndex + labels[sample]])
            } else {
                let expected = reference[(sample * width)..<((sample + 1) * width)]
                let error = zip(row, expected).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) }
                loss = error == 0 ? 0 : error / meanSquare
            }
            return loss.isFinite ? loss : .infinity
        }
        return Evaluation(loss: losses.reduce(0, +) / Double(samples), sampleLosses: losses, correct: correct)
    }
}
