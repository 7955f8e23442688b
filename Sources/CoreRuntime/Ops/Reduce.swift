/// Reductions over a set of axes (ONNX ReduceMean / ReduceSum): `axes` as an attribute (opset
/// < 18) or as input 1 (opset 18+, bound when a plan is made); no axes reduces every axis unless
/// `noop_with_empty_axes` is 1; `keepdims` keeps reduced axes as size 1.
public protocol ReduceOp: Operator {
    var reduction: Reduction { get }
    init(reduction: Reduction)
    /// The reduced value from the sum of `count` elements.
    static func finish(sum: Double, count: Int) -> Float
}

/// The attributes every reduction shares, validated once.
public struct Reduction: Sendable {
    public let axes: [Int]?
    public let keepDims: Bool
    public let noopWithEmptyAxes: Bool
}

extension ReduceOp {
    public static var inputArity: ClosedRange<Int> { 1...2 }
    public static var outputArity: ClosedRange<Int> { 1...1 }
    public static var parameterInputs: [String] { ["axes"] }

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axes", "keepdims", "noop_with_empty_axes"], op: Self.type)
        let keepDims = try attributes.int("keepdims", default: 1)
        let noop = try attributes.int("noop_with_empty_axes", default: 0)
        guard keepDims == 0 || keepDims == 1 else { throw attributes.error("keepdims", "must be 0 or 1") }
        guard noop == 0 || noop == 1 else { throw attributes.error("noop_with_empty_axes", "must be 0 or 1") }
        self.init(reduction: Reduction(axes: try attributes.ints("axes"), keepDims: keepDims == 1, noopWithEmptyAxes: noop == 1))
    }

    /// Per input axis, whether it is reduced.
    func reducedAxes(rank: Int) throws -> [Bool] {
        guard let axes = reduction.axes, !axes.isEmpty else {
            return [Bool](repeating: !reduction.noopWithEmptyAxes, count: rank)
        }
        var reduced = [Bool](repeating: false, count: rank)
        for axis in axes {
            guard let a = Shape.axis(axis, rank: rank) else { throw shapeError("axis \(axis) is out of range for rank \(rank)") }
            guard !reduced[a] else { throw shapeError("axes \(axes) repeat an axis") }
            reduced[a] = true
        }
        return reduced
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireFloat(x, "data")
        let reduced = try reducedAxes(rank: x.rank)
        let shape = x.shape.indices.compactMap { axis -> Int? in
            reduced[axis] ? (reduction.keepDims ? 1 : nil) : x.shape[axis]
        }
        return [TensorType(.f32, shape)]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { inputs[0]!.count }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let shape = inputs[0]!.shape
        let reduced = try reducedAxes(rank: shape.count)
        // The input walked against the output with reduced axes kept as size 1: those broadcast,
        // so each run's second offset is where its elements are summed.
        let kept = shape.indices.map { reduced[$0] ? 1 : shape[$0] }
        let walk = BroadcastWalk(shape: shape, aShape: shape, bShape: kept)
        let outputCount = outputs[0].count
        let perOutput = outputCount == 0 ? 0 : inputs[0]!.count / outputCount
        return { args in
            let x = args.input(0), y = args.output(0)
            var sums = [Double](repeating: 0, count: outputCount)
            let run = walk.runLength, step = walk.bStep
            walk.forEachRun { offset, _, sum in
                for i in 0..<run { sums[sum + i * step] += Double(x[offset + i]) }
            }
            for o in 0..<outputCount { y[o] = Self.finish(sum: sums[o], count: perOutput) }
        }
    }
}

public struct ReduceMeanOp: ReduceOp {
    public static let type = "ReduceMean"
    public let reduction: Reduction
    public init(reduction: Reduction) { self.reduction = reduction }
    public static func finish(sum: Double, count: Int) -> Float { count == 0 ? .nan : Float(sum / Double(count)) }
}

public struct ReduceSumOp: ReduceOp {
    public static let type = "ReduceSum"
    public let reduction: Reduction
    public init(reduction: Reduction) { self.reduction = reduction }
    public static func finish(sum: Double, count: Int) -> Float { Float(sum) }
}
