/// Permutes axes: output axis i is input axis perm[i] (default: reversed).
public struct TransposeOp: Operator {
    public static let type = "Transpose"
    public static let inputArity = 1...1
    public static let outputArity = 1...1
    public let perm: [Int]?

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["perm"], op: Self.type)
        perm = try attributes.ints("perm")
    }

    func permutation(rank: Int) throws -> [Int] {
        guard let perm else { return Array((0..<rank).reversed()) }
        guard perm.count == rank, perm.sorted() == Array(0..<rank) else {
            throw shapeError("perm \(perm) is not a permutation of the \(rank) axes")
        }
        return perm
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireMovable(x)
        return [TensorType(x.dtype, try permutation(rank: x.rank).map { x.shape[$0] })]
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let x = inputs[0]!
        let perm = try permutation(rank: x.rank)
        let inputStrides = Shape.strides(x.shape)
        let strides = perm.map { inputStrides[$0] }
        let shape = outputs[0].shape
        return { args in
            stridedCopy(from: args.rawInput(0)!, offset: 0, strides: strides, shape: shape,
                        to: args.rawOutput(0), elementSize: x.dtype.byteSize)
        }
    }
}

/// ONNX Slice with static starts/ends/axes/steps and ONNX's clamping rules.
public struct SliceOp: Operator {
    public static let type = "Slice"
    public static let inputArity = 1...5
    public static let outputArity = 1...1
    public static let parameterInputs = ["starts", "ends", "axes", "steps"]
    public let starts: [Int], ends: [Int]
    public let axes: [Int]?
    public let steps: [Int]?

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["starts", "ends", "axes", "steps"], op: Self.type)
        guard inputCount == 1 else {  // given as inputs: bound when a plan is made
            (starts, ends, axes, steps) = ([], [], nil, nil)
            return
        }
        guard let starts = try attributes.ints("starts") else { throw attributes.error("starts", "is required") }
        guard let ends = try attributes.ints("ends"), ends.count == starts.count else {
            throw attributes.error("ends", "is required, with as many entries as starts")
        }
        axes = try attributes.ints("axes", count: starts.count, default: []).nilIfEmpty
        steps = try attributes.ints("steps", count: starts.count, default: []).nilIfEmpty
        guard steps?.contains(0) != true else { throw attributes.error("steps", "must not contain 0") }
        self.starts = starts
        self.ends = ends
    }

    /// Per input axis: (first index, step, length).
    func ranges(_ shape: [Int]) throws -> [(start: Int, step: Int, count: Int)] {
        var result = shape.map { (start: 0, step: 1, count: $0) }
        let axes = try (self.axes ?? Array(0..<starts.count)).map { axis -> Int in
            guard let a = Shape.axis(axis, rank: shape.count) else { throw shapeError("axis \(axis) is out of range for rank \(shape.count)") }
            return a
        }
        guard Set(axes).count == axes.count else { throw shapeError("axes \(axes) repeat an axis") }
        for (i, axis) in axes.enumerated() {
            let size = shape[axis], step = steps?[i] ?? 1
            func clamp(_ value: Int, _ low: Int, _ high: Int) -> Int { Swift.min(Swift.max(value, low), high) }
            var start = starts[i] < 0 ? starts[i] &+ size : starts[i]
            var end = ends[i] < 0 ? ends[i] &+ size : ends[i]
            if step > 0 {
                start = clamp(start, 0, size)
                end = clamp(end, 0, size)
            } else {
                start = clamp(start, 0, size - 1)
                end = clamp(end, -1, size - 1)
            }
            let span = step > 0 ? end - start : start - end
            // ⌈span / |step|⌉ without forming span + |step| (steps may be near Int.min/max).
            let magnitude = step == Int.min ? Int.max : abs(step)
            let count = span <= 0 ? 0 : 1 + (span - 1) / magnitude
            // With fewer than two elements the step is never taken; keeping it out of the stride
            // arithmetic keeps huge steps from overflowing.
            result[axis] = (start, count > 1 ? step : 1, count)
        }
        return result
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireMovable(x)
        return [TensorType(x.dtype, try ranges(x.shape).map(\.count))]
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let x = inputs[0]!
        let ranges = try ranges(x.shape)
        let inputStrides = Shape.strides(x.shape)
        let offset = zip(ranges, inputStrides).reduce(0) { $0 + $1.0.start * $1.1 }
        let strides = zip(ranges, inputStrides).map { $0.step * $1 }
        let shape = outputs[0].shape
        return { args in
            stridedCopy(from: args.rawInput(0)!, offset: offset, strides: strides, shape: shape,
                        to: args.rawOutput(0), elementSize: x.dtype.byteSize)
        }
    }
}

