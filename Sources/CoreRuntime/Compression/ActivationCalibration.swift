/// What a linear layer's input looks like on given data, for the encodings that use it:
/// - `compress --calibration`: static int8 activation scales, max |x| of each layer's input / 127
///   (`Int8Linear`'s `x_scale`). At run time rows are then quantized with that one scale — no
///   per-row max to find — and values beyond the calibrated range saturate at ±127.
/// - `compress --guide significance`: each input column's norm ‖x_k‖₂, by which pruning weighs a
///   weight's magnitude (`Compressor.Plan.inputColumnNorms`).
/// The model (after the graph passes `Compressor` runs, so the layers are the ones it encodes) is
/// run once on the data with every linear layer's input also made a graph output.
public enum ActivationCalibration {
    /// One layer's input over all the data.
    public struct InputStatistics: Sendable {
        /// max |x| (NaN ignored; 0 for an all-zero input).
        public let maxAbs: Float
        /// ‖x_k‖₂ of each of the K input columns over every row (non-finite values left out).
        public let columnNorms: [Float]
    }

    /// Layer name → its input's statistics over `data`. `makeSession` opens the instrumented
    /// model (backend and threads are the caller's choice).
    public static func inputStatistics(of model: Model, data: [String: HostTensor],
                                       makeSession: (Model) throws -> Session) throws -> [String: InputStatistics] {
        let optimized = try Compressor.Optimized(model)
        let graph = optimized.graph
        // A tap per layer: its input reshaped to [rows, K], so its rank is known without shape inference.
        var taps: [(layer: String, k: Int, output: ValueInfo, node: Node)] = []
        for node in graph.nodes {
            guard let layer = Compressor.linearLayer(node, optimized.constants) else { continue }
            let name = "__calibration_\(taps.count)"
            let reshape = try Node(name: name, opType: ReshapeOp.type, inputs: [node.inputs[0]], outputs: [name],
                                   attributes: ["shape": .array([.int(-1), .int(layer.k)])])
            taps.append((node.name, layer.k, ValueInfo(name: name, dtype: .f32, dims: [.symbol(name + "_rows"), .fixed(layer.k)]), reshape))
        }
        guard !taps.isEmpty else { throw SwiftletError.invalidArgument("the model has no linear layers to calibrate") }
        let tensors = optimized.readConstants
        let instrumented = try Graph(inputs: graph.inputs, outputs: graph.outputs + taps.map(\.output),
                                     nodes: graph.nodes + taps.map(\.node), constants: tensors.mapValues { TensorType($0.dtype, $0.shape) })
        let bytes = SWLWriter.serialize(graph: instrumented, tensors: tensors)
        let tapped = try bytes.withUnsafeBytes { try Model(bytes: ModelBytes.copy(of: $0)) }
        let outputs = try makeSession(tapped).run(data).outputs
        var statistics: [String: InputStatistics] = [:]
        for tap in taps {
            guard let values = outputs[tap.output.name] else { throw SwiftletError(.internal, "calibration output '\(tap.output.name)' missing") }
            let floats = values.floats
            var squares = [Double](repeating: 0, count: tap.k)
            for (index, value) in floats.enumerated() where value.isFinite { squares[index % tap.k] += Double(value) * Double(value) }
            statistics[tap.layer] = InputStatistics(
                maxAbs: floats.reduce(0) { amax, value in abs(value) > amax ? abs(value) : amax },
                columnNorms: squares.map { Float($0.squareRoot()) })
        }
        return statistics
    }
}
