import ArgumentParser
import CoreRuntime
import Foundation
import HWBackends

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Significance Analysis: how much each component (layer, head, FFN neuron group, block, weight group) matters, on your data.",
        discussion: """
            Each linear layer in turn is approximated (--approximate: a format such as mxfp4 or \
            int8, or 'removed': W = 0, the layer outputs its bias) while every other layer stays as \
            it is, and the model is re-run on --data. With --labels the measure is the task loss \
            (cross-entropy of the first output's rows, as logits); without, the output divergence \
            from the unmodified model (|y' - y|^2 per sample over the mean |y|^2 of all samples). \
            Significance = the \
            measure's rise. Prints the components ranked, most significant first; --json and \
            --plot (SVG) write the same table.

            Structures are components too, each removed in turn (see 'swiftlet compress \
            --drop-heads/--drop-neurons/--drop-layers'): --heads measures every attention head, \
            --neuron-groups G each FFN's neurons in G contiguous groups, --block GLOB the block of \
            nodes GLOB names; --weight-groups G each linear layer's weights in G groups of \
            contiguous inputs (columns of W), each zeroed so the layer no longer hears those \
            inputs. Given any of them, linear layers are measured only if --approximate is also \
            given.
            """)

    @Argument(help: "The model to analyze (.swl or .onnx).")
    var model: String

    @OptionGroup var dataFlags: DataFlags

    @Option(help: "An approximation to measure: removed, or a format (int8, mxfp4, mxfp6-e2m3, …); repeatable (default: mxfp4 and removed).")
    var approximate: [String] = []

    @OptionGroup var structures: StructureFlags

    @Option(help: "Each linear layer's weights in this many groups of contiguous inputs, each zeroed.")
    var weightGroups: Int?

    @Option(help: "Write the ranked table as JSON to this file.")
    var json: String?

    @Option(help: "Write a bar chart of significance per component to this SVG file.")
    var plot: String?

    @OptionGroup var session: SessionFlags

    func run() throws {
        let structural = structures.any
        let componentsOnly = structural || weightGroups != nil
        let approximations = try (approximate.isEmpty && !componentsOnly ? ["mxfp4", "removed"] : approximate).map(SignificanceAnalysis.Approximation.init(parsing:))
        let opened = try Model(path: model)
        let (inputs, labels) = try dataFlags.read(for: opened)
        let options = try session.makeOptions()
        let analysis = try SignificanceAnalysis(model: opened, data: inputs, labels: labels, structural: structural) {
            try Session(model: $0, options: options)
        }
        let components = try structures.components(of: analysis)
        if let weightGroups { try analysis.check(weightGroups: weightGroups) }
        let total = analysis.layers.count * (approximations.count + (weightGroups ?? 0)) + components.count
        let layerEntries = try analysis.measure(approximations) { done, _ in ProgressBar.standardError.update(done, total) }
        let structureEntries = try analysis.measure(removing: components) { done, _ in
            ProgressBar.standardError.update(layerEntries.count + done, total)
        }
        let groupEntries = try weightGroups.map { groups in
            try analysis.measure(weightGroups: groups) { done, _ in
                ProgressBar.standardError.update(layerEntries.count + structureEntries.count + done, total)
            }
        } ?? []
        ProgressBar.standardError.finish()
        let ranked = Self.ranked(layerEntries + structureEntries + groupEntries)

        let nameWidth = max(9, ranked.map(\.component.count).max() ?? 0)
        func row(_ cells: [String]) -> String {
            zip(cells, [5, nameWidth, 12, 14, 13, 13, 13]).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " ")
        }
        print("\(analysis.measureName) of the unmodified model: \(Self.number(analysis.baseline.loss)) over \(analysis.baseline.sampleLosses.count) samples")
        print(row(["rank", "component", "N×K/params", "approximation", analysis.measureName, "significance", "samples worse"]))
        for (rank, entry) in ranked.enumerated() {
            let shape = entry.kind == .linearLayer ? analysis.layers.first { $0.name == entry.component }.map { "\($0.n)×\($0.k)" } ?? "?"
                : "\(entry.parameters) w"
            print(row(["\(rank + 1)", entry.component, shape, entry.approximation.description, Self.number(entry.loss),
                       Self.number(entry.significance), String(format: "%.1f%%", 100 * entry.worseFraction)]))
        }
        if let json { try Self.write(Self.json(ranked, analysis: analysis, modelPath: model), to: json) }
        if let plot { try Self.write(SignificancePlot.svg(ranked, measure: analysis.measureName), to: plot) }
    }

    /// Most significant first; ties (e.g. several exact zeros) in graph order.
    static func ranked(_ entries: [SignificanceAnalysis.Entry]) -> [SignificanceAnalysis.Entry] {
        entries.enumerated().sorted { ($0.element.significance, -$0.offset) > ($1.element.significance, -$1.offset) }.map(\.element)
    }

    static func number(_ value: Double) -> String { value.isFinite ? String(format: "%.6g", value) : "inf" }

    /// The JSON report; a non-finite loss or significance is null.
    static func json(_ ranked: [SignificanceAnalysis.Entry], analysis: SignificanceAnalysis, modelPath: String) throws -> String {
        func finite(_ value: Double) -> Any { value.isFinite ? value : NSNull() }
        let shapes = Dictionary(uniqueKeysWithValues: analysis.layers.map { ($0.name, [$0.n, $0.k]) })
        let report: [String: Any] = [
            "model": modelPath,
            "measure": analysis.measureName,
            "samples": analysis.baseline.sampleLosses.count,
            "baseline": finite(analysis.baseline.loss),
            "components": ranked.enumerated().map { rank, entry -> [String: Any] in
                ["rank": rank + 1, "component": entry.component, "kind": entry.kind.rawValue, "shape": shapes[entry.component] ?? [],
                 "parameters": entry.parameters, "approximation": entry.approximation.description,
                 "loss": finite(entry.loss), "significance": finite(entry.significance), "worse_fraction": entry.worseFraction]
            },
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func write(_ text: String, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw SwiftletError.invalidArgument("cannot write '\(path)'")
        }
    }
}
