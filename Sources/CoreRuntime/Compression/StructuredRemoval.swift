#if canImport(Glibc)
import Glibc
#endif

/// Structured removal: attention heads, FFN neurons and whole blocks taken out of a model. The
/// graph actually shrinks — the projections lose the heads' columns and rows, the FFN layers
/// the neurons', a dropped block's nodes are gone — so nothing is multiplied by zero.
///
/// Each removal equals zeroing weights in the original model, which is how the tests check it:
/// - a head h of an `Attention` node: its context rows `h·D ..< (h+1)·D` of the output
///   projection's weight are zero (its Q/K/V columns then matter to nothing);
/// - an FFN neuron j (first linear layer L1, activation, second linear layer L2): row j of L2's
///   weight is zero;
/// - a block (the nodes a glob names): the one value it hands on that has the type of a value it
///   reads (and depends on it) replaced by that value, as if the block were the identity. For a
///   whole residual block (a transformer layer, a ResNet basic block) that is removing it; for
///   part of one it is replacing that part by the identity.
public struct StructuredRemoval: Sendable {
    /// Which neurons of a feed-forward pair to remove.
    public enum NeuronSelection: Sendable {
        /// These neuron indices (L1's output columns).
        case indices([Int])
        /// This share of L1's neurons, those with the smallest ‖L1 column‖ · ‖L2 row‖.
        case smallest(fraction: Double)

        /// "50%" (the smallest half), or indices and ranges: "0,5,8-15".
        public init(parsing text: String) throws {
            if text.hasSuffix("%") {
                guard let percent = Double(text.dropLast()), (0...100).contains(percent) else {
                    throw SwiftletError.invalidArgument("neuron share '\(text)' must be a percentage 0%…100%")
                }
                self = .smallest(fraction: percent / 100)
                return
            }
            self = .indices(try StructuredRemoval.parseIndices(text, what: "neuron"))
        }
    }

    /// (Attention-node glob, heads to remove): the first matching rule wins.
    public var heads: [(pattern: String, heads: [Int])] = []
    /// (glob of an FFN's first linear layer, neurons to remove): the first matching rule wins.
    public var neurons: [(pattern: String, selection: NeuronSelection)] = []
    /// Node-name globs, each naming one block (or a run of consecutive blocks) to drop.
    public var blocks: [String] = []

    public init() {}

    public var isEmpty: Bool { heads.isEmpty && neurons.isEmpty && blocks.isEmpty }

    /// This removal and `other` together. Rules are first-match-wins, so a second rule for the
    /// same glob would be ignored: its heads, or its neuron indices, join the first one's instead.
    /// (Rules with other globs for the same node, or a `.smallest` share, are appended and so lose
    /// to the first; `compress --auto`'s components name each node exactly, by indices.)
    public func merged(with other: StructuredRemoval) -> StructuredRemoval {
        var merged = self
        for rule in other.heads {
            if let index = merged.heads.firstIndex(where: { $0.pattern == rule.pattern }) {
                merged.heads[index].heads = Set(merged.heads[index].heads).union(rule.heads).sorted()
            } else {
                merged.heads.append(rule)
            }
        }
        for rule in other.neurons {
            if let index = merged.neurons.firstIndex(where: { $0.pattern == rule.pattern }),
               case .indices(let mine) = merged.neurons[index].selection, case .indices(let theirs) = rule.selection {
                merged.neurons[index].selection = .indices(Set(mine).union(theirs).sorted())
            } else {
                merged.neurons.append(rule)
            }
        }
        merged.blocks += other.blocks.filter { !merged.blocks.contains($0) }
        return merged
    }

    /// What was removed, for the report.
    public enum Change: Sendable, CustomStringConvertible {
        case heads(node: String, removed: [Int], of: Int)
        case neurons(first: String, second: String, removed: Int, of: Int)
        case block(pattern: String, nodes: Int, input: String, output: String)

        public var description: String {
            switch self {
            case .heads(let node, let removed, let count):
                "heads \(StructuredRemoval.describe(removed)) of \(count) removed from \(node)"
            case .neurons(let first, let second, let removed, let count):
                "\(removed) of \(count) neurons removed from \(first) → \(second)"
            case .block(let pattern, let nodes, let input, let output):
                "block '\(pattern)' dropped (\(nodes) nodes): '\(input)' passed on for '\(output)'"
            }
        }
    }

