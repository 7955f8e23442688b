/// What the compressed forms of `Linear` share: Y[…, N] = activation(X[…, K] · Wᵀ + bias[N]) with
/// the weight W [N, K] held in an encoding (int8, MX, sparse) spread over constant inputs 1…,
/// and an optional F32 bias as the last input. Encoded weights are stored output-channel-major
/// ([N, K], unlike dense Linear's [K, N]) because every encoding groups along K: per-channel
/// scales are per row, MX blocks run along K, sparse rows list their nonzero K positions.
public protocol EncodedLinearOp: LinearLayerOp {
    /// Inputs before the optional bias (X and the encoding's tensors).
    static var encodingInputs: Int { get }
    /// (N, K) for these operands, after checking the encoding's tensors against X's K.
    func weightShape(_ inputs: [TensorType?]) throws -> (n: Int, k: Int)
    /// Writes W as dense floats [N, K] (the reference kernels' view of the weight).
    func decodeWeight(_ args: KernelArguments, _ inputs: [TensorType?], n: Int, k: Int, into dense: UnsafeMutablePointer<Float>)
}

extension EncodedLinearOp {
    public static var inputArity: ClosedRange<Int> { encodingInputs...(encodingInputs + 1) }
    public static var outputArity: ClosedRange<Int> { 1...1 }

    /// The encoding's tensors must be constants: kernels trust what was checked when the model opened.
    func requireConstantEncoding(_ constants: [TensorType?]) throws {
        for index in 1..<Self.encodingInputs where constants[index] == nil {
            throw shapeError("input \(index) (part of the encoded weight) must be a stored tensor")
        }
        if constants.count > Self.encodingInputs, let bias = constants[Self.encodingInputs], bias.dtype != .f32 || bias.rank != 1 {
            throw shapeError("bias must be an F32 vector, got \(bias)")
        }
    }

    /// (rows M, K, N), checking X and the bias.
    public func dimensions(_ inputs: [TensorType?]) throws -> (m: Int, k: Int, n: Int) {
        let x = inputs[0]!
        try requireFloat(x, "X")
        guard x.rank >= 1 else { throw shapeError("X must have rank ≥ 1, got \(x.shape)") }
        let (n, k) = try weightShape(inputs)
        guard x.shape.last! == k else { throw shapeError("X's last dim \(x.shape.last!) differs from the weight's K \(k)") }
        if inputs.count > Self.encodingInputs, let bias = inputs[Self.encodingInputs] {
            try requireFloat(bias, "bias")
            guard bias.shape == [n] else { throw shapeError("bias must have shape [\(n)], got \(bias.shape)") }
        }
        return (x.shape.dropLast().reduce(1, *), k, n)
    }

    /// The bias pointer of a kernel call, if the node has one.
    public func bias(_ args: KernelArguments) -> UnsafePointer<Float>? { args.optionalInput(Self.encodingInputs) }

    /// Decode W, then the dense product in double precision.
    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (m, k, n) = try dimensions(inputs)
        return { args in
            let dense = UnsafeMutablePointer<Float>.allocate(capacity: max(n * k, 1))
            defer { dense.deallocate() }
            decodeWeight(args, inputs, n: n, k: k, into: dense)
            let x = args.input(0), bias = bias(args), y = args.output(0)
            for row in 0..<m {
                for column in 0..<n {
                    var sum = Double(bias?[column] ?? 0)
                    for i in 0..<k { sum += Double(x[row * k + i]) * Double(dense[column * k + i]) }
                    y[row * n + column] = activation.apply(Float(sum))
                }
            }
        }
    }
}
