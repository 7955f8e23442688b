/// Inference-time batch normalization over axis 1:
/// y = (x − mean) / sqrt(var + epsilon) · scale + B.
public struct BatchNormalizationOp: Operator {
    public static let type = "BatchNormalization"
    public static let inputArity = 5...5
    public static let outputArity = 1...1
    public let epsilon: Float

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        // momentum and training_mode only matter for training; 0 = inference is the only mode here.
        try attributes.allowOnly(["epsilon", "momentum", "training_mode"], op: Self.type)
        epsilon = try attributes.float("epsilon", default: 1e-5)
        _ = try attributes.float("momentum", default: 0.9)
        guard try attributes.int("training_mode", default: 0) == 0 else {
            throw attributes.error("training_mode", "must be 0: Swiftlet runs inference only")
        }
        guard epsilon >= 0 else { throw attributes.error("epsilon", "must be ≥ 0") }
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        let parameters = constants[1...].compactMap { $0 }
        guard parameters.allSatisfy({ $0.dtype.isFloat && $0.rank == 1 }), Set(parameters.map(\.shape)).count <= 1 else {
            throw shapeError("scale, B, mean and var must be float vectors of one length, got \(parameters)")
        }
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireFloat(x, "X")
        guard x.rank >= 2 else { throw shapeError("X must have rank ≥ 2, got \(x.shape)") }
        for (index, role) in ["scale", "B", "mean", "var"].enumerated() {
            let parameter = inputs[index + 1]!
            try requireFloat(parameter, role)
            guard parameter.shape == [x.shape[1]] else {
                throw shapeError("\(role) must have shape [\(x.shape[1])], got \(parameter.shape)")
            }
        }
        return [x]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { 2 * outputs[0].count }

    /// Per-channel (multiplier, offset) with y = x·multiplier + offset; shared with the
    /// Conv-folding pass so both compute the same numbers.
    public func affine(scale: Float, bias: Float, mean: Float, variance: Float) -> (Float, Float) {
        let multiplier = Float(Double(scale) / (Double(variance) + Double(epsilon)).squareRoot())
        return (multiplier, Float(Double(bias) - Double(mean) * Double(multiplier)))
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let shape = inputs[0]!.shape
        let channels = shape[1]
        let planeSize = shape.dropFirst(2).reduce(1, *)
        let batch = shape[0]
        return { args in
            let x = args.input(0), y = args.output(0)
            let scale = args.input(1), bias = args.input(2), mean = args.input(3), variance = args.input(4)
            for c in 0..<channels {
                let (multiplier, offset) = affine(scale: scale[c], bias: bias[c], mean: mean[c], variance: variance[c])
                for n in 0..<batch {
                    let base = (n * channels + c) * planeSize
                    for i in 0..<planeSize { y[base + i] = x[base + i] * multiplier + offset }
                }
            }
        }
    }
}

/// Normalizes over axes `axis...` to zero mean and unit variance, then y = x̂ · scale + B.
public struct LayerNormalizationOp: Operator {
    public static let type = "LayerNormalization"
    public static let inputArity = 2...3
    public static let outputArity = 1...1
    public let axis: Int
    public let epsilon: Float

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axis", "epsilon", "stash_type"], op: Self.type)
        axis = try attributes.int("axis", default: -1)
        epsilon = try attributes.float("epsilon", default: 1e-5)
        guard try attributes.int("stash_type", default: 1) == 1 else {
            throw attributes.error("stash_type", "must be 1 (float statistics)")
        }
        guard epsilon >= 0 else { throw attributes.error("epsilon", "must be ≥ 0") }
    }

    /// (rows, row length) for input type `x`.
    public func rows(_ x: TensorType) throws -> (Int, Int) {
        guard let axis = Shape.axis(axis, rank: x.rank) else {
            throw shapeError("axis \(self.axis) is out of range for rank \(x.rank)")
        }
        return (x.shape[..<axis].reduce(1, *), x.shape[axis...].reduce(1, *))
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireFloat(x, "X")
        let (_, length) = try rows(x)
        let normalized = Array(x.shape[Shape.axis(axis, rank: x.rank)!...])
        for (index, role) in [(1, "scale"), (2, "B")] {
            guard let parameter = inputs[index] else { continue }
            try requireFloat(parameter, role)
            guard parameter.count == length, Shape.broadcast(parameter.shape, normalized) == normalized else {
                throw shapeError("\(role)\(parameter.shape) does not match the normalized shape \(normalized)")
            }
        }
        return [x]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { 8 * outputs[0].count }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (rowCount, length) = try rows(inputs[0]!)
        let epsilon = self.epsilon
        return { args in
            let x = args.input(0), scale = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            for row in 0..<rowCount {
                Self.normalize(x + row * length, into: y + row * length, length: length, epsilon: epsilon, scale: scale, bias: bias)
            }
        }
    }

    /// One row: y = (x − mean) / sqrt(var + epsilon) · scale + bias, statistics in Double.
    /// `x` and `y` may be the same memory.
    @inline(__always)
    static func normalize(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, length: Int, epsilon: Float,
                          scale: UnsafePointer<Float>, bias: UnsafePointer<Float>?) {
        var mean = 0.0
        for i in 0..<length { mean += Double(x[i]) }
        mean /= Double(length)
        var variance = 0.0
        for i in 0..<length { let d = Double(x[i]) - mean; variance += d * d }
        let inverse = 1 / (variance / Double(length) + Double(epsilon)).squareRoot()
        for i in 0..<length {
            let normalized = Float((Double(x[i]) - mean) * inverse)
            y[i] = normalized * scale[i] + (bias?[i] ?? 0)
        }
    }
}