    /// Applies the removal to an optimized graph. `probed`: every value's type for one set of
    /// input shapes (`ShapeProbe`); new weights join `constants`.
    func apply(_ graph: Graph, _ constants: inout [String: ConstantTensor],
               probed: ShapeProbe) throws -> (graph: Graph, changes: [Change]) {
        var surgery = Surgery(graph: graph, probed: probed)
        var changes: [Change] = []
        for pattern in blocks { changes.append(try surgery.dropBlock(pattern)) }
        // A rule whose nodes a dropped block took is moot (the block went with its heads or
        // neurons); one that never matched is a mistake.
        let dropped = graph.nodes.filter { node in !surgery.nodes.contains { $0.name == node.name } }
        func moot(_ pattern: String) -> Bool { dropped.contains { fnmatch(pattern, $0.name, 0) == 0 } }
        for rule in heads where !surgery.nodes.contains(where: { $0.op is AttentionOp && fnmatch(rule.pattern, $0.name, 0) == 0 }) && !moot(rule.pattern) {
            throw SwiftletError.invalidArgument("--drop-heads '\(rule.pattern)' matches no Attention node of the model (after the graph passes)")
        }
        // Neuron rules apply to FFNs' first layers (a glob such as '/layer.0/*' names other layers too).
        let firstLayers = Set(StructuredRemoval.feedForwardPairs(surgery.nodes, graphOutputs: Set(graph.outputs.map(\.name)), constants).map(\.first))
        for rule in neurons where !firstLayers.contains(where: { fnmatch(rule.pattern, $0, 0) == 0 }) && !moot(rule.pattern) {
            throw SwiftletError.invalidArgument("--drop-neurons '\(rule.pattern)' matches no FFN's first linear layer (one whose output only another linear layer reads) after the graph passes")
        }
        for node in surgery.nodes where node.op is AttentionOp {
            guard let rule = heads.first(where: { fnmatch($0.pattern, node.name, 0) == 0 }) else { continue }
            changes.append(try surgery.removeHeads(Set(rule.heads), of: node.name, &constants))
        }
        for node in surgery.nodes where firstLayers.contains(node.name) {
            guard let rule = neurons.first(where: { fnmatch($0.pattern, node.name, 0) == 0 }) else { continue }
            changes.append(try surgery.removeNeurons(rule.selection, after: node.name, &constants))
        }
        let shrunk = try Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: surgery.nodes, constants: constants.mapValues(\.type))
        return (try EliminateDeadNodes.apply(shrunk, constants: constants.mapValues(\.type)), changes)
    }

    /// The FFNs of a graph: each linear layer (`first`) whose output only a second linear layer
    /// reads, as its input, with the neurons between them.
    static func feedForwardPairs(_ nodes: [Node], graphOutputs: Set<String>, _ constants: [String: ConstantTensor]) -> [(first: String, second: String, neurons: Int)] {
        nodes.indices.compactMap { first in
            guard let second = feedForwardSecond(of: first, in: nodes, graphOutputs: graphOutputs, constants),
                  let layer = Compressor.linearLayer(nodes[first], constants) else { return nil }
            return (nodes[first].name, nodes[second].name, layer.n)
        }
    }

    /// The index of the linear layer that alone reads linear layer `first`'s output as its input.
    static func feedForwardSecond(of first: Int, in nodes: [Node], graphOutputs: Set<String>, _ constants: [String: ConstantTensor]) -> Int? {
        guard Compressor.linearLayer(nodes[first], constants) != nil else { return nil }
        let hidden = nodes[first].outputs[0]
        let readers = nodes.indices.filter { nodes[$0].inputs.contains(hidden) }
        guard readers.count == 1, !graphOutputs.contains(hidden), let second = readers.first,
              nodes[second].inputs[0] == hidden, !nodes[second].inputs.dropFirst().contains(hidden),
              Compressor.linearLayer(nodes[second], constants) != nil else { return nil }
        return second
    }

    /// "0,5,8-15" → [0, 5, 8, …, 15] (sorted, without repeats).
    public static func parseIndices(_ text: String, what: String) throws -> [Int] {
        var indices = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.filter { $0 != " " }) }
            guard (1...2).contains(ends.count), let first = ends.first ?? nil, let last = ends.last ?? nil, first >= 0, first <= last else {
                throw SwiftletError.invalidArgument("\(what) list '\(text)' must be indices ≥ 0 and ranges A-B, comma-separated (e.g. 0,3,8-15)")
            }
            guard last < 1 << 24 else { throw SwiftletError.invalidArgument("\(what) index \(last) in '\(text)' is beyond any model's") }
            indices.formUnion(first...last)
        }
        return indices.sorted()
    }

    /// [0, 1, 2, 5] → "0-2,5".
    static func describe(_ indices: [Int]) -> String {
        var runs: [String] = []
        var index = 0
        while index < indices.count {
            var end = index
            while end + 1 < indices.count, indices[end + 1] == indices[end] + 1 { end += 1 }
            runs.append(end == index ? "\(indices[index])" : "\(indices[index])-\(indices[end])")
            index = end + 1
        }
        return runs.joined(separator: ",")
    }
}

