/// out = data indexed along `axis` by `indices` (I32 or I64; negative counts from the end).
/// Output shape: data[..<axis] + indices + data[(axis+1)...]. Works for any element type.
public struct GatherOp: Operator {
    public static let type = "Gather"
    public static let inputArity = 2...2
    public static let outputArity = 1...1
    public let axis: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axis"], op: Self.type)
        axis = try attributes.int("axis", default: 0)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let data = inputs[0]!, indices = inputs[1]!
        guard data.dtype.isActivationType else { throw SwiftletError.unsupported("data must be F32, I32 or I64, got \(data.dtype.rawValue)") }
        guard indices.dtype == .i32 || indices.dtype == .i64 else {
            throw shapeError("indices must be I32 or I64, got \(indices.dtype.rawValue)")
        }
        guard let axis = Shape.axis(axis, rank: data.rank) else {
            throw shapeError("axis \(self.axis) is out of range for rank \(data.rank)")
        }
        return [TensorType(data.dtype, Array(data.shape[..<axis]) + indices.shape + Array(data.shape[(axis + 1)...]))]
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let data = inputs[0]!, indices = inputs[1]!
        let axis = Shape.axis(self.axis, rank: data.rank)!
        let outer = data.shape[..<axis].reduce(1, *)
        let axisSize = data.shape[axis]
        let sliceBytes = data.shape[(axis + 1)...].reduce(1, *) * data.dtype.byteSize
        let indexCount = indices.count
        let wide = indices.dtype == .i64
        return { args in
            let source = args.rawInput(0)!, target = args.rawOutput(0)
            let rawIndices = args.rawInput(1)!
            for k in 0..<indexCount {
                var index = wide ? Int(rawIndices.load(fromByteOffset: k * 8, as: Int64.self))
                                 : Int(rawIndices.load(fromByteOffset: k * 4, as: Int32.self))
                if index < 0 { index += axisSize }
                guard index >= 0, index < axisSize else {
                    let original = wide ? Int(rawIndices.load(fromByteOffset: k * 8, as: Int64.self))
                                        : Int(rawIndices.load(fromByteOffset: k * 4, as: Int32.self))
                    throw SwiftletError.invalidArgument("index \(original) is out of range for axis \(axis) of size \(axisSize)")
                }
                for o in 0..<outer {
                    (target + (o * indexCount + k) * sliceBytes)
                        .copyMemory(from: source + (o * axisSize + index) * sliceBytes, byteCount: sliceBytes)
                }
            }
        }
    }
}
