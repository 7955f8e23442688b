/// Multi-head attention as PyTorch's exporters (legacy and dynamo) write it, into one
/// `Attention` node:
///
///     Qt = Transpose(Q, [0,2,1,3])   Kt = Transpose(K, [0,2,3,1])   Vt = Transpose(V, [0,2,1,3])
///     S  = MatMul(Qt, Kt) / c  (or · c, or unscaled)   [+ mask]   → Softmax(last axis)
///     Y  = Transpose(MatMul(S, Vt), [0,2,1,3])
///
/// Q, K, V are [batch, seq, heads, size] (the Reshape views of the projections), so the fused
/// node reads them where they are and writes Y's layout directly: the four head transposes and
/// the [batch, heads, seq, seq] scores never exist in memory.
enum FuseAttention {
    static func apply(_ graph: Graph, constants: [String: ConstantTensor]) throws -> Graph {
        var rewriter = GraphRewriter(graph, constants: constants)
        for node in graph.nodes where isTranspose(node, [0, 2, 1, 3]) {
            guard let (inputs, scale) = match(node, rewriter) else { continue }
            try rewriter.replace(node, opType: AttentionOp.type, inputs: inputs, attributes: ["scale": .double(Double(scale))])
        }
        return try rewriter.finish("attention")
    }

    /// ([Q, K, V, mask?], scale) when `root` ends the chain.
    private static func match(_ root: Node, _ r: GraphRewriter) -> ([String], Float)? {
        guard let context = r.privateProducer(root.inputs[0]), context.op is MatMulOp,
              let probabilities = r.privateProducer(context.inputs[0]), let softmax = probabilities.op as? SoftmaxOp,
              softmax.axis == -1 || softmax.axis == 3, probabilities.inputs.count == 1,
              let v = transposed(context.inputs[1], [0, 2, 1, 3], r)
        else { return nil }
        // Scores + mask in either order; or unmasked scores.
        var candidates: [(String, String?)] = [(probabilities.inputs[0], nil)]
        if let add = r.privateProducer(probabilities.inputs[0]), add.op is AddOp {
            candidates = [(add.inputs[0], add.inputs[1]), (add.inputs[1], add.inputs[0])]
        }
        for (scores, mask) in candidates {
            guard let (productValue, scale) = scaled(scores, r),
                  let product = r.privateProducer(productValue), product.op is MatMulOp,
                  let q = transposed(product.inputs[0], [0, 2, 1, 3], r),
                  let k = transposed(product.inputs[1], [0, 2, 3, 1], r)
            else { continue }
            return ([q, k, v] + (mask.map { [$0] } ?? []), scale)
        }
        return nil
    }

    private static func isTranspose(_ node: Node, _ perm: [Int]) -> Bool {
        (node.op as? TransposeOp)?.perm == perm
    }

    /// The input of `value` = Transpose(input, perm).
    private static func transposed(_ value: String, _ perm: [Int], _ r: GraphRewriter) -> String? {
        guard let node = r.producer(value), isTranspose(node, perm) else { return nil }
        return node.inputs[0]
    }

    /// (product, scale) for `value` = product / c, product · c, or the product itself.
    private static func scaled(_ value: String, _ r: GraphRewriter) -> (String, Float)? {
        guard let node = r.privateProducer(value) else { return nil }
        switch node.op {
        case is MatMulOp: return (value, 1)
        case is DivOp:
            guard let c = r.scalar(node.inputs[1]), c != 0 else { return nil }
            return (node.inputs[0], 1 / c)
        case is MulOp:
            for (index, operand) in node.inputs.enumerated() {
                if let c = r.scalar(node.inputs[1 - index]) { return (operand, c) }
            }
            return nil
        default: return nil
        }
    }
}
