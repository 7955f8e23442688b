/// LayerNorm as exporters write it element by element (opsets before 17, or hand-written
/// models), back into one `LayerNormalization` over the last axis:
///
///     d = x − ReduceMean(x);  y = d / Sqrt(ReduceMean(d²) + ε) · γ + β
///
/// with d² as Pow(d, 2) or d·d, both means over axes [-1] with keepdims, ε a scalar constant and
/// γ, β constant vectors of one length. Also `LayerNormalization(Add(x, skip))` becomes
/// `SkipLayerNormalization(x, skip)`: the residual sum is written into the output and normalized
/// there.
enum FuseLayerNorm {
    static func apply(_ graph: Graph, constants: [String: ConstantTensor]) throws -> Graph {
        var decomposed = GraphRewriter(graph, constants: constants)
        for node in graph.nodes where node.op is AddOp {
            guard let (x, gamma, beta, epsilon) = match(node, decomposed) else { continue }
            try decomposed.replace(node, opType: LayerNormalizationOp.type, inputs: [x, gamma, beta],
                                   attributes: ["axis": .int(-1), "epsilon": .double(Double(epsilon))])
        }
        let graph = try decomposed.finish("LayerNorm")

        var residual = GraphRewriter(graph, constants: constants)
        for node in graph.nodes where node.op is LayerNormalizationOp {
            guard let sum = residual.privateProducer(node.inputs[0]), sum.op is AddOp else { continue }
            try residual.replace(node, opType: SkipLayerNormalizationOp.type, inputs: sum.inputs + node.inputs.dropFirst(),
                                 attributes: node.attributes.values)
        }
        return try residual.finish("Add + LayerNorm → SkipLayerNormalization")
    }

    /// (x, γ, β, ε) when `root` = Mul(normalized, γ) + β.
    private static func match(_ root: Node, _ r: GraphRewriter) -> (String, String, String, Float)? {
        for (index, operand) in root.inputs.enumerated() {
            let beta = root.inputs[1 - index]
            guard let betaType = vector(beta, r), let scaled = r.privateProducer(operand), scaled.op is MulOp else { continue }
            for (scaledIndex, normalizedValue) in scaled.inputs.enumerated() {
                let gamma = scaled.inputs[1 - scaledIndex]
                guard vector(gamma, r) == betaType, let divide = r.privateProducer(normalizedValue), divide.op is DivOp,
                      let (x, epsilon) = normalization(divide, r)
                else { continue }
                return (x, gamma, beta, epsilon)
            }
        }
        return nil
    }

    /// (x, ε) when `divide` = d / Sqrt(ReduceMean(d²) + ε) with d = x − ReduceMean(x).
    private static func normalization(_ divide: Node, _ r: GraphRewriter) -> (String, Float)? {
        let d = divide.inputs[0]
        guard let centered = r.producer(d), centered.op is SubOp,
              let mean = r.producer(centered.inputs[1]), isLastAxisMean(mean), mean.inputs[0] == centered.inputs[0],
              let root = r.producer(divide.inputs[1]), root.op is SqrtOp,
              let shifted = r.producer(root.inputs[0]), shifted.op is AddOp
        else { return nil }
        for (index, operand) in shifted.inputs.enumerated() {
            guard let epsilon = r.scalar(shifted.inputs[1 - index]), epsilon >= 0,
                  let variance = r.producer(operand), isLastAxisMean(variance),
                  let square = r.producer(variance.inputs[0])
            else { continue }
            let isSquare = switch square.op {
            case is PowOp: square.inputs[0] == d && r.scalar(square.inputs[1]) == 2
            case is MulOp: square.inputs == [d, d]
            default: false
            }
            if isSquare { return (centered.inputs[0], epsilon) }
        }
        return nil
    }

    /// A ReduceMean over axes [-1] with keepdims, its axes fixed in the node.
    private static func isLastAxisMean(_ node: Node) -> Bool {
        guard let mean = node.op as? ReduceMeanOp, node.inputs.count == 1 else { return false }
        return mean.reduction.axes == [-1] && mean.reduction.keepDims
    }

    /// The length of an F32 constant vector.
    private static func vector(_ value: String, _ r: GraphRewriter) -> Int? {
        guard let tensor = r.constants[value], tensor.type.dtype == .f32, tensor.type.rank == 1 else { return nil }
        return tensor.type.shape[0]
    }
}
