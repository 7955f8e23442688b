/// `Conv` with a pattern-sparse weight (`PatternSparseWeight`): inputs X [N, C, H, W] F32,
/// values [kernels, E] F32, patterns [P, E] I32, pattern_ids [kernels] U8, channels [kernels]
/// I32, kernel_pointers [M + 1] I32, bias? [M] F32, Z? (Conv's residual, `ConvResidual`);
/// attribute `weight_shape` [M, C/group, kH, kW]
/// and Conv's `strides`, `pads`, `dilations`, `group`, `clip_min`, `clip_max`. The index arrays
/// are checked when the model opens.
public struct PatternConvOp: Operator {
    public static let type = "PatternConv"
    /// X and the encoding's five tensors, before the optional bias.
    public static let encodingInputs = 6
    public static let inputArity = 6...8
    /// Z's input index.
    public static let residualInput = encodingInputs + 1
    public static let outputArity = 1...1
    /// The convolution the encoded weight takes part in (its attributes, not its weight).
    public let conv: ConvOp
    public let weightShape: [Int]

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(Set(["strides", "pads", "dilations", "group", "weight_shape"]).union(FusedClamp.attributeNames), op: Self.type)
        guard let shape = try attributes.ints("weight_shape"), shape.count == 4, shape.allSatisfy({ (1...Shape.maxDim).contains($0) }) else {
            throw attributes.error("weight_shape", "must be [M, C/group, kH, kW] with 1 ≤ each < 2³¹")
        }
        // The file holds only the kept taps, so nothing else bounds kH·kW and the dense weight
        // the reference kernel decodes.
        if let problem = Shape.boundsProblem(shape) { throw attributes.error("weight_shape", problem) }
        weightShape = shape
        conv = try ConvOp(attributes: Attributes(attributes.values.filter { $0.key != "weight_shape" }, nodeName: attributes.nodeName),
                          inputCount: 3, outputCount: 1)
        guard shape[0] % conv.group == 0 else {
            throw attributes.error("weight_shape", "has \(shape[0]) output channels, which group \(conv.group) does not divide")
        }
    }

    public var clamp: FusedClamp { conv.clamp }

    public func validateConstants(_ constants: [TensorType?]) throws {
        for index in 1..<Self.encodingInputs where constants[index] == nil {
            throw shapeError("input \(index) (part of the encoded weight) must be a stored tensor")
        }
        let values = constants[1]!, patterns = constants[2]!, ids = constants[3]!, channels = constants[4]!, pointers = constants[5]!
        guard patterns.dtype == .i32, patterns.rank == 2, (1...256).contains(patterns.shape[0]),
              (1...(weightShape[2] * weightShape[3])).contains(patterns.shape[1]) else {
            throw shapeError("patterns must be I32 [P, E] with 1 ≤ P ≤ 256 and 1 ≤ E ≤ \(weightShape[2] * weightShape[3]), got \(patterns)")
        }
        let kernels = channels.shape.first ?? -1
        guard channels.dtype == .i32, channels.rank == 1 else { throw shapeError("channels must be I32 [kernels], got \(channels)") }
        guard values.dtype == .f32, values.shape == [kernels, patterns.shape[1]] else {
            throw shapeError("values must be F32 [\(kernels), \(patterns.shape[1])], got \(values)")
        }
        guard ids.dtype == .u8, ids.shape == [kernels] else { throw shapeError("pattern_ids must be U8 [\(kernels)], got \(ids)") }
        guard pointers.dtype == .i32, pointers.shape == [weightShape[0] + 1] else {
            throw shapeError("kernel_pointers must be I32 [\(weightShape[0] + 1)], got \(pointers)")
        }
        if constants.count > Self.encodingInputs, let bias = constants[Self.encodingInputs], bias.dtype != .f32 || bias.shape != [weightShape[0]] {
            throw shapeError("bias must be F32 [\(weightShape[0])], got \(bias)")
        }
    }

    public func validateConstantValues(_ constants: [ConstantTensor?]) throws {
        func buffer<T>(_ index: Int, _ type: T.Type) -> UnsafeBufferPointer<T> {
            UnsafeBufferPointer(start: constants[index]!.data.assumingMemoryBound(to: T.self), count: constants[index]!.type.count)
        }
        try PatternSparseWeight.validate(shape: weightShape, patterns: buffer(2, Int32.self), entries: constants[2]!.type.shape[1],
                                         kernelPointers: buffer(5, Int32.self), channels: buffer(4, Int32.self),
                                         patternIDs: buffer(3, UInt8.self))
    }

    /// The geometry of the convolution with the dense weight's shape.
    public func geometry(_ inputs: [TensorType?]) throws -> ConvOp.Geometry {
        try conv.geometry([inputs[0], TensorType(.f32, weightShape), inputs.count > Self.encodingInputs ? inputs[Self.encodingInputs] : nil])
    }

    /// The residual Z among `inputs` (nil when absent), for a convolution of geometry `g`.
    public func residual(_ inputs: [TensorType?], _ g: ConvOp.Geometry) throws -> ConvResidual? {
        try ConvResidual(inputs, input: Self.residualInput, convolutionShape: g.outputShape, clamp: clamp)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let g = try geometry(inputs)
        return [TensorType(.f32, try residual(inputs, g)?.outputShape ?? g.outputShape)]
    }

    /// Only the kept taps are multiplied.
    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        guard let g = try? geometry(inputs), let values = inputs[1] else { return 0 }
        return Shape.saturatingProduct(g.batch * g.outH * g.outW, 2, values.count)
            + ConvResidual.flops(inputs, input: Self.residualInput, outputCount: outputs[0].count)
    }

    /// Decode W, then the dense convolution in double precision.
    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let g = try geometry(inputs)
        let (shape, entries) = (weightShape, inputs[2]!.shape[1])
        return ConvOp.convolving(g, clamp, residual: try residual(inputs, g), biasInput: Self.encodingInputs) { args, body in
            let dense = UnsafeMutablePointer<Float>.allocate(capacity: shape.reduce(1, *))
            defer { dense.deallocate() }
            PatternSparseWeight.densify(shape: shape, patterns: args.input(2, as: Int32.self), entries: entries,
                                        kernelPointers: args.input(5, as: Int32.self), channels: args.input(4, as: Int32.self),
                                        patternIDs: args.input(3, as: UInt8.self), values: args.input(1), into: dense)
            body(UnsafePointer(dense))
        }
    }
}
