/// `Linear` with a block-sparse weight (BSR; CSR when blocks are 1×1):
/// inputs X [… , K] F32, values [blocks, R, C] F32, column_indices [blocks] I32,
/// row_pointers [⌈N/R⌉ + 1] I32, bias? [N] F32; attribute `weight_shape` [N, K].
/// The layout is `BlockSparseMatrix`'s; the indices are checked when the model opens.
public struct SparseLinearOp: BlockSparseLinearOp {
    public static let type = "SparseLinear"
    public static let encodingInputs = 4
    public let activation: FusedActivation
    public let n: Int
    public let k: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        (activation, n, k) = try Self.parseAttributes(attributes)
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        try requireConstantEncoding(constants)
        let values = constants[1]!
        guard values.dtype == .f32, values.rank == 3, values.shape[1] > 0, values.shape[2] > 0 else {
            throw shapeError("values must be F32 [blocks, R, C] with R, C > 0, got \(values)")
        }
        try validateIndexTypes(constants)
    }

    public func decodeWeight(_ args: KernelArguments, _ inputs: [TensorType?], n: Int, k: Int, into dense: UnsafeMutablePointer<Float>) {
        BlockSparseMatrix.densify(rows: n, columns: k, block: block(inputs[1]!), rowPointers: args.input(3, as: Int32.self),
                                  columnIndices: args.input(2, as: Int32.self), values: args.input(1), into: dense)
    }
}

/// `SparseLinear` whose stored blocks hold int8 codes (sparse and quantized combined):
/// inputs X [… , K] F32, values [blocks, R, C] I8, scales [N] F32, column_indices [blocks] I32,
/// row_pointers [⌈N/R⌉ + 1] I32, bias? [N] F32; attribute `weight_shape` [N, K].
/// W[n, k] = values[…] · scales[n] where a block stores (n, k), else 0 (weight-only: X stays F32).
public struct SparseInt8LinearOp: BlockSparseLinearOp {
    public static let type = "SparseInt8Linear"
    public static let encodingInputs = 5
    public let activation: FusedActivation
    public let n: Int
    public let k: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        (activation, n, k) = try Self.parseAttributes(attributes)
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        try requireConstantEncoding(constants)
        let values = constants[1]!, scales = constants[2]!
        guard values.dtype == .i8, values.rank == 3, values.shape[1] > 0, values.shape[2] > 0 else {
            throw shapeError("values must be I8 [blocks, R, C] with R, C > 0, got \(values)")
        }
        guard scales.dtype == .f32, scales.shape == [n] else { throw shapeError("scales must be F32 [\(n)], got \(scales)") }
        try validateIndexTypes(constants)
    }

    /// The stored blocks as floats (code · its row's scale), in the values' layout.
    private func decodeValues(_ args: KernelArguments, _ inputs: [TensorType?], into floats: UnsafeMutablePointer<Float>) {
        let (r, c) = block(inputs[1]!)
        let codes = args.input(1, as: Int8.self), scales = args.input(2), pointers = args.input(4, as: Int32.self)
        for blockRow in 0..<((n + r - 1) / r) {
            for stored in Int(pointers[blockRow])..<Int(pointers[blockRow + 1]) {
                for i in 0..<r {
                    // Rows past N (a last block row of padding) hold zero codes; any scale serves.
                    let scale = blockRow * r + i < n ? scales[blockRow * r + i] : 0
                    for j in 0..<c { floats[(stored * r + i) * c + j] = Float(codes[(stored * r + i) * c + j]) * scale }
                }
            }
        }
    }

    public func decodeWeight(_ args: KernelArguments, _ inputs: [TensorType?], n: Int, k: Int, into dense: UnsafeMutablePointer<Float>) {
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: max(1, inputs[1]!.count))
        defer { floats.deallocate() }
        decodeValues(args, inputs, into: floats)
        BlockSparseMatrix.densify(rows: n, columns: k, block: block(inputs[1]!), rowPointers: args.input(4, as: Int32.self),
                                  columnIndices: args.input(3, as: Int32.self), values: floats, into: dense)
    }
}

/// What both block-sparse linear ops share: `weight_shape`, the index arrays as the last two
/// encoding inputs (column indices, row pointers), their checks, and the block shape.
public protocol BlockSparseLinearOp: EncodedLinearOp {
    var n: Int { get }
    var k: Int { get }
}

extension BlockSparseLinearOp {
    public static var columnsInput: Int { encodingInputs - 2 }
    public static var pointersInput: Int { encodingInputs - 1 }

    /// `activation` and `weight_shape` [N, K], the only attributes either op takes.
    static func parseAttributes(_ attributes: Attributes) throws -> (activation: FusedActivation, n: Int, k: Int) {
        try attributes.allowOnly(["activation", "weight_shape"], op: type)
        guard let shape = try attributes.ints("weight_shape"), shape.count == 2, shape.allSatisfy({ (0...Shape.maxDim).contains($0) }) else {
            throw attributes.error("weight_shape", "must be [N, K] with 0 ≤ N, K < 2³¹")
        }
        return (try parseActivation(attributes), shape[0], shape[1])
    }

    func validateIndexTypes(_ constants: [TensorType?]) throws {
        let values = constants[1]!, columns = constants[Self.columnsInput]!, pointers = constants[Self.pointersInput]!
        guard columns.dtype == .i32, columns.shape == [values.shape[0]] else {
            throw shapeError("column_indices must be I32 [\(values.shape[0])], got \(columns)")
        }
        guard pointers.dtype == .i32, pointers.shape == [(n + values.shape[1] - 1) / values.shape[1] + 1] else {
            throw shapeError("row_pointers must be I32 [\((n + values.shape[1] - 1) / values.shape[1] + 1)], got \(pointers)")
        }
    }

    public func validateConstantValues(_ constants: [ConstantTensor?]) throws {
        let values = constants[1]!, columns = constants[Self.columnsInput]!, pointers = constants[Self.pointersInput]!
        try BlockSparseMatrix.validate(
            rows: n, columns: k, block: block(values.type),
            rowPointers: UnsafeBufferPointer(start: pointers.data.assumingMemoryBound(to: Int32.self), count: pointers.type.count),
            columnIndices: UnsafeBufferPointer(start: columns.data.assumingMemoryBound(to: Int32.self), count: columns.type.count),
            valueCount: values.type.count)
    }

    public func block(_ values: TensorType) -> (rows: Int, columns: Int) { (values.shape[1], values.shape[2]) }

    public func weightShape(_ inputs: [TensorType?]) throws -> (n: Int, k: Int) { (n, k) }
}
