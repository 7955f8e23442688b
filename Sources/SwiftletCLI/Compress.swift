import ArgumentParser
import CoreRuntime
import Foundation

struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Quantize or prune a model's linear layers into a new .swl file.",
        discussion: """
            Runs the graph passes, then re-encodes every linear layer (nn.Linear, Gemm with constant \
            weights): --quantize stores it as int8 (per output channel, activations quantized per row) \
            or in an OCP MX format; --prune removes the smallest weights (by magnitude) and stores the \
            rest sparse. --layer overrides the format for layers whose node name matches a glob, e.g. \
            --layer '*attention*=mxfp8-e4m3' --layer 'classifier=fp32'.
            """)

    @Argument(help: "The model to compress (.swl or .onnx).")
    var input: String

    @Argument(help: "The .swl file to write.")
    var output: String

    @Option(help: "int8, mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4 or mxint8.")
    var quantize: String?

    @Option(name: .customLong("layer"), help: "GLOB=FORMAT: a per-layer format (fp32 keeps the layer dense); repeatable, first match wins.")
    var layerRules: [String] = []

    @Option(help: "unstructured, block:RxC (e.g. block:4x4, block:1x4) or nm:N:M (e.g. nm:2:4).")
    var prune: String?

    @Option(help: "Fraction of weights (or blocks) to remove, 0…1 (with --prune; N:M fixes its own).")
    var sparsity: Double?

    @Option(help: "MX element rounding: nearest-even (the spec) or ties-away (microxcaling's default).")
    var rounding = "nearest-even"

    func validate() throws {
        if quantize != nil && prune != nil {
            throw ValidationError("--quantize and --prune cannot be combined yet: sparse weights are stored as F32")
        }
        if quantize == nil && prune == nil && layerRules.isEmpty {
            throw ValidationError("nothing to do: give --quantize, --prune or --layer")
        }
        if let sparsity, !(0...1).contains(sparsity) { throw ValidationError("--sparsity must lie in 0…1, got \(sparsity)") }
        if prune != nil, sparsity == nil, !(prune?.lowercased().hasPrefix("nm:") ?? false) {
            throw ValidationError("--prune \(prune!) needs --sparsity")
        }
    }

    func run() throws {
        var plan = Compressor.Plan()
        guard let rounding = MXFormat.Rounding(rawValue: rounding) else {
            throw ValidationError("--rounding must be nearest-even or ties-away, not '\(rounding)'")
        }
        plan.rounding = rounding
        if let quantize { plan.defaultEncoding = try LayerEncoding(quantization: quantize) }
        if let prune {
            let pattern = try PruningPattern(parsing: prune)
            var fraction = sparsity ?? 0
            if case .nOfM(let n, let m) = pattern { fraction = 1 - Double(n) / Double(m) }
            plan.defaultEncoding = .sparse(pattern, sparsity: fraction)
        }
        for rule in layerRules {
            guard let equals = rule.lastIndex(of: "=") else { throw ValidationError("--layer takes GLOB=FORMAT, got '\(rule)'") }
            plan.rules.append((String(rule[..<equals]), try LayerEncoding(quantization: String(rule[rule.index(after: equals)...]))))
        }

        let model = try Model(path: input)
        let showProgress = isatty(STDERR_FILENO) != 0
        let result = try Compressor.compress(model, plan: plan) { done, total, layer in
            guard showProgress else { return }
            let width = 30, filled = width * done / max(total, 1)
            FileHandle.standardError.write(Data("\r[\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total) \(layer)\u{1B}[K".utf8))
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        var metadata = model.metadata.filter { $0.key.hasPrefix("model.") }
        metadata["model.compression"] = plan.rules.isEmpty ? "\(plan.defaultEncoding)"
            : "\(plan.defaultEncoding); " + plan.rules.map { "\($0.pattern)=\($0.encoding)" }.joined(separator: ", ")
        let (checked, swl) = try result.model(metadata: metadata)
        guard FileManager.default.createFile(atPath: output, contents: Data(swl)) else {
            throw SwiftletError.invalidArgument("cannot write '\(output)'")
        }

        print("layer".padding(toLength: 28, withPad: " ", startingAt: 0) + "  N×K            encoding           bytes before → after")
        for layer in result.layers {
            print("\(layer.name.padding(toLength: 28, withPad: " ", startingAt: 0))  \("\(layer.n)×\(layer.k)".padding(toLength: 14, withPad: " ", startingAt: 0))  \(layer.encoding.description.padding(toLength: 17, withPad: " ", startingAt: 0))  \(layer.bytesBefore) → \(layer.bytesAfter)")
        }
        print("\(result.layers.count) layers re-encoded; parameters \(result.parametersBefore) → \(result.parameters); file \(model.fileSize) → \(swl.count) bytes (\(String(format: "%.3f", Double(swl.count) / Double(model.fileSize)))×); \(checked.graph.nodes.count) nodes")
    }
}
