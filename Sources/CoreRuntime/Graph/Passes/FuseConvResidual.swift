/// `Add(Conv(X, W, B), Z)`, either operand order, becomes `Conv(X, W, B, Z)`: the convolution
/// adds Z in its epilogue (`ConvResidual`), so the residual connections of ResNet and MobileNetV2
/// no longer write the convolution's output and read it back; a `Relu` after the Add then folds
/// into the Conv's clamp (`FuseActivation` runs next), as onnxruntime fuses Conv + Add + Relu.
/// Only a Conv or PatternConv with no clamp and no Z yet (a clamp comes before the Add), whose
/// output the Add alone uses. Z keeps the Add's broadcasting, so any Z the Add took is taken.
enum FuseConvResidual {
    static func apply(_ graph: Graph, constants: [String: ConstantTensor]) throws -> Graph {
        var rewriter = GraphRewriter(graph, constants: constants)
        for add in graph.nodes where add.op is AddOp {
            for (index, operand) in add.inputs.enumerated() {
                guard let conv = rewriter.privateProducer(operand), let residualInput = residualInput(of: conv),
                      conv.inputs.count <= residualInput
                else { continue }
                // Absent optional inputs before Z (a bias) are "".
                let padded = conv.inputs + [String](repeating: "", count: residualInput - conv.inputs.count)
                try rewriter.replace(add, opType: conv.opType, inputs: padded + [add.inputs[1 - index]],
                                     attributes: conv.attributes.values, takingNameOf: conv)
                break
            }
        }
        return try rewriter.finish("Conv + Add → Conv with a residual")
    }

    /// Z's input index on a convolution that can take one and has no clamp yet.
    private static func residualInput(of node: Node) -> Int? {
        switch node.op {
        case let conv as ConvOp where conv.clamp.isNone: ConvOp.residualInput
        case let conv as PatternConvOp where conv.clamp.isNone: PatternConvOp.residualInput
        default: nil
        }
    }
}