/// Splits along `axis` into one output per part: `split` sizes; or, with `num_outputs` (ONNX 18),
/// parts of ⌈size / n⌉ with a smaller last one; or else equal parts.
public struct SplitOp: Operator {
    public static let type = "Split"
    public static let inputArity = 1...2
    public static let outputArity = 1...Int.max
    public static let parameterInputs = ["split"]
    public let axis: Int
    public let split: [Int]?
    /// ONNX 18's `num_outputs`: the last part may be smaller.
    public let lastMayBeSmaller: Bool
    let parts: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axis", "split", "num_outputs"], op: Self.type)
        axis = try attributes.int("axis", default: 0)
        split = try attributes.ints("split")
        parts = outputCount
        if attributes.values["num_outputs"] != nil {
            guard try attributes.int("num_outputs", default: 0) == outputCount else {
                throw attributes.error("num_outputs", "must equal the number of outputs (\(outputCount))")
            }
            guard split == nil else { throw attributes.error("num_outputs", "cannot be combined with split") }
        }
        lastMayBeSmaller = attributes.values["num_outputs"] != nil
        if let split {
            guard split.count == outputCount, split.allSatisfy({ $0 >= 0 }) else {
                throw attributes.error("split", "must list one size ≥ 0 per output (\(outputCount)), got \(split)")
            }
        }
    }

    func sizes(_ shape: [Int]) throws -> (axis: Int, sizes: [Int]) {
        guard let axis = Shape.axis(axis, rank: shape.count) else { throw shapeError("axis \(self.axis) is out of range for rank \(shape.count)") }
        if let split {
            guard Self.checkedSum(split) == shape[axis] else {
                throw shapeError("split \(split) does not add up to dim \(axis) of size \(shape[axis])")
            }
            return (axis, split)
        }
        if lastMayBeSmaller {
            let part = (shape[axis] + parts - 1) / parts
            let last = shape[axis] - part * (parts - 1)
            guard last >= 0 else { throw shapeError("dim \(axis) of size \(shape[axis]) does not split into \(parts) parts of \(part)") }
            return (axis, Array(repeating: part, count: parts - 1) + [last])
        }
        guard shape[axis] % parts == 0 else { throw shapeError("dim \(axis) of size \(shape[axis]) does not split into \(parts) equal parts") }
        return (axis, Array(repeating: shape[axis] / parts, count: parts))
    }

    /// Sum that reports overflow as nil (split sizes come straight from the file).
    static func checkedSum(_ values: [Int]) -> Int? {
        var total = 0
        for value in values {
            let (sum, overflow) = total.addingReportingOverflow(value)
            if overflow { return nil }
            total = sum
        }
        return total
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireMovable(x)
        let (axis, sizes) = try sizes(x.shape)
        return sizes.map { size in
            var shape = x.shape
            shape[axis] = size
            return TensorType(x.dtype, shape)
        }
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let x = inputs[0]!
        let (axis, sizes) = try sizes(x.shape)
        let strides = Shape.strides(x.shape)
        let offsets = sizes.indices.map { sizes[..<$0].reduce(0, +) * strides[axis] }
        return { args in
            for (part, output) in outputs.enumerated() {
                stridedCopy(from: args.rawInput(0)!, offset: offsets[part], strides: strides, shape: output.shape,
                            to: args.rawOutput(part), elementSize: x.dtype.byteSize)
            }
        }
    }
}

/// Joins inputs along `axis`; every other dim must agree.
public struct ConcatOp: Operator {
    public static let type = "Concat"
    public static let inputArity = 1...Int.max
    public static let outputArity = 1...1
    public let axis: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axis"], op: Self.type)
        axis = try attributes.requiredInt("axis")
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let first = inputs[0]!
        try requireMovable(first)
        guard let axis = Shape.axis(axis, rank: first.rank) else { throw shapeError("axis \(self.axis) is out of range for rank \(first.rank)") }
        var shape = first.shape
        shape[axis] = 0
        for (index, input) in inputs.enumerated() {
            let input = input!
            guard input.dtype == first.dtype, input.rank == first.rank,
                  zip(input.shape, first.shape).enumerated().allSatisfy({ $0.offset == axis || $0.element.0 == $0.element.1 })
            else { throw shapeError("input \(index) \(input) does not match input 0 \(first) outside axis \(axis)") }
            shape[axis] += input.shape[axis]
        }
        return [TensorType(first.dtype, shape)]
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let output = outputs[0]
        let axis = Shape.axis(self.axis, rank: output.rank)!
        let outputStrides = Shape.strides(output.shape)
        let elementSize = output.dtype.byteSize
        // For every index of the axes before `axis`, each input holds one contiguous chunk that
        // lands side by side with the other inputs' chunks in the output.
        let pieces = inputs.map { $0!.shape }
        return { args in
            var start = 0
            for (index, shape) in pieces.enumerated() {
                let rows = shape[..<axis].reduce(1, *)
                let chunk = shape[axis...].reduce(1, *) * elementSize
                let outputRow = outputStrides[axis] * output.shape[axis] * elementSize
                let source = args.rawInput(index)!
                for row in 0..<rows {
                    (args.rawOutput(0) + row * outputRow + start * outputStrides[axis] * elementSize)
                        .copyMemory(from: source + row * chunk, byteCount: chunk)
                }
                start += shape[axis]
            }
        }
    }
}

extension Array {
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}
