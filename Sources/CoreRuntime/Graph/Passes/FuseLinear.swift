/// `MatMul(X, W)` with W a rank-2 constant, plus a following `Add` of a constant bias [N] (either
/// operand order), becomes one `Linear`; a `Relu` or `Gelu` after it becomes the Linear's
/// activation. This is what exporters write for `nn.Linear` on inputs of rank 3 (Gemm only
/// takes matrices).
enum FuseLinear {
    static func apply(_ graph: Graph, constants: [String: ConstantTensor]) throws -> Graph {
        var linear = GraphRewriter(graph, constants: constants)
        for node in graph.nodes where node.op is MatMulOp {
            guard weightColumns(node, linear) != nil else { continue }
            try linear.replace(node, opType: LinearOp.type, inputs: node.inputs)
        }
        // Bias: Add(MatMul(X, W), b) → Linear(X, W, b), the Add being the new root.
        for node in graph.nodes where node.op is AddOp {
            for (index, operand) in node.inputs.enumerated() {
                let bias = node.inputs[1 - index]
                guard let matMul = linear.privateProducer(operand), matMul.op is MatMulOp,
                      let columns = weightColumns(matMul, linear),
                      let tensor = linear.constants[bias], tensor.type.dtype == .f32, tensor.type.shape == [columns]
                else { continue }
                try linear.replace(node, opType: LinearOp.type, inputs: matMul.inputs + [bias])
                break
            }
        }
        let withBias = try linear.finish("MatMul + Add → Linear")

        var activations = GraphRewriter(withBias, constants: constants)
        for node in withBias.nodes {
            let activation: FusedActivation
            switch node.op {
            case is ReluOp: activation = .relu
            case let gelu as GeluOp: activation = gelu.usesTanh ? .geluTanh : .gelu
            default: continue
            }
            guard let producer = activations.privateProducer(node.inputs[0]), let op = producer.op as? LinearOp,
                  op.activation == .none, activations.isUntouched(producer)
            else { continue }
            try activations.replace(node, opType: LinearOp.type, inputs: producer.inputs,
                                    attributes: ["activation": .string(activation.rawValue)])
        }
        return try activations.finish("activation → Linear")
    }

    /// N when the MatMul's right operand is an F32 constant matrix [K, N].
    private static func weightColumns(_ matMul: Node, _ rewriter: GraphRewriter) -> Int? {
        guard let weight = rewriter.constants[matMul.inputs[1]], weight.type.dtype == .f32, weight.type.rank == 2 else { return nil }
        return weight.type.shape[1]
    }
}
