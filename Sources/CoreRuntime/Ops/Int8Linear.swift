/// `Linear` with int8 weights per output channel and int8 activations:
/// inputs X [… , K] F32, W [N, K] I8, w_scale [N] F32, bias? [N] F32.
/// Each row of X is quantized symmetrically (`Int8Quantization`: dynamically per row, or with the
/// calibrated `x_scale` when it is > 0), products are summed exactly in int32, and
/// Y[m, n] = act(Float(Σ xq·wq) · (x_scale_m · w_scale_n) + bias[n]).
public struct Int8LinearOp: EncodedLinearOp {
    public static let type = "Int8Linear"
    public static let encodingInputs = 3
    public let activation: FusedActivation
    /// The static activation scale; 0 quantizes each row with its own max|x|/127.
    public let staticScale: Float

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["activation", "x_scale"], op: Self.type)
        activation = try Self.parseActivation(attributes)
        staticScale = try attributes.float("x_scale", default: 0)
        guard staticScale >= 0, staticScale.isFinite else { throw attributes.error("x_scale", "must be finite and ≥ 0 (0: dynamic)") }
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        try requireConstantEncoding(constants)
        let w = constants[1]!, scales = constants[2]!
        guard w.dtype == .i8, w.rank == 2 else { throw shapeError("W must be an I8 matrix [N, K], got \(w)") }
        guard scales.dtype == .f32, scales.shape == [w.shape[0]] else { throw shapeError("w_scale must be F32 [\(w.shape[0])], got \(scales)") }
    }

    public func weightShape(_ inputs: [TensorType?]) throws -> (n: Int, k: Int) {
        (inputs[1]!.shape[0], inputs[1]!.shape[1])
    }

    public func decodeWeight(_ args: KernelArguments, _ inputs: [TensorType?], n: Int, k: Int, into dense: UnsafeMutablePointer<Float>) {
        let codes = args.input(1, as: Int8.self), scales = args.input(2)
        for row in 0..<n { for i in 0..<k { dense[row * k + i] = Float(codes[row * k + i]) * scales[row] } }
    }

    /// The quantized arithmetic itself (the oracle for the CPU's int8 kernel): not the dense
    /// product of decoded weights, which would differ by the activations' rounding.
    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (m, k, n) = try dimensions(inputs)
        let staticScale = self.staticScale
        return { args in
            let x = args.input(0), w = args.input(1, as: Int8.self), wScale = args.input(2), bias = bias(args), y = args.output(0)
            let codes = UnsafeMutablePointer<Int8>.allocate(capacity: max(k, 1))
            defer { codes.deallocate() }
            for row in 0..<m {
                let xScale = Int8Quantization.activationScale(x + row * k, count: k, staticScale: staticScale)
                Int8Quantization.quantizeRow(x + row * k, count: k, scale: xScale, into: codes)
                for column in 0..<n {
                    var sum: Int32 = 0
                    for i in 0..<k { sum &+= Int32(codes[i]) * Int32(w[column * k + i]) }
                    y[row * n + column] = activation.apply(Float(sum) * (xScale * wScale[column]) + (bias?[column] ?? 0))
                }
            }
        }
    }
}