/// The graph edits behind `StructuredRemoval`, on a mutable node list.
private struct Surgery {
    var nodes: [Node]
    let graph: Graph
    let probed: ShapeProbe
    var types: [String: TensorType] { probed.types }

    init(graph: Graph, probed: ShapeProbe) {
        nodes = graph.nodes
        self.graph = graph
        self.probed = probed
    }

    func index(of name: String) -> Int { nodes.firstIndex { $0.name == name }! }
    func producer(of value: String) -> Int? { nodes.firstIndex { $0.outputs.contains(value) } }
    /// Nodes reading `value` (once per reading node), and whether it is a graph output.
    func consumers(of value: String) -> (nodes: [Int], isOutput: Bool) {
        (nodes.indices.filter { nodes[$0].inputs.contains(value) }, graph.outputs.contains { $0.name == value })
    }

    /// The single node that reads `value`, when nothing else (no graph output) does; with
    /// `besidesShapes`, Shape nodes reading it do not count.
    func onlyConsumer(of value: String, besidesShapes: Bool = false) -> Int? {
        let (all, isOutput) = consumers(of: value)
        let readers = besidesShapes ? all.filter { !(nodes[$0].op is ShapeOp) } : all
        return readers.count == 1 && !isOutput ? readers[0] : nil
    }

    mutating func replace(_ index: Int, inputs: [String]) throws {
        let node = nodes[index]
        nodes[index] = try Node(name: node.name, opType: node.opType, inputs: inputs, outputs: node.outputs, attributes: node.attributes.values)
    }

    // MARK: Blocks

    /// The block's output (the one value it hands on that has a same-typed value it reads: the
    /// residual path) takes its input's place; what only the output needed is then dead and goes.
    /// Other values the block hands on (e.g. a padding mask computed once and shared by every
    /// layer) stay, with the nodes that make them.
    mutating func dropBlock(_ pattern: String) throws -> StructuredRemoval.Change {
        let members = Set(nodes.indices.filter { fnmatch(pattern, nodes[$0].name, 0) == 0 })
        guard !members.isEmpty else {
            throw SwiftletError.invalidArgument("--drop-layers '\(pattern)' matches no node of the model (after the graph passes)")
        }
        let produced = Set(members.flatMap { nodes[$0].outputs })
        let outgoing = produced.filter { value in
            let (readers, isOutput) = consumers(of: value)
            return isOutput || readers.contains { !members.contains($0) }
        }
        let incoming = Set(members.flatMap { nodes[$0].inputs }).filter { value in
            !value.isEmpty && !produced.contains(value) && (producer(of: value) != nil || graph.inputs.contains { $0.name == value })
        }
        let pairs = outgoing.sorted().flatMap { output in
            incoming.sorted().filter { types[$0] != nil && types[$0] == types[output] }.map { (input: $0, output: output) }
        }
        guard pairs.count == 1, let (input, output) = pairs.first else {
            let shown = pairs.prefix(4).map { "'\($0.input)' → '\($0.output)'" }.joined(separator: ", ")
            throw SwiftletError.invalidArgument("--drop-layers '\(pattern)': a block is dropped by passing its input on as its output, so exactly one value it hands on must have the shape of exactly one value it reads; \(pairs.isEmpty ? "none does" : "\(pairs.count) pairs do (\(shown))")")
        }
        // The pair must be a path through the block, not two values that happen to match.
        var reached: Set<String> = [input]
        var grew = true
        while grew {
            grew = false
            for index in members where !nodes[index].outputs.allSatisfy(reached.contains) && nodes[index].inputs.contains(where: reached.contains) {
                reached.formUnion(nodes[index].outputs)
                grew = true
            }
        }
        guard reached.contains(output) else {
            throw SwiftletError.invalidArgument("--drop-layers '\(pattern)': its output '\(output)' does not depend on '\(input)', the only value it reads with that shape: not a block to pass over")
        }
        let before = nodes.count
        for index in nodes.indices where !members.contains(index) && nodes[index].inputs.contains(output) {
            try replace(index, inputs: nodes[index].inputs.map { $0 == output ? input : $0 })
        }
        if graph.outputs.contains(where: { $0.name == output }) {
            // The output keeps its name: an Identity (a view, no copy) makes it from the input.
            let producing = producer(of: output)!
            guard nodes[producing].outputs.count == 1 else {
                throw SwiftletError.invalidArgument("--drop-layers '\(pattern)': '\(output)' comes from a node with several outputs")
            }
            nodes[producing] = try Node(name: "\(pattern) (dropped)", opType: IdentityOp.type, inputs: [input], outputs: [output])
        }
        nodes = EliminateDeadNodes.liveNodes(nodes, outputs: graph.outputs.map(\.name))
        return .block(pattern: pattern, nodes: before - nodes.count, input: input, output: output)
    }

