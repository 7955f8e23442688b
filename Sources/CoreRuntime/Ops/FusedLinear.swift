/// Swiftlet's fused linear layer: Y[…, N] = activation(X[…, K] · W[K, N] + bias[N]), made by the
/// MatMul+Add fusion pass from what exporters write for `nn.Linear` on inputs of any rank. One
/// multiplication over all leading rows, the bias and activation applied as the output is written.
public struct LinearOp: LinearLayerOp {
    public static let type = "Linear"
    public static let inputArity = 2...3
    public static let outputArity = 1...1
    public let activation: FusedActivation

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["activation"], op: Self.type)
        activation = try Self.parseActivation(attributes)
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        if let w = constants[1], !w.dtype.isFloat || w.rank != 2 { throw shapeError("W must be a float tensor of rank 2, got \(w)") }
        if constants.count > 2, let b = constants[2], !b.dtype.isFloat || b.rank != 1 {
            throw shapeError("bias must be a float vector, got \(b)")
        }
    }

    /// (rows M, K, N) for these operands.
    public func dimensions(_ inputs: [TensorType?]) throws -> (m: Int, k: Int, n: Int) {
        let x = inputs[0]!, w = inputs[1]!
        try requireFloat(x, "X")
        try requireFloat(w, "W")
        guard x.rank >= 1, w.rank == 2 else { throw shapeError("X must have rank ≥ 1 and W rank 2, got \(x.shape) and \(w.shape)") }
        guard x.shape.last! == w.shape[0] else { throw shapeError("inner dimensions differ: X\(x.shape) W\(w.shape)") }
        if let bias = inputs[2] {
            try requireFloat(bias, "bias")
            guard bias.shape == [w.shape[1]] else { throw shapeError("bias must have shape [\(w.shape[1])], got \(bias.shape)") }
        }
        return (x.shape.dropLast().reduce(1, *), w.shape[0], w.shape[1])
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (m, k, n) = try dimensions(inputs)
        let activation = self.activation
        return { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            for row in 0..<m {
                for col in 0..<n {
                    var sum = Double(bias?[col] ?? 0)
                    for i in 0..<k { sum += Double(x[row * k + i]) * Double(w[i * n + col]) }
                    y[row * n + col] = activation.apply(Float(sum))
                }
            }
        }
    }
}

/// What dense and encoded linear layers share: Y[…, N] from X[…, K] with a fused activation.
public protocol LinearLayerOp: Operator {
    var activation: FusedActivation { get }
    /// (rows M, K, N) for these operands, checking them.
    func dimensions(_ inputs: [TensorType?]) throws -> (m: Int, k: Int, n: Int)
}

extension LinearLayerOp {
    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let (_, _, n) = try dimensions(inputs)
        return [TensorType(.f32, inputs[0]!.shape.dropLast() + [n])]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        let (m, k, n) = (try? dimensions(inputs)) ?? (0, 0, 0)
        return Shape.saturatingProduct(2, m, k, n)
    }

    static func parseActivation(_ attributes: Attributes) throws -> FusedActivation {
        let name = try attributes.string("activation", default: "none")
        guard let activation = FusedActivation(rawValue: name) else {
            throw attributes.error("activation", "must be one of \(FusedActivation.allCases.map(\.rawValue)), not \"\(name)\"")
        }
        return activation
    }
}
