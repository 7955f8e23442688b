/// 2-D convolution, NCHW, W = [M, C/group, kH, kW], optional bias [M]; the output is clamped to
/// [clip_min, clip_max] (a fused activation). A fourth input Z, which ONNX's Conv does not have
/// (the importer refuses it there), is a residual added before the clamp (`ConvResidual`).
public struct ConvOp: Operator {
    public static let type = "Conv"
    public static let inputArity = 2...4
    /// Z's input index.
    public static let residualInput = 3
    public static let outputArity = 1...1
    public let strides: [Int]
    /// top, left, bottom, right
    public let pads: [Int]
    public let dilations: [Int]
    public let group: Int
    let kernelShape: [Int]?
    public private(set) var clamp: FusedClamp

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(Set(["strides", "pads", "dilations", "group", "kernel_shape"]).union(FusedClamp.attributeNames), op: Self.type)
        clamp = try FusedClamp(attributes)
        strides = try attributes.sizes("strides", count: 2, default: [1, 1], in: 1...Attributes.maxSize)
        pads = try attributes.sizes("pads", count: 4, default: [0, 0, 0, 0], in: 0...Attributes.maxSize)
        dilations = try attributes.sizes("dilations", count: 2, default: [1, 1], in: 1...Attributes.maxSize)
        group = try attributes.int("group", default: 1)
        kernelShape = attributes.values["kernel_shape"] == nil ? nil
            : try attributes.sizes("kernel_shape", count: 2, default: [], in: 1...Attributes.maxSize)
        guard group >= 1 else { throw attributes.error("group", "must be ≥ 1, got \(group)") }
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        if let w = constants[1] {
            guard w.dtype.isFloat, w.rank == 4 else { throw shapeError("W must be a float tensor [M, C/group, kH, kW], got \(w)") }
            guard w.shape[0] % group == 0 else { throw shapeError("group \(group) does not divide W's \(w.shape[0]) output channels") }
            if let kernelShape, kernelShape != Array(w.shape[2...]) {
                throw shapeError("kernel_shape \(kernelShape) differs from W's \(Array(w.shape[2...]))")
            }
        }
        if constants.count > 2, let b = constants[2] {
            guard b.dtype.isFloat, b.rank == 1, constants[1].map({ $0.shape[0] == b.shape[0] }) ?? true else {
                throw shapeError("B must be a float vector [M] matching W, got \(b)")
            }
        }
    }

    /// Sizes of one convolution, shared by every backend's kernel.
    public struct Geometry: Sendable {
        public let batch: Int, inChannels: Int, height: Int, width: Int
        public let outChannels: Int, kernelH: Int, kernelW: Int
        public let outH: Int, outW: Int
        public let group: Int
        public let strides: [Int], pads: [Int], dilations: [Int]
        public var inChannelsPerGroup: Int { inChannels / group }
        public var outChannelsPerGroup: Int { outChannels / group }
        /// Multiply-accumulates per output element.
        public var reduction: Int { inChannelsPerGroup * kernelH * kernelW }
        /// One filter per channel (group = C = M > 1).
        public var isDepthwise: Bool { group == inChannels && outChannels == inChannels && group > 1 }
        /// [N, M, outH, outW]: the convolution's output, before a residual broadcasts it.
        public var outputShape: [Int] { [batch, outChannels, outH, outW] }
    }

    public func geometry(_ inputs: [TensorType?]) throws -> Geometry {
        let x = inputs[0]!, w = inputs[1]!
        try requireFloat(x, "X")
        try requireFloat(w, "W")
        guard x.rank == 4 else { throw shapeError("X must be NCHW (rank 4), got \(x.shape)") }
        guard w.rank == 4 else { throw shapeError("W must be [M, C/group, kH, kW], got \(w.shape)") }
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
        guard c % group == 0, m % group == 0 else {
            throw shapeError("group \(group) does not divide input channels \(c) and output channels \(m)")
        }
        guard cg == c / group else { throw shapeError("W\(w.shape) expects \(cg * group) input channels, X has \(c)") }
        if let kernelShape, kernelShape != [kh, kw] {
            throw shapeError("kernel_shape \(kernelShape) differs from W's \([kh, kw])")
        }
        if let b = inputs[2] {
            try requireFloat(b, "B")
            guard b.shape == [m] else { throw shapeError("B must have shape [\(m)], got \(b.shape)") }
        }
        let spanH = dilations[0] * (kh - 1) + 1, spanW = dilations[1] * (kw - 1) + 1
        let paddedH = h + pads[0] + pads[2], paddedW = wd + pads[1] + pads[3]
        guard kh >= 1, kw >= 1, paddedH >= spanH, paddedW >= spanW else {
            throw shapeError("kernel \(kh)x\(kw) (dilated \(spanH)x\(spanW)) is larger than the padded input \(paddedH)x\(paddedW)")
        }
        return Geometry(batch: n, inChannels: c, height: h, width: wd, outChannels: m, kernelH: kh, kernelW: kw,
                        outH: (paddedH - spanH) / strides[0] + 1, outW: (paddedW - spanW) / strides[1] + 1,
                        group: group, strides: strides, pads: pads, dilations: dilations)
    }

    /// This convolution with no clamp: what a kernel computes before a residual pass clamps.
    public var withoutClamp: ConvOp {
        var copy = self
        copy.clamp = .none
        return copy
    }

    /// The residual Z among `inputs` (nil when absent), for a convolution of geometry `g`.
    public func residual(_ inputs: [TensorType?], _ g: Geometry) throws -> ConvResidual? {
        try ConvResidual(inputs, input: Self.residualInput, convolutionShape: g.outputShape, clamp: clamp)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let g = try geometry(inputs)
        return [TensorType(.f32, try residual(inputs, g)?.outputShape ?? g.outputShape)]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        guard let g = try? geometry(inputs) else { return 0 }
        return Shape.saturatingProduct(g.outputShape.reduce(1, *), 2, g.reduction)
            + ConvResidual.flops(inputs, input: Self.residualInput, outputCount: outputs[0].count)
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let g = try geometry(inputs)
        return Self.convolving(g, clamp, residual: try residual(inputs, g), weight: { args, body in body(args.input(1)) })
    }

    /// The reference kernels' convolution of geometry `g`, with W from `weight` (which passes the
    /// weight to its body: PatternConv decodes it first) and the optional residual: with one, the
    /// convolution is computed unclamped into a temporary, then `ConvResidual.apply` adds Z.
    static func convolving(_ g: Geometry, _ clamp: FusedClamp, residual: ConvResidual?, biasInput: Int = 2,
                           weight: @escaping @Sendable (KernelArguments, (UnsafePointer<Float>) -> Void) -> Void) -> Kernel {
        { args in
            weight(args) { w in
                let x = args.input(0), bias = args.optionalInput(biasInput), y = args.output(0)
                guard let residual else { return convolve(g, clamp, x: x, w: w, bias: bias, y: y) }
                let convolution = UnsafeMutablePointer<Float>.allocate(capacity: g.outputShape.reduce(1, *))
                defer { convolution.deallocate() }
                convolve(g, .none, x: x, w: w, bias: bias, y: convolution)
                residual.apply(convolution: convolution, z: args.input(residual.input), y: y)
            }
        }
    }

    /// The convolution in double precision, straight from the definition (the reference kernels'):
    /// a tap over the padding multiplies a 0, as ONNX's zero padding does, so an infinite weight
    /// there gives NaN, as the CPU kernels' padded copies do.
    static func convolve(_ g: Geometry, _ clamp: FusedClamp, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                         bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        for n in 0..<g.batch {
            for m in 0..<g.outChannels {
                let firstChannel = (m / g.outChannelsPerGroup) * g.inChannelsPerGroup
                for oh in 0..<g.outH {
                    for ow in 0..<g.outW {
                        var sum = Double(bias?[m] ?? 0)
                        for c in 0..<g.inChannelsPerGroup {
                            for kh in 0..<g.kernelH {
                                let ih = oh * g.strides[0] - g.pads[0] + kh * g.dilations[0]
                                for kw in 0..<g.kernelW {
                                    let iw = ow * g.strides[1] - g.pads[1] + kw * g.dilations[1]
                                    let inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width
                                    let xv = inside ? x[((n * g.inChannels + firstChannel + c) * g.height + ih) * g.width + iw] : 0
                                    let wv = w[((m * g.inChannelsPerGroup + c) * g.kernelH + kh) * g.kernelW + kw]
                                    sum += Double(xv) * Double(wv)
                                }
                            }
                        }
                        y[((n * g.outChannels + m) * g.outH + oh) * g.outW + ow] = clamp.apply(Float(sum))
                    }
                }
            }
        }
    }
}
