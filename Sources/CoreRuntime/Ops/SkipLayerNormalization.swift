/// Swiftlet's residual add + LayerNormalization (made by the fusion pass from
/// `LayerNormalization(Add(X, skip))`, the shape of every transformer block's end):
/// Y = LayerNormalization(X + skip) over axes `axis...`, the sum written into Y and normalized
/// there, so the sum never needs a buffer of its own. `skip` broadcasts to X.
public struct SkipLayerNormalizationOp: Operator {
    public static let type = "SkipLayerNormalization"
    public static let inputArity = 3...4
    public static let outputArity = 1...1
    /// The normalization that follows the add (axis, epsilon).
    public let norm: LayerNormalizationOp

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        norm = try LayerNormalizationOp(attributes: attributes, inputCount: inputCount - 1, outputCount: outputCount)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!, skip = inputs[1]!
        try requireFloat(skip, "skip")
        guard let sum = Shape.broadcast(x.shape, skip.shape) else {
            throw shapeError("X\(x.shape) and skip\(skip.shape) do not broadcast")
        }
        return try norm.inferTypes([TensorType(.f32, sum), inputs[2], inputs[3]])
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { 9 * outputs[0].count }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (rowCount, length) = try norm.rows(outputs[0])
        let walk = BroadcastWalk(shape: outputs[0].shape, aShape: inputs[0]!.shape, bShape: inputs[1]!.shape)
        let epsilon = norm.epsilon
        return { args in
            let x = args.input(0), skip = args.input(1), scale = args.input(2), bias = args.optionalInput(3), y = args.output(0)
            let run = walk.runLength, aStep = walk.aStep, bStep = walk.bStep
            walk.forEachRun { o, ao, bo in
                for i in 0..<run { y[o + i] = x[ao + i * aStep] + skip[bo + i * bStep] }
            }
            for row in 0..<rowCount {
                let line = y + row * length
                LayerNormalizationOp.normalize(line, into: line, length: length, epsilon: epsilon, scale: scale, bias: bias)
            }
        }
    }
}
