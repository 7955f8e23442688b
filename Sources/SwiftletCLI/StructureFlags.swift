import ArgumentParser
import CoreRuntime

/// The structures that count as components: what `analyze` measures, each removed, and what
/// `compress --auto` may remove.
struct StructureFlags: ParsableArguments {
    @Flag(help: "Every attention head, removed.")
    var heads = false

    @Option(help: "Each FFN's neurons in this many contiguous groups, each removed.")
    var neuronGroups: Int?

    @Option(name: .customLong("block"), help: "GLOB: the block of nodes GLOB names (e.g. '/layer.3/*'), dropped; repeatable.")
    var blocks: [String] = []

    var any: Bool { heads || neuronGroups != nil || !blocks.isEmpty }

    /// The components these flags name, each checked by removing it; a flag that finds nothing
    /// in the model is an error, not an empty list.
    func components(of analysis: SignificanceAnalysis) throws -> [SignificanceAnalysis.StructuralComponent] {
        guard any else { return [] }
        let components = try analysis.structuralComponents(heads: heads, neuronGroups: neuronGroups, blocks: blocks)
        if heads, !components.contains(where: { $0.kind == .head }) {
            throw ValidationError("--heads: the model has no Attention node (after the graph passes)")
        }
        if neuronGroups != nil, !components.contains(where: { $0.kind == .neuronGroup }) {
            throw ValidationError("--neuron-groups: the model has no FFN (a linear layer feeding only another)")
        }
        return components
    }
}
