/// Folds `BatchNormalization(Conv(x, W, b))` into `Conv(x, W', b')` with
/// W'[m] = W[m]·k[m] and b'[m] = b[m]·k[m] + o[m], where y = x·k + o is the normalization's
/// per-channel affine form. Applies only when the Conv's output feeds nothing else and all
/// parameters are F32 constants, and the Conv has no fused clamp or residual; the result is exact
/// up to fp32 rounding of W'.
enum FoldBatchNorm {
    static func apply(_ graph: Graph, _ constants: inout [String: ConstantTensor]) throws -> Graph {
        var consumers: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs where !input.isEmpty { consumers[input, default: 0] += 1 } }
        for output in graph.outputs { consumers[output.name, default: 0] += 1 }
        let producers = Dictionary(graph.nodes.map { node in node.outputs.map { ($0, node) } }.joined(), uniquingKeysWith: { a, _ in a })

        var replaced: [String: Node] = [:]  // conv name → folded conv
        var removed = Set<String>()          // BN node names
        for bn in graph.nodes {
            // The normalization must follow the convolution itself: not a clamp or residual fused
            // into it (a graph read back from a .swl the passes already ran on).
            guard let norm = bn.op as? BatchNormalizationOp, let conv = producers[bn.inputs[0]],
                  let convOp = conv.op as? ConvOp, convOp.clamp.isNone, conv.inputs.count <= ConvOp.residualInput,
                  consumers[bn.inputs[0]] == 1, replaced[conv.name] == nil,
                  let weight = constants[conv.inputs[1]], weight.type.dtype == .f32, weight.type.rank == 4
            else { continue }
            let channels = weight.type.shape[0]
            let parameters = bn.inputs[1...4].compactMap { constants[$0] }
            guard parameters.count == 4, parameters.allSatisfy({ $0.type.dtype == .f32 && $0.type.shape == [channels] }) else { continue }
            let bias = conv.inputs.count > 2 && !conv.inputs[2].isEmpty ? constants[conv.inputs[2]] : nil
            if conv.inputs.count > 2 && !conv.inputs[2].isEmpty {
                guard let bias, bias.type.dtype == .f32, bias.type.shape == [channels] else { continue }
            }

            let perChannel = weight.type.count / max(channels, 1)
            var newWeight = Array(weight.floats)
            var newBias = [Float](repeating: 0, count: channels)
            for m in 0..<channels {
                let (k, o) = norm.affine(scale: parameters[0].floats[m], bias: parameters[1].floats[m],
                                         mean: parameters[2].floats[m], variance: parameters[3].floats[m])
                for i in 0..<perChannel { newWeight[m * perChannel + i] *= k }
                newBias[m] = (bias?.floats[m] ?? 0) * k + o
            }
            let weightName = uniqueName("\(conv.name).folded_weight", constants)
            constants[weightName] = .owning(weight.type.shape, floats: newWeight)
            let biasName = uniqueName("\(conv.name).folded_bias", constants)
            constants[biasName] = .owning([channels], floats: newBias)
            replaced[conv.name] = try Node(name: conv.name, opType: conv.opType,
                                           inputs: [conv.inputs[0], weightName, biasName],
                                           outputs: bn.outputs, attributes: conv.attributes.values)
            removed.insert(bn.name)
        }
        guard !removed.isEmpty else { return graph }
        Log.logger.debug("folded \(removed.count) BatchNormalization node(s) into Conv")
        let nodes = graph.nodes.compactMap { removed.contains($0.name) ? nil : (replaced[$0.name] ?? $0) }
        return try Graph(inputs: graph.inputs, outputs: graph.outputs, nodes: nodes, constants: constants.mapValues(\.type))
    }

    private static func uniqueName(_ base: String, _ taken: [String: ConstantTensor]) -> String {
        var name = base, counter = 1
        while taken[name] != nil { name = "\(base).\(counter)"; counter += 1 }
        return name
    }
}
