/// The graph passes a session runs when `optimizeGraph` is on, in order. Each preserves what
/// the graph computes (up to fp32 rounding where it refactors arithmetic, e.g. BatchNorm folded
/// into weights); `swiftlet inspect --passes` shows op counts before and after.
public enum GraphPasses {
    public static func optimize(_ graph: Graph, _ constants: inout [String: ConstantTensor]) throws -> Graph {
        var graph = try FoldConstants.apply(graph, &constants)
        graph = try EliminateDeadNodes.apply(graph, constants: constants.mapValues(\.type))
        graph = try FoldBatchNorm.apply(graph, &constants)
        graph = try FuseGelu.apply(graph, constants: constants)
        graph = try FuseLayerNorm.apply(graph, constants: constants)
        graph = try FuseAttention.apply(graph, constants: constants)
        graph = try FuseLinear.apply(graph, constants: constants)
        return try FuseActivation.apply(graph, constants: constants.mapValues(\.type))
    }
}
