/// A 1×1 convolution and the depthwise convolution that alone reads its output, as one node
/// (`FuseExpandDepthwise` makes it from MobileNet-style blocks): inputs X [N, C, H, W], W1
/// [E, C, 1, 1], W2 [E, 1, kH, kW], B1? [E] (absent: ""), B2? [E]; E = Conv(X, W1, B1) clamped
/// to [expansion_clip_min, expansion_clip_max], then Y = Conv(E, W2, B2) with group E and the
/// second convolution's `strides`, `pads`, `dilations`, `kernel_shape`, `clip_min`, `clip_max`.
/// The node exists so a backend may compute Y without E ever being a tensor: the CPU's kernel
/// writes the expansion's sums straight into the depthwise layer's vector lanes.
public struct ExpandDepthwiseConvOp: Operator {
    public static let type = "ExpandDepthwiseConv"
    public static let inputArity = 3...5
    public static let outputArity = 1...1
    /// The expansion's clamp attributes (the depthwise layer's are Conv's own names).
    public static let expansionClampAttributes = ["clip_min": "expansion_clip_min", "clip_max": "expansion_clip_max"]
    /// The 1×1 convolution: stride 1, no padding, one group, its clamp.
    public let expansion: ConvOp
    /// The depthwise convolution (its group, the expanded channel count, is checked on the types).
    public let depthwise: ConvOp

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        let expansionNames = Set(Self.expansionClampAttributes.values)
        try attributes.allowOnly(Set(["strides", "pads", "dilations", "group", "kernel_shape"]).union(FusedClamp.attributeNames)
            .union(expansionNames), op: Self.type)
        let renamed = Self.expansionClampAttributes.compactMap { name, fused in attributes.values[fused].map { (name, $0) } }
        expansion = try ConvOp(attributes: Attributes(Dictionary(uniqueKeysWithValues: renamed), nodeName: attributes.nodeName),
                               inputCount: 3, outputCount: 1)
        depthwise = try ConvOp(attributes: Attributes(attributes.values.filter { !expansionNames.contains($0.key) },
                                                      nodeName: attributes.nodeName), inputCount: 3, outputCount: 1)
    }

    /// This node's inputs of each convolution: X, W1, B1 and (E, W2, B2), nil for E and absent biases.
    public static let expansionInputIndices: [Int?] = [0, 1, 3]
    public static let depthwiseInputIndices: [Int?] = [nil, 2, 4]

    /// Each convolution's input types among this node's, E's given.
    public func expansionInputs(_ inputs: [TensorType?]) -> [TensorType?] { inputs.picking(Self.expansionInputIndices, absent: nil) }
    public func depthwiseInputs(_ inputs: [TensorType?], expanded: TensorType?) -> [TensorType?] {
        [expanded] + inputs.picking(Self.depthwiseInputIndices, absent: nil).dropFirst()
    }

    /// Both geometries; the second must be depthwise over the expanded channels.
    public func geometries(_ inputs: [TensorType?]) throws -> (expansion: ConvOp.Geometry, depthwise: ConvOp.Geometry) {
        let e = try expansion.geometry(expansionInputs(inputs))
        guard e.kernelH == 1, e.kernelW == 1 else { throw shapeError("W1 must be [E, C, 1, 1], got \(inputs[1]!.shape)") }
        let d = try depthwise.geometry(depthwiseInputs(inputs, expanded: TensorType(.f32, e.outputShape)))
        guard d.isDepthwise else {
            throw shapeError("W2 \(inputs[2]!.shape) with group \(depthwise.group) is not depthwise over \(e.outChannels) channels")
        }
        return (e, d)
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        try expansion.validateConstants(expansionInputs(constants))
        try depthwise.validateConstants(depthwiseInputs(constants, expanded: nil))
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        [TensorType(.f32, try geometries(inputs).depthwise.outputShape)]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        guard let (e, d) = try? geometries(inputs) else { return 0 }
        return Shape.saturatingProduct(e.outputShape.reduce(1, *), 2, e.reduction)
            + Shape.saturatingProduct(d.outputShape.reduce(1, *), 2, d.reduction)
    }

    /// Both reference convolutions, E in a temporary: what the two nodes computed.
    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (e, d) = try geometries(inputs)
        let (expansionClamp, depthwiseClamp) = (expansion.clamp, depthwise.clamp)
        return { args in
            let expanded = UnsafeMutablePointer<Float>.allocate(capacity: e.outputShape.reduce(1, *))
            defer { expanded.deallocate() }
            ConvOp.convolve(e, expansionClamp, x: args.input(0), w: args.input(1), bias: args.optionalInput(3), y: expanded)
            ConvOp.convolve(d, depthwiseClamp, x: expanded, w: args.input(2), bias: args.optionalInput(4), y: args.output(0))
        }
    }
}
