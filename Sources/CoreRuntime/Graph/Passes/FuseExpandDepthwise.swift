/// `Conv(Conv(X, W1, B1), W2, B2)` becomes `ExpandDepthwiseConv(X, W1, W2, B1, B2)` where the first
/// is a 1×1 convolution (stride 1, no padding, one group, no residual) whose output only the
/// second reads, and the second is depthwise over its channels (group = channels, constant W2
/// [E, 1, kH, kW]) with no residual: a MobileNetV2 block's expansion and depthwise layer, each
/// with its fused clamp (so this runs after `FuseActivation`). The node keeps the depthwise
/// layer's name. A backend can then skip writing the expanded tensor (ExpandDepthwiseConvOp).
enum FuseExpandDepthwise {
    static func apply(_ graph: Graph, constants: [String: ConstantTensor]) throws -> Graph {
        var rewriter = GraphRewriter(graph, constants: constants)
        for node in graph.nodes {
            guard let depthwise = node.op as? ConvOp, node.inputs.count <= 3, let weight = constants[node.inputs[1]]?.type,
                  weight.rank == 4, weight.shape[1] == 1, depthwise.group == weight.shape[0], depthwise.group > 1,
                  let producer = rewriter.privateProducer(node.inputs[0]), let expansion = producer.op as? ConvOp,
                  producer.inputs.count <= 3, isPointwise(expansion, weight: constants[producer.inputs[1]]?.type,
                                                          channels: depthwise.group)
            else { continue }
            var attributes = node.attributes.values
            for (name, fused) in ExpandDepthwiseConvOp.expansionClampAttributes {
                if let value = producer.attributes.values[name] { attributes[fused] = value }
            }
            func bias(_ inputs: [String]) -> String { inputs.count > 2 ? inputs[2] : "" }
            var inputs = [producer.inputs[0], producer.inputs[1], node.inputs[1], bias(producer.inputs), bias(node.inputs)]
            while inputs.last == "" { inputs.removeLast() }
            try rewriter.replace(node, opType: ExpandDepthwiseConvOp.type, inputs: inputs, attributes: attributes)
        }
        return try rewriter.finish("Conv 1×1 + depthwise Conv → ExpandDepthwiseConv")
    }

    /// A 1×1, stride-1, unpadded convolution of one group into `channels` channels.
    private static func isPointwise(_ conv: ConvOp, weight: TensorType?, channels: Int) -> Bool {
        guard let weight, weight.rank == 4, weight.shape[0] == channels, weight.shape[2] == 1, weight.shape[3] == 1 else {
            return false
        }
        return conv.group == 1 && conv.strides == [1, 1] && conv.pads == [0, 0, 0, 0]
    }
}
