/// A residual Z that a convolution adds to its output (`FuseConvResidual`: `Add(Conv(…), Z)` as
/// one node): y = clamp(convolution + Z), Z broadcast exactly as the Add broadcast it, then the
/// convolution's fused clamp (a Relu after the Add). Where Z has the convolution's own shape (every
/// residual connection in ResNet and MobileNetV2) a kernel adds it in its epilogue, before the
/// clamp, while the sum is in registers; `apply` is the pass every other case takes after a
/// convolution computed with no clamp.
public struct ConvResidual: Sendable {
    /// The input index of Z on Conv and PatternConv (after the optional bias, which may be "").
    public let input: Int
    public let clamp: FusedClamp
    /// The convolution's output shape, and the fused node's (larger only where Z broadcasts it).
    public let convolutionShape: [Int]
    public let outputShape: [Int]
    /// Z's shape is the convolution's: an epilogue can add Z[i] to output i.
    public let isElementwise: Bool
    private let walk: BroadcastWalk

    /// The residual of a node whose Z is input `input` of `inputs` (nil when absent); throws when
    /// Z is not F32 or does not broadcast with the convolution's output.
    public init?(_ inputs: [TensorType?], input: Int, convolutionShape: [Int], clamp: FusedClamp) throws {
        guard input < inputs.count, let z = inputs[input] else { return nil }
        try requireFloat(z, "Z (the residual added to the convolution)")
        guard let shape = Shape.broadcast(convolutionShape, z.shape) else {
            throw shapeError("Z \(z.shape) does not broadcast with the convolution's output \(convolutionShape)")
        }
        self.input = input
        self.clamp = clamp
        self.convolutionShape = convolutionShape
        outputShape = shape
        isElementwise = z.shape == convolutionShape
        walk = BroadcastWalk(shape: shape, aShape: convolutionShape, bShape: z.shape)
    }

    /// The additions Z costs (one per output element) for a node whose Z is input `input`.
    static func flops(_ inputs: [TensorType?], input: Int, outputCount: Int) -> Int {
        input < inputs.count && inputs[input] != nil ? outputCount : 0
    }

    /// Whether the convolution must be written apart from y first: Z broadcasts the output to a
    /// larger shape than the convolution's.
    public var needsSeparateConvolution: Bool { outputShape != convolutionShape }

    /// y = clamp(convolution + Z) over the output; `convolution` may be y itself when the shapes
    /// match (each element is read before it is written).
    public func apply(convolution: UnsafePointer<Float>, z: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let length = walk.runLength, convolutionStep = walk.aStep, zStep = walk.bStep, clamp = self.clamp
        walk.forEachRun { o, co, zo in
            for i in 0..<length { y[o + i] = clamp.apply(convolution[co + i * convolutionStep] + z[zo + i * zStep]) }
        }
    }
}
