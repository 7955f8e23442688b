/// The graph passes a session runs when `optimizeGraph` is on, in order. Each preserves what
/// the graph computes (up to fp32 rounding where it refactors arithmetic, e.g. BatchNorm folded
/// into weights); `swiftlet inspect --passes` shows op counts before and after.
public enum GraphPasses {
    /// `fusingConvolutions`: false keeps a residual Add a node of its own and every convolution
    /// one too (`Compressor`: what `--drop-layers` names, the convolutions pattern pruning
    /// rewrites and the file it writes keep the exporter's granularity; a session opening that
    /// file fuses them).
    public static func optimize(_ graph: Graph, _ constants: inout [String: ConstantTensor],
                                fusingConvolutions: Bool = true) throws -> Graph {
        var graph = try FoldConstants.apply(graph, &constants)
        graph = try EliminateDeadNodes.apply(graph, constants: constants.mapValues(\.type))
        graph = try FoldBatchNorm.apply(graph, &constants)
        graph = try FuseGelu.apply(graph, constants: constants)
        graph = try FuseLayerNorm.apply(graph, constants: constants)
        graph = try FuseAttention.apply(graph, constants: constants)
        graph = try FuseLinear.apply(graph, constants: constants)
        if fusingConvolutions { graph = try FuseConvResidual.apply(graph, constants: constants) }
        graph = try FuseActivation.apply(graph, constants: constants.mapValues(\.type))
        return fusingConvolutions ? try FuseExpandDepthwise.apply(graph, constants: constants) : graph
    }
}