    // MARK: Heads

    /// Q, K, V projections → Reshape [B, S, H, D] → Attention → Reshape [B, S, H·D] → output projection.
    mutating func removeHeads(_ removed: Set<Int>, of attentionName: String, _ constants: inout [String: ConstantTensor]) throws -> StructuredRemoval.Change {
        let attention = nodes[index(of: attentionName)]
        func refuse(_ why: String) -> SwiftletError {
            SwiftletError.invalidArgument("--drop-heads on '\(attentionName)': \(why)")
        }
        guard let q = types[attention.inputs[0]], q.rank == 4 else { throw refuse("Q's shape is unknown") }
        let (heads, size) = (q.shape[2], q.shape[3])
        if let bad = removed.first(where: { !(0..<heads).contains($0) }) { throw refuse("head \(bad) does not exist (it has \(heads))") }
        guard removed.count < heads else { throw refuse("all \(heads) heads would go: drop the layer instead") }
        if attention.inputs.count > 3, !attention.inputs[3].isEmpty, let mask = types[attention.inputs[3]], mask.rank >= 3, mask.shape[mask.rank - 3] != 1 {
            throw refuse("its mask \(probed.describe(mask.shape)) differs per head")
        }
        let kept = (0..<heads).filter { !removed.contains($0) }
        // Columns of Q/K/V (and rows of the output projection) that stay: whole heads.
        let keptChannels = kept.flatMap { head in (head * size)..<((head + 1) * size) }
        // Values whose width changes; Shape nodes reading them (exporters size the Reshapes from
        // them) must be dead once the Reshapes have constant shapes.
        var narrowed: [String] = []
        for input in 0..<3 {
            let value = attention.inputs[input]
            guard let split = producer(of: value), nodes[split].op is ReshapeOp, onlyConsumer(of: value, besidesShapes: true) != nil,
                  types[nodes[split].inputs[0]]?.rank == 3, let projection = producer(of: nodes[split].inputs[0]),
                  onlyConsumer(of: nodes[split].inputs[0], besidesShapes: true) == split,
                  let layer = Compressor.linearLayer(nodes[projection], constants), layer.n == heads * size
            else { throw refuse("input \(input) must be a Reshape to [B, S, H, D] of a linear layer's [B, S, H·D] output, which nothing else reads") }
            try shrink(projection, layer, outputs: keptChannels, inputs: nil, &constants)
            try reshape(split, to: [0, 0, kept.count, size])
            narrowed += [value, nodes[split].inputs[0]]
        }
        let context = attention.outputs[0]
        guard let merge = onlyConsumer(of: context, besidesShapes: true), nodes[merge].op is ReshapeOp, types[nodes[merge].outputs[0]]?.rank == 3,
              let projection = onlyConsumer(of: nodes[merge].outputs[0], besidesShapes: true), nodes[projection].inputs[0] == nodes[merge].outputs[0],
              let layer = Compressor.linearLayer(nodes[projection], constants), layer.k == heads * size
        else { throw refuse("its output must be Reshaped to [B, S, H·D] and read by one linear layer, the output projection") }
        try reshape(merge, to: [0, 0, kept.count * size])
        try shrink(projection, layer, outputs: nil, inputs: keptChannels, &constants)
        narrowed += [context, nodes[merge].outputs[0]]
        nodes = EliminateDeadNodes.liveNodes(nodes, outputs: graph.outputs.map(\.name))
        if let reader = nodes.first(where: { $0.op is ShapeOp && $0.inputs.contains(where: narrowed.contains) }) {
            throw refuse("'\(reader.name)' reads the shape of a projection it narrows for something besides the head Reshapes")
        }
        return .heads(node: attentionName, removed: removed.sorted(), of: heads)
    }

