#if canImport(Glibc)
import Glibc
#endif

/// Softmax along `axis`. Swiftlet extension: an optional second input, broadcast to X, masks
/// entries where it is 0 — their probability is exactly 0, and a row with every entry masked is
/// all zeros rather than NaN (padding tokens in attention).
public struct SoftmaxOp: Operator {
    public static let type = "Softmax"
    public static let inputArity = 1...2
    public static let outputArity = 1...1
    public let axis: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axis"], op: Self.type)
        axis = try attributes.int("axis", default: -1)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireFloat(x, "X")
        guard Shape.axis(axis, rank: x.rank) != nil else { throw shapeError("axis \(axis) is out of range for rank \(x.rank)") }
        if let mask = inputs[1] {
            try requireFloat(mask, "mask")
            guard Shape.broadcast(mask.shape, x.shape) == x.shape else {
                throw shapeError("mask\(mask.shape) does not broadcast to X\(x.shape)")
            }
        }
        return [x]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { 5 * outputs[0].count }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let shape = inputs[0]!.shape
        let axis = Shape.axis(self.axis, rank: shape.count)!
        let (outer, length, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        // With a mask: where each softmax line starts in the mask, and the step along the axis
        // (zero strides where the mask broadcasts). Computed once here, per line, not per element.
        let mask = inputs[1].map { maskType -> (bases: [Int], step: Int) in
            let strides = Shape.broadcastStrides(maskType.shape, to: shape)
            var bases: [Int] = []
            bases.reserveCapacity(outer * inner)
            for line in 0..<(outer * inner) {
                var remaining = line, offset = 0
                for d in stride(from: shape.count - 1, through: 0, by: -1) where d != axis {
                    offset += (remaining % shape[d]) * strides[d]
                    remaining /= shape[d]
                }
                bases.append(offset)
            }
            return (bases, strides[axis])
        }
        return { args in
            let x = args.input(0), y = args.output(0), maskData = args.optionalInput(1)
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * length * inner + i
                    let maskBase = mask?.bases[o * inner + i] ?? 0, maskStep = mask?.step ?? 0
                    @inline(__always) func kept(_ j: Int) -> Bool { maskData.map { $0[maskBase + j * maskStep] != 0 } ?? true }
                    var maximum = -Float.infinity
                    for j in 0..<length where kept(j) { maximum = .maximumPropagatingNaN(maximum, x[base + j * inner]) }
                    var sum = 0.0
                    for j in 0..<length {
                        // exp(−inf − (−inf)) is NaN: a fully masked line stays all zeros instead.
                        let e = kept(j) && maximum != -.infinity ? expf(x[base + j * inner] - maximum) : 0
                        y[base + j * inner] = e
                        sum += Double(e)
                    }
                    if sum > 0 {
                        let inverse = Float(1 / sum)
                        for j in 0..<length { y[base + j * inner] *= inverse }
                    }
                }
            }
        }
    }
}

extension Float {
    /// max(a, b), but NaN if either is NaN: a softmax row holding a NaN must come out NaN, even
    /// when every other entry is −∞ (Swift's `max` would drop it and zero the row).
    @inlinable public static func maximumPropagatingNaN(_ a: Float, _ b: Float) -> Float {
        a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
    }
}
