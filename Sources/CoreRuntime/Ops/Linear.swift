/// Y = alpha · op(A) · op(B) + beta · C, with op = transpose when transA/transB, A and B of rank 2
/// and C broadcasting to Y; then clamped to [clip_min, clip_max] (a fused activation).
public struct GemmOp: Operator {
    public static let type = "Gemm"
    public static let inputArity = 2...3
    public static let outputArity = 1...1
    public let alpha: Float
    public let beta: Float
    public let transA: Bool
    public let transB: Bool
    public let clamp: FusedClamp

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(Set(["alpha", "beta", "transA", "transB"]).union(FusedClamp.attributeNames), op: Self.type)
        clamp = try FusedClamp(attributes)
        alpha = try attributes.float("alpha", default: 1)
        beta = try attributes.float("beta", default: 1)
        func flag(_ name: String) throws -> Bool {
            let value = try attributes.int(name, default: 0)
            guard value == 0 || value == 1 else { throw attributes.error(name, "must be 0 or 1") }
            return value == 1
        }
        transA = try flag("transA")
        transB = try flag("transB")
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        for (index, role) in [(0, "A"), (1, "B")] {
            if let t = constants[index], !t.dtype.isFloat || t.rank != 2 { throw shapeError("\(role) must be a float tensor of rank 2, got \(t)") }
        }
        if constants.count > 2, let c = constants[2], !c.dtype.isFloat || c.rank > 2 {
            throw shapeError("C must be a float tensor of rank ≤ 2, got \(c)")
        }
    }

    /// (M, K, N) for these operands.
    public func dimensions(_ inputs: [TensorType?]) throws -> (m: Int, k: Int, n: Int) {
        let a = inputs[0]!, b = inputs[1]!
        try requireFloat(a, "A")
        try requireFloat(b, "B")
        guard a.rank == 2, b.rank == 2 else { throw shapeError("A and B must have rank 2, got \(a.shape) and \(b.shape)") }
        let (m, k) = transA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (kb, n) = transB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == kb else { throw shapeError("inner dimensions differ: A\(a.shape) B\(b.shape) (transA \(transA ? 1 : 0), transB \(transB ? 1 : 0))") }
        return (m, k, n)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let (m, _, n) = try dimensions(inputs)
        if let c = inputs[2] {
            try requireFloat(c, "C")
            guard c.rank <= 2, Shape.broadcast(c.shape, [m, n]) == [m, n] else {
                throw shapeError("C\(c.shape) does not broadcast to [\(m), \(n)]")
            }
        }
        return [TensorType(.f32, [m, n])]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        let (m, k, n) = (try? dimensions(inputs)) ?? (0, 0, 0)
        return Shape.saturatingProduct(2, m, k, n)
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (m, k, n) = try dimensions(inputs)
        let aCols = inputs[0]!.shape[1], bCols = inputs[1]!.shape[1]
        let cStrides = inputs[2].map { Shape.broadcastStrides($0.shape, to: [m, n]) }
        let (transA, transB, alpha, beta, clamp) = (self.transA, self.transB, Double(alpha), Double(beta), self.clamp)
        return { args in
            let a = args.input(0), b = args.input(1), y = args.output(0)
            let c = args.optionalInput(2)
            for row in 0..<m {
                for col in 0..<n {
                    var sum = 0.0
                    for i in 0..<k {
                        let av = transA ? a[i * aCols + row] : a[row * aCols + i]
                        let bv = transB ? b[col * bCols + i] : b[i * bCols + col]
                        sum += Double(av) * Double(bv)
                    }
                    var value = alpha * sum
                    if let c, let cStrides { value += beta * Double(c[row * cStrides[0] + col * cStrides[1]]) }
                    y[row * n + col] = clamp.apply(Float(value))
                }
            }
        }
    }
}

/// numpy `matmul`: rank-1 operands are promoted to matrices (and the added axis removed from the
/// result); batch axes broadcast.
public struct MatMulOp: Operator {
    public static let type = "MatMul"
    public static let inputArity = 2...2
    public static let outputArity = 1...1

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }

    /// Everything a kernel needs: the matrix sizes and how batch indices map onto operands.
    public struct Geometry: Sendable {
        public let m: Int, k: Int, n: Int
        /// Walks output matrices; offsets are in matrices of A, B and Y.
        let batches: BroadcastWalk
        public let outputShape: [Int]
        public var batchCount: Int { batches.shape.reduce(1, *) }

        /// Calls `body(outputMatrix, aMatrix, bMatrix)` for every output matrix.
        public func forEachBatch(_ body: (Int, Int, Int) -> Void) {
            let length = batches.runLength, aStep = batches.aStep, bStep = batches.bStep
            batches.forEachRun { o, a, b in
                for i in 0..<length { body(o + i, a + i * aStep, b + i * bStep) }
            }
        }

        /// True when B is one matrix shared by every batch and A's batches are contiguous, so the
        /// whole product is one [batch·M, K] × [K, N] multiplication.
        public var isSharedRightOperand: Bool {
            batches.bStrides.allSatisfy { $0 == 0 } && (batchCount == 1 || batches.aStrides.last == 1 && batches.shape.count == 1)
        }
    }

    public static func geometry(_ a: TensorType, _ b: TensorType) throws -> Geometry {
        try requireFloat(a, "A")
        try requireFloat(b, "B")
        guard a.rank >= 1, b.rank >= 1 else { throw shapeError("operands must have rank ≥ 1, got \(a.shape) and \(b.shape)") }
        let aMatrix = a.rank == 1 ? [1] + a.shape : a.shape
        let bMatrix = b.rank == 1 ? b.shape + [1] : b.shape
        let (m, k) = (aMatrix[aMatrix.count - 2], aMatrix[aMatrix.count - 1])
        let (kb, n) = (bMatrix[bMatrix.count - 2], bMatrix[bMatrix.count - 1])
        guard k == kb else { throw shapeError("inner dimensions differ: \(a.shape) × \(b.shape)") }
        let aBatch = Array(aMatrix.dropLast(2)), bBatch = Array(bMatrix.dropLast(2))
        guard let batch = Shape.broadcast(aBatch, bBatch) else {
            throw shapeError("batch dimensions \(aBatch) and \(bBatch) do not broadcast")
        }
        var outputShape = batch
        if a.rank > 1 { outputShape.append(m) }
        if b.rank > 1 { outputShape.append(n) }
        return Geometry(m: m, k: k, n: n, batches: BroadcastWalk(shape: batch, aShape: aBatch, bShape: bBatch),
                        outputShape: outputShape)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        [TensorType(.f32, try Self.geometry(inputs[0]!, inputs[1]!).outputShape)]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        guard let g = try? Self.geometry(inputs[0]!, inputs[1]!) else { return 0 }
        return Shape.saturatingProduct(2, g.batchCount, g.m, g.k, g.n)
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let g = try Self.geometry(inputs[0]!, inputs[1]!)
        return { args in
            let a = args.input(0), b = args.input(1), y = args.output(0)
            g.forEachBatch { yMatrix, aMatrix, bMatrix in
                let aBase = a + aMatrix * g.m * g.k, bBase = b + bMatrix * g.k * g.n, yBase = y + yMatrix * g.m * g.n
                for row in 0..<g.m {
                    for col in 0..<g.n {
                        var sum = 0.0
                        for i in 0..<g.k { sum += Double(aBase[row * g.k + i]) * Double(bBase[i * g.n + col]) }
                        yBase[row * g.n + col] = Float(sum)
                    }
                }
            }
        }
    }
}
