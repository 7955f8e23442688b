/// `swiftlet compress --calibration`: static int8 activation scales. The model (after the graph
/// passes `Compressor` runs, so the layers are the ones it encodes) is run once on the
/// calibration data with every linear layer's input also made a graph output; each layer's scale
/// is max |x| of its input over all that data, / 127 (`Int8Linear`'s `x_scale`). At run time
/// rows are then quantized with that one scale — no per-row max to find — and values beyond the
/// calibrated range saturate at ±127.
public enum ActivationCalibration {
    /// Layer name → max |x| of its input over `data` (NaN ignored; 0 for an all-zero input).
    /// `makeSession` opens the instrumented model (backend and threads are the caller's choice).
    public static func inputRanges(of model: Model, data: [String: HostTensor],
                                   makeSession: (Model) throws -> Session) throws -> [String: Float] {
        let optimized = try Compressor.Optimized(model)
        let graph = optimized.graph
        // A tap per layer: its input reshaped to [rows, K], so its rank is known without shape inference.
        var taps: [(layer: String, output: ValueInfo, node: Node)] = []
        for node in graph.nodes {
            guard let layer = Compressor.linearLayer(node, optimized.constants) else { continue }
            let name = "__calibration_\(taps.count)"
            let reshape = try Node(name: name, opType: ReshapeOp.type, inputs: [node.inputs[0]], outputs: [name],
                                   attributes: ["shape": .array([.int(-1), .int(layer.k)])])
            taps.append((node.name, ValueInfo(name: name, dtype: .f32, dims: [.symbol(name + "_rows"), .fixed(layer.k)]), reshape))
        }
        guard !taps.isEmpty else { throw SwiftletError.invalidArgument("the model has no linear layers to calibrate") }
        let tensors = optimized.readConstants
        let instrumented = try Graph(inputs: graph.inputs, outputs: graph.outputs + taps.map(\.output),
                                     nodes: graph.nodes + taps.map(\.node), constants: tensors.mapValues { TensorType($0.dtype, $0.shape) })
        let bytes = SWLWriter.serialize(graph: instrumented, tensors: tensors)
        let tapped = try bytes.withUnsafeBytes { try Model(bytes: ModelBytes.copy(of: $0)) }
        let outputs = try makeSession(tapped).run(data).outputs
        var ranges: [String: Float] = [:]
        for tap in taps {
            guard let values = outputs[tap.output.name] else { throw SwiftletError(.internal, "calibration output '\(tap.output.name)' missing") }
            ranges[tap.layer] = values.floats.reduce(0) { amax, value in abs(value) > amax ? abs(value) : amax }
        }
        return ranges
    }
}