    /// The Reshape at `index`, with a constant `shape` attribute (0 copies the input's dimension:
    /// allowzero off) in place of whatever shape it had.
    mutating func reshape(_ index: Int, to shape: [Int]) throws {
        let node = nodes[index]
        nodes[index] = try Node(name: node.name, opType: ReshapeOp.type, inputs: [node.inputs[0]], outputs: node.outputs,
                                attributes: ["shape": .array(shape.map { .int($0) })])
    }

    /// Keeps only `outputs` (rows of W [N, K]: output channels, with the bias) and `inputs`
    /// (columns: input channels) of a linear layer.
    mutating func shrink(_ index: Int, _ layer: Compressor.LinearLayer, outputs: [Int]?, inputs: [Int]?,
                         _ constants: inout [String: ConstantTensor]) throws {
        let node = nodes[index]
        let rows = outputs ?? Array(0..<layer.n), columns = inputs ?? Array(0..<layer.k)
        let weight = layer.weight()
        var kept = [Float](repeating: 0, count: rows.count * columns.count)
        for (i, row) in rows.enumerated() { for (j, column) in columns.enumerated() { kept[i * columns.count + j] = weight[row * layer.k + column] } }
        // The stored orientation stays (Linear [K, N], Gemm transB [N, K]); new names, so a
        // weight shared with another node is left alone.
        if !layer.outputMajor { kept = Compressor.transpose(kept, rows: rows.count, columns: columns.count) }
        var newInputs = node.inputs
        newInputs[1] = node.name + ".w_shrunk"
        constants[newInputs[1]] = .owning(layer.outputMajor ? [rows.count, columns.count] : [columns.count, rows.count], floats: kept)
        if let bias = layer.bias, outputs != nil {
            let values = constants[bias]!.floats
            newInputs[2] = node.name + ".b_shrunk"
            constants[newInputs[2]] = .owning([rows.count], floats: rows.map { values[$0] })
        }
        try replace(index, inputs: newInputs)
    }

    // MARK: Neurons

    /// L1 (its fused activation is elementwise) → L2: L1's output columns and L2's input rows go together.
    mutating func removeNeurons(_ selection: StructuredRemoval.NeuronSelection, after firstName: String,
                                _ constants: inout [String: ConstantTensor]) throws -> StructuredRemoval.Change {
        let first = index(of: firstName)
        guard let second = StructuredRemoval.feedForwardSecond(of: first, in: nodes, graphOutputs: Set(graph.outputs.map(\.name)), constants),
              let firstLayer = Compressor.linearLayer(nodes[first], constants), let secondLayer = Compressor.linearLayer(nodes[second], constants)
        else {
            throw SwiftletError.invalidArgument("--drop-neurons on '\(firstName)': its output must feed exactly one linear layer (an FFN's first layer), and nothing else")
        }
        let count = firstLayer.n
        let removed: [Int]
        switch selection {
        case .indices(let indices):
            if let bad = indices.first(where: { $0 >= count }) {
                throw SwiftletError.invalidArgument("--drop-neurons on '\(firstName)': neuron \(bad) does not exist (it has \(count))")
            }
            removed = indices
        case .smallest(let fraction):
            // ‖L1 column j‖ · ‖L2 row j‖: how much neuron j can carry from input to output.
            let w1 = firstLayer.weight(), w2 = secondLayer.weight()
            let score = (0..<count).map { j in
                let incoming = (0..<firstLayer.k).reduce(Float(0)) { $0 + w1[j * firstLayer.k + $1] * w1[j * firstLayer.k + $1] }
                let outgoing = (0..<secondLayer.n).reduce(Float(0)) { $0 + w2[$1 * count + j] * w2[$1 * count + j] }
                return (incoming * outgoing).squareRoot()
            }
            removed = (0..<count).sorted { (score[$0], $0) < (score[$1], $1) }.prefix(Int((fraction * Double(count)).rounded())).sorted()
        }
        guard removed.count < count else {
            throw SwiftletError.invalidArgument("--drop-neurons on '\(firstName)': all \(count) neurons would go: drop the layer instead")
        }
        let removedSet = Set(removed)
        let kept = (0..<count).filter { !removedSet.contains($0) }
        try shrink(first, firstLayer, outputs: kept, inputs: nil, &constants)
        try shrink(second, secondLayer, outputs: nil, inputs: kept, &constants)
        return .neurons(first: firstName, second: nodes[second].name, removed: removed.count, of: count)
    }
}
