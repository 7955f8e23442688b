/// `Linear` with a block-sparse weight (BSR; CSR when blocks are 1×1):
/// inputs X [… , K] F32, values [blocks, R, C] F32, column_indices [blocks] I32,
/// row_pointers [⌈N/R⌉ + 1] I32, bias? [N] F32; attribute `weight_shape` [N, K].
/// The layout is `BlockSparseMatrix`'s; the indices are checked when the model opens.
public struct SparseLinearOp: EncodedLinearOp {
    public static let type = "SparseLinear"
    public static let encodingInputs = 4
    public let activation: FusedActivation
    public let n: Int
    public let k: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["activation", "weight_shape"], op: Self.type)
        activation = try Self.parseActivation(attributes)
        guard let shape = try attributes.ints("weight_shape"), shape.count == 2, shape.allSatisfy({ (0...Shape.maxDim).contains($0) }) else {
            throw attributes.error("weight_shape", "must be [N, K] with 0 ≤ N, K < 2³¹")
        }
        (n, k) = (shape[0], shape[1])
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        try requireConstantEncoding(constants)
        let values = constants[1]!, columns = constants[2]!, pointers = constants[3]!
        guard values.dtype == .f32, values.rank == 3, values.shape[1] > 0, values.shape[2] > 0 else {
            throw shapeError("values must be F32 [blocks, R, C] with R, C > 0, got \(values)")
        }
        guard columns.dtype == .i32, columns.shape == [values.shape[0]] else {
            throw shapeError("column_indices must be I32 [\(values.shape[0])], got \(columns)")
        }
        guard pointers.dtype == .i32, pointers.shape == [(n + values.shape[1] - 1) / values.shape[1] + 1] else {
            throw shapeError("row_pointers must be I32 [\((n + values.shape[1] - 1) / values.shape[1] + 1)], got \(pointers)")
        }
    }

    public func validateConstantValues(_ constants: [ConstantTensor?]) throws {
        let values = constants[1]!, columns = constants[2]!, pointers = constants[3]!
        try BlockSparseMatrix.validate(
            rows: n, columns: k, block: block(values.type),
            rowPointers: UnsafeBufferPointer(start: pointers.data.assumingMemoryBound(to: Int32.self), count: pointers.type.count),
            columnIndices: UnsafeBufferPointer(start: columns.data.assumingMemoryBound(to: Int32.self), count: columns.type.count),
            valueCount: values.type.count)
    }

    public func block(_ values: TensorType) -> (rows: Int, columns: Int) { (values.shape[1], values.shape[2]) }

    public func weightShape(_ inputs: [TensorType?]) throws -> (n: Int, k: Int) { (n, k) }

    public func decodeWeight(_ args: KernelArguments, _ inputs: [TensorType?], n: Int, k: Int, into dense: UnsafeMutablePointer<Float>) {
        BlockSparseMatrix.densify(rows: n, columns: k, block: block(inputs[1]!), rowPointers: args.input(3, as: Int32.self),
                                  columnIndices: args.input(2, as: Int32.self), values: args.input(1), into: dense)
    }
}
