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
        // The mask is read through broadcast strides: offsets of each (outer, j, inner) element.
        let maskWalk = inputs[1].map { BroadcastWalk(shape: shape, aShape: shape, bShape: $0.shape) }
        return { args in
            let x = args.input(0), y = args.output(0)
            var keep = [Bool](repeating: true, count: outer * length * inner)
            if let maskWalk, let mask = args.optionalInput(1) {
                let run = maskWalk.runLength, step = maskWalk.bStep
                maskWalk.forEachRun { o, _, m in
                    for i in 0..<run { keep[o + i] = mask[m + i * step] != 0 }
                }
            }
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = o * length * inner + i
                    var maximum = -Float.infinity
                    var any = false
                    for j in 0..<length where keep[base + j * inner] {
                        maximum = max(maximum, x[base + j * inner])
                        any = true
                    }
                    var sum = 0.0
                    for j in 0..<length {
                        let e = any && keep[base + j * inner] ? expf(x[base + j * inner] - maximum) : 0
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
