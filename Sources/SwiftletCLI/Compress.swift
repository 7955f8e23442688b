import ArgumentParser
import CoreRuntime
import Foundation

struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Quantize, prune or cut down a model into a new .swl file.",
        discussion: """
            Runs the graph passes, then re-encodes every linear layer (nn.Linear, Gemm with constant \
            weights): --quantize stores it as int8 (per output channel, activations quantized per row) \
            or in an OCP MX format; --prune removes the smallest weights and stores the rest sparse: \
            smallest by magnitude |w|, or with --guide significance by |w|·‖x_k‖₂, x_k being the \
            weight's input column over --data (Wanda's score: the weight's share of its layer's \
            output on that data; ranked across the layer as magnitude is, where Wanda ranks within \
            each output row). --prune hybrid:RxC:E is RT3's hybrid: whole R×C blocks go first, then each \
            kept block keeps the E positions of one of up to 8 patterns fitted to the layer (stored \
            as CSR; --sparsity at least 1 − E/(R·C)). --prune pattern prunes the 3×3 convolutions (group 1) instead, as PatDNN \
            does: each kernel keeps the 4-tap pattern, of 8, that holds most of its Σw², and the \
            kernels keeping least are removed whole until --sparsity of the weights are gone (at \
            least 5/9, the patterns' own share); --layer NAME=fp32 keeps a convolution dense, and \
            linear layers keep --quantize's format. --layer overrides the format for layers whose node name matches a glob, e.g. \
            --layer '*attention*=mxfp8-e4m3' --layer 'classifier=fp32'. --calibration runs the model on \
            the given data and stores each int8 layer's static activation scale (max |x| of its input \
            / 127) instead of quantizing each row by its own max at run time.

            Structured removal makes the graph itself smaller, before any layer is encoded: \
            --drop-heads removes attention heads (their Q/K/V columns and output-projection rows), \
            --drop-neurons an FFN's neurons (its first layer's outputs and second layer's inputs), \
            --drop-layers the block of nodes a glob names, whose input then stands in for its \
            output (for a whole residual block, removing it; for part of one, replacing that \
            part by the identity). Node names are those 'swiftlet analyze' lists.

            --auto chooses the changes for you (AxFormer's greedy procedure, mixed precision): it \
            ranks the layers by significance under the --quantize/--prune encoding on --data (see \
            'swiftlet analyze'), and with --heads, --neuron-groups or --block also those \
            structures, each removed; then it makes the changes one at a time, least significant \
            first, re-running the model after each and keeping it only if the loss (with \
            --labels) or the divergence from the original (without) rises by at most \
            --max-loss-increase and, with labels, no more samples turn wrong than turn right. It \
            stops when the original linear weights average --target-bits (removed ones count 0), \
            if given. Other layers keep --keep (default fp32); layers a --layer rule names are \
            never moved.
            """)

    @Argument(help: "The model to compress (.swl or .onnx).")
    var input: String

    @Argument(help: "The .swl file to write.")
    var output: String

    @Option(help: "int8, mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4 or mxint8.")
    var quantize: String?

    @Option(name: .customLong("layer"), help: "GLOB=FORMAT: a per-layer format (fp32 keeps the layer dense); repeatable, first match wins.")
    var layerRules: [String] = []

    @Option(help: "unstructured, block:RxC (e.g. block:4x4, block:1x4), nm:N:M (e.g. nm:2:4), hybrid[:RxC[:E]] (RT3's blocks + patterns; hybrid = hybrid:4x4:8), or pattern (3×3 convolutions).")
    var prune: String?

    @Option(help: "Fraction of weights (or blocks) to remove, 0…1 (with --prune; N:M fixes its own).")
    var sparsity: Double?

    @Option(help: "What --prune ranks linear weights by: magnitude (|w|) or significance (|w|·‖x_k‖₂, its input column's norm on --data).")
    var guide = "magnitude"

    @Option(help: "MX element rounding: nearest-even (the spec) or ties-away (microxcaling's default).")
    var rounding = "nearest-even"

    @Option(help: "GLOB=MODE: approximate attention for Attention nodes matching GLOB — topk:K or sign:K (sign-matching), or full; repeatable, first match wins.")
    var attention: [String] = []

    @Option(name: .customLong("drop-heads"), help: "GLOB=HEADS: remove these heads (e.g. 0,3,8-11) of the Attention nodes matching GLOB; repeatable, first match wins.")
    var dropHeads: [String] = []

    @Option(name: .customLong("drop-neurons"), help: "GLOB=NEURONS: remove FFN neurons after the linear layers matching GLOB (an FFN's first layer): indices (0,5,8-15) or a share with the smallest weights (25%); repeatable, first match wins.")
    var dropNeurons: [String] = []

    @Option(name: .customLong("drop-layers"), help: "GLOB: drop the block of nodes whose names match (e.g. '/layer.3/*'); it must read one value of its output's shape, which takes its place. Repeatable.")
    var dropLayers: [String] = []

    @Option(help: "int8 activations: static scales from this data, [NAME=]file.npy per input (repeatable), instead of a max per row at run time.")
    var calibration: [String] = []

    @Flag(help: "Choose by significance on --data which layers get the --quantize/--prune encoding and which --heads/--neuron-groups/--block structures go (see the discussion).")
    var auto = false

    @Option(help: "With --auto: the largest rise in loss (with --labels) or divergence allowed.")
    var maxLossIncrease: Double?

    @Option(help: "With --auto: stop once the original linear weights average this many bits (removed ones count 0).")
    var targetBits: Double?

    @Option(help: "With --auto: the format of the layers it leaves (fp32, int8, an MX format).")
    var keep = "fp32"

    @OptionGroup var dataFlags: DataFlags

    @OptionGroup(title: "Structures --auto may remove") var structures: StructureFlags

    @OptionGroup var session: SessionFlags

    func validate() throws {
        let patterns = prune?.lowercased() == "pattern"
        if let quantize, prune != nil, !patterns, quantize.lowercased() != "int8" {
            throw ValidationError("--prune combines with --quantize int8 only (int8 blocks), not \(quantize)")
        }
        if let sparsity, !(0...1).contains(sparsity) { throw ValidationError("--sparsity must lie in 0…1, got \(sparsity)") }
        guard ["magnitude", "significance"].contains(guide.lowercased()) else { throw ValidationError("--guide must be magnitude or significance, not '\(guide)'") }
        if significanceGuided {
            guard prune != nil, !patterns else { throw ValidationError("--guide significance ranks the weights of linear layers: give --prune (not pattern)") }
            guard !dataFlags.data.isEmpty else { throw ValidationError("--guide significance measures on data: give --data [NAME=]file.npy") }
            // The norms are measured on the unmodified model; a smaller one's layers see other inputs.
            guard dropHeads.isEmpty, dropNeurons.isEmpty, dropLayers.isEmpty, !structures.any else {
                throw ValidationError("--guide significance cannot be combined with structured removal: run it on the smaller model")
            }
        }
        if prune != nil, sparsity == nil, !(prune?.lowercased().hasPrefix("nm:") ?? false) {
            throw ValidationError("--prune \(prune!) needs --sparsity")
        }
        if auto {
            // The analysis measures against the unmodified model; attention changes would be
            // charged to every layer. Approximate attention is a separate compress run.
            guard attention.isEmpty else { throw ValidationError("--attention cannot be combined with --auto: run it on --auto's output") }
            guard dropHeads.isEmpty, dropNeurons.isEmpty, dropLayers.isEmpty else {
                throw ValidationError("--drop-heads, --drop-neurons and --drop-layers cannot be combined with --auto: run --auto on the smaller model they make")
            }
            guard quantize != nil || prune != nil || structures.any else {
                throw ValidationError("--auto needs something to apply: --quantize or --prune, or structures to remove (--heads, --neuron-groups, --block)")
            }
            guard !patterns else { throw ValidationError("--auto ranks linear layers: it does not take --prune pattern") }
            guard let maxLossIncrease, maxLossIncrease >= 0, maxLossIncrease.isFinite else {
                throw ValidationError("--auto needs --max-loss-increase ≥ 0")
            }
            if let targetBits, !(targetBits > 0) { throw ValidationError("--target-bits must be > 0, got \(targetBits)") }
            // Scales measured on the unmodified model would be used on the smaller one.
            guard calibration.isEmpty || !structures.any else {
                throw ValidationError("--calibration cannot be combined with --heads/--neuron-groups/--block: calibrate the smaller model --auto makes")
            }
        } else if maxLossIncrease != nil || targetBits != nil || keep != "fp32" || (!dataFlags.data.isEmpty && !significanceGuided)
                    || dataFlags.labels != nil || structures.any {
            throw ValidationError("--max-loss-increase, --target-bits, --keep, --labels, --heads, --neuron-groups and --block go with --auto, and --data with --auto or --guide significance (--drop-heads, --drop-neurons and --drop-layers remove named structures)")
        } else if quantize == nil && prune == nil && layerRules.isEmpty && attention.isEmpty && dropHeads.isEmpty && dropNeurons.isEmpty && dropLayers.isEmpty {
            throw ValidationError("nothing to do: give --quantize, --prune, --layer, --attention, --drop-heads, --drop-neurons or --drop-layers")
        }
    }

    func run() throws {
        var plan = Compressor.Plan()
        guard let rounding = MXFormat.Rounding(rawValue: rounding) else {
            throw ValidationError("--rounding must be nearest-even or ties-away, not '\(rounding)'")
        }
        plan.rounding = rounding
        if let quantize { plan.defaultEncoding = try LayerEncoding(quantization: quantize) }
        if let prune, prune.lowercased() == "pattern" {
            plan.convolutionPatternSparsity = sparsity!
        } else if let prune {
            let pattern = try PruningPattern(parsing: prune)
            var fraction = sparsity ?? 0
            if case .nOfM(let n, let m) = pattern { fraction = 1 - Double(n) / Double(m) }
            try pattern.check(sparsity: fraction)
            plan.defaultEncoding = quantize == nil ? .sparse(pattern, sparsity: fraction) : .sparseInt8(pattern, sparsity: fraction)
        }
        for rule in attention {
            let (pattern, mode) = try Self.split(rule, option: "--attention", value: "MODE")
            plan.attentionRules.append((pattern, try AttentionSelection(parsing: mode)))
        }
        for rule in layerRules {
            let (pattern, format) = try Self.split(rule, option: "--layer", value: "FORMAT")
            plan.rules.append((pattern, try LayerEncoding(quantization: format)))
        }
        for rule in dropHeads {
            let (pattern, heads) = try Self.split(rule, option: "--drop-heads", value: "HEADS")
            plan.removal.heads.append((pattern, try StructuredRemoval.parseIndices(heads, what: "head")))
        }
        for rule in dropNeurons {
            let (pattern, neurons) = try Self.split(rule, option: "--drop-neurons", value: "NEURONS")
            plan.removal.neurons.append((pattern, try StructuredRemoval.NeuronSelection(parsing: neurons)))
        }
        plan.removal.blocks = dropLayers

        let model = try Model(path: input)
        // Calibrate first: --auto must measure int8 layers with the scales the file will have.
        if !calibration.isEmpty {
            // The scales would be measured on the unmodified model but used on the smaller one,
            // whose layers see other inputs.
            guard plan.removal.isEmpty else {
                throw ValidationError("--calibration cannot be combined with --drop-heads/--drop-neurons/--drop-layers: calibrate the smaller model they make")
            }
            plan.activationScales = try inputStatistics(of: model, on: calibration, what: "--calibration data").mapValues { $0.maxAbs / 127 }
        }
        if significanceGuided {
            plan.inputColumnNorms = try inputStatistics(of: model, on: dataFlags.data, what: "--data").mapValues(\.columnNorms)
        }
        // --auto measured its candidates on a graph whose structures were found at the data's
        // shapes: the file is made from that same graph.
        var analysis: SignificanceAnalysis?
        if auto { (plan, analysis) = try choose(plan, for: model) }
        if !calibration.isEmpty, !plan.activationScales.keys.contains(where: { plan.encoding(for: $0) == .int8 }) {
            throw ValidationError("--calibration sets int8 activation scales, but no layer is int8")
        }
        let result = try analysis.map { try $0.compress(plan, progress: ProgressBar.standardError.update) }
            ?? Compressor.compress(model, plan: plan, progress: ProgressBar.standardError.update)
        ProgressBar.standardError.finish()
        // A rule that matches nothing is a typo or a model without fused attention: say so, write nothing.
        for (pattern, _) in plan.attentionRules where !result.attention.contains(where: { fnmatch(pattern, $0.node, 0) == 0 }) {
            throw ValidationError("--attention '\(pattern)' matches no Attention node of the model (after the graph passes)")
        }
        var metadata = model.metadata.filter { $0.key.hasPrefix("model.") }
        metadata["model.compression"] = ([plan.rules.isEmpty ? "\(plan.defaultEncoding)"
            : "\(plan.defaultEncoding); " + plan.rules.map { "\($0.pattern)=\($0.encoding)" }.joined(separator: ", ")]
            + (plan.convolutionPatternSparsity.map { ["3×3 convolutions \(LayerEncoding.pattern(sparsity: $0))"] } ?? [])
            + (plan.attentionRules.isEmpty ? [] : ["attention " + plan.attentionRules.map { "\($0.pattern)=\($0.selection)" }.joined(separator: ", ")])
            + result.removed.map(\.description))
            .joined(separator: "; ")
        let (checked, swl) = try result.model(metadata: metadata)
        guard FileManager.default.createFile(atPath: output, contents: Data(swl)) else {
            throw SwiftletError.invalidArgument("cannot write '\(output)'")
        }

        print("layer".padding(toLength: 28, withPad: " ", startingAt: 0) + "  N×K            encoding           bytes before → after")
        for layer in result.layers {
            print("\(layer.name.padding(toLength: 28, withPad: " ", startingAt: 0))  \("\(layer.n)×\(layer.k)".padding(toLength: 14, withPad: " ", startingAt: 0))  \(layer.encoding.description.padding(toLength: 17, withPad: " ", startingAt: 0))  \(layer.bytesBefore) → \(layer.bytesAfter)")
        }
        for (node, selection) in result.attention { print("attention \(node): \(selection)") }
        for change in result.removed { print(change) }
        print("\(result.layers.count) layers re-encoded; parameters \(result.parametersBefore) → \(result.parameters); file \(model.fileSize) → \(swl.count) bytes (\(String(format: "%.3f", Double(swl.count) / Double(model.fileSize)))×); \(checked.graph.nodes.count) nodes")
    }

    /// "GLOB=VALUE" → (GLOB, VALUE), split at the last "=" (globs may contain one).
    static func split(_ rule: String, option: String, value: String) throws -> (String, String) {
        guard let equals = rule.lastIndex(of: "=") else { throw ValidationError("\(option) takes GLOB=\(value), got '\(rule)'") }
        return (String(rule[..<equals]), String(rule[rule.index(after: equals)...]))
    }

    var significanceGuided: Bool { guide.lowercased() == "significance" }

    /// Each linear layer's input on the data `arguments` name: for --calibration, its static int8
    /// scale, max |x| / 127 (used by the layers that end up int8); for --guide significance, its
    /// column norms.
    func inputStatistics(of model: Model, on arguments: [String], what: String) throws -> [String: ActivationCalibration.InputStatistics] {
        let data = try readEveryInput(arguments, of: model, what: what)
        let options = try session.makeOptions()
        return try ActivationCalibration.inputStatistics(of: model, data: data) { try Session(model: $0, options: options) }
    }

    /// --auto: the plan GreedyCompression settles on (its steps printed), and the analysis it ran.
    func choose(_ requested: Compressor.Plan, for model: Model) throws -> (Compressor.Plan, SignificanceAnalysis) {
        let aggressive = quantize != nil || prune != nil ? requested.defaultEncoding : nil
        var base = requested
        base.defaultEncoding = try LayerEncoding(quantization: keep)
        let (inputs, labels) = try dataFlags.read(for: model)
        let options = try session.makeOptions()
        let analysis = try SignificanceAnalysis(model: model, data: inputs, labels: labels, settings: requested,
                                                structural: structures.any) {
            try Session(model: $0, options: options)
        }
        // Layers a --layer rule names are the user's decision: never moved.
        let free = aggressive == nil ? [] : analysis.layers.filter { layer in !requested.rules.contains { fnmatch($0.pattern, layer.name, 0) == 0 } }
        let components = try structures.components(of: analysis)
        print("ranking \(free.count) layers" + (aggressive.map { " under \($0)" } ?? "") + " and \(components.count) structures by significance "
              + "(\(analysis.measureName), \(analysis.baseline.sampleLosses.count) samples)")
        let total = free.count + components.count
        let layerEntries = try aggressive.map { encoding in
            try analysis.measure([.encoding(encoding)], only: Set(free.map(\.name))) { done, _ in ProgressBar.standardError.update(done, total) }
        } ?? []
        let structureEntries = try analysis.measure(removing: components) { done, _ in
            ProgressBar.standardError.update(layerEntries.count + done, total)
        }
        ProgressBar.standardError.finish()
        let candidates = layerEntries.map { (GreedyCompression.Candidate.layer($0.component), $0.significance) }
            + zip(components, structureEntries).map { (GreedyCompression.Candidate.structure($0), $1.significance) }
        let order = candidates.enumerated().sorted { ($0.element.1, $0.offset) < ($1.element.1, $1.offset) }.map(\.element.0)
        let nameWidth = max(9, order.map(\.name.count).max() ?? 0)
        print("step  \("component".padding(toLength: nameWidth, withPad: " ", startingAt: 0)) \(analysis.measureName.padding(toLength: 13, withPad: " ", startingAt: 0)) bits/weight  turned wrong/right  kept")
        var stepNumber = 0
        let outcome = try GreedyCompression.run(analysis, base: base, aggressive: aggressive, order: order,
                                                maxLossIncrease: maxLossIncrease!, targetBits: targetBits) { step in
            stepNumber += 1
            print([String(format: "%-5d", stepNumber), step.component.padding(toLength: nameWidth, withPad: " ", startingAt: 0),
                   Analyze.number(step.loss).padding(toLength: 13, withPad: " ", startingAt: 0),
                   String(format: "%-12.3f", step.bitsPerWeight), (labels == nil ? "-" : "\(step.lost)/\(step.gained)").padding(toLength: 19, withPad: " ", startingAt: 0),
                   step.kept ? "yes" : step.refusal.map { "no (cannot: \($0))" } ?? "no"].joined(separator: " "))
        }
        print("--auto: \(outcome.steps.count { $0.kept }) of \(order.count) changes kept (\(outcome.steps.count) tried); \(analysis.measureName) "
              + "\(Analyze.number(analysis.baseline.loss)) → \(Analyze.number(outcome.loss)), \(String(format: "%.3f", outcome.bitsPerWeight)) bits per weight"
              + (targetBits.map { outcome.reachedTarget ? " (target \($0) reached)" : " (target \($0) NOT reached)" } ?? ""))
        return (outcome.plan, analysis)
    }
}
