/// Ops whose output is input 0's bytes under a new shape: the planner aliases the memory and
/// runs no kernel. Each conforming op only says what the new shape is.
public protocol ViewOp: Operator {
    func viewShape(_ input: [Int]) throws -> [Int]
}

extension ViewOp {
    public static var inputArity: ClosedRange<Int> { 1...1 }
    public static var outputArity: ClosedRange<Int> { 1...1 }
    public var isView: Bool { true }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        try requireMovable(inputs[0]!)
        return [TensorType(inputs[0]!.dtype, try viewShape(inputs[0]!.shape))]
    }

    /// A plain copy, for callers that want the view materialized.
    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let bytes = outputs[0].byteCount
        return { args in args.rawOutput(0).copyMemory(from: args.rawInput(0)!, byteCount: bytes) }
    }
}

/// New shape from the `shape` attribute: 0 copies the input's dim (unless allowzero), −1 is
/// inferred from the element count.
public struct ReshapeOp: ViewOp {
    public static let type = "Reshape"
    public static let inputArity = 1...2
    public static let parameterInputs = ["shape"]
    public let shape: [Int]
    public let allowZero: Bool

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["shape", "allowzero"], op: Self.type)
        guard (try attributes.ints("shape") == nil) == (inputCount > 1) else {
            throw attributes.error("shape", "must be given either as an attribute or as input 1, exactly once")
        }
        guard let shape = try attributes.ints("shape") else {
            // Given as input 1: bound when a plan is made.
            self.shape = []
            allowZero = try attributes.int("allowzero", default: 0) == 1
            return
        }
        let allow = try attributes.int("allowzero", default: 0)
        guard allow == 0 || allow == 1 else { throw attributes.error("allowzero", "must be 0 or 1") }
        guard shape.allSatisfy({ $0 >= -1 }), shape.filter({ $0 == -1 }).count <= 1 else {
            throw attributes.error("shape", "takes sizes ≥ 0 and at most one −1, got \(shape)")
        }
        guard !(allow == 1 && shape.contains(-1) && shape.contains(0)) else {
            throw attributes.error("shape", "cannot mix 0 and −1 when allowzero is 1")
        }
        self.shape = shape
        allowZero = allow == 1
    }

    public func viewShape(_ input: [Int]) throws -> [Int] {
        var result = try shape.enumerated().map { axis, size -> Int in
            guard size == 0 && !allowZero else { return size }
            guard axis < input.count else { throw shapeError("shape \(shape) copies dim \(axis) of input \(input), which has no such dim") }
            return input[axis]
        }
        let total = input.reduce(1, *)
        if let inferred = result.firstIndex(of: -1) {
            guard let known = Shape.checkedByteCount(result.filter { $0 != -1 }), known > 0, total % known == 0 else {
                throw shapeError("cannot reshape \(input) (\(total) elements) to \(shape)")
            }
            result[inferred] = total / known
        }
        guard Shape.checkedByteCount(result) == total else {
            throw shapeError("cannot reshape \(input) (\(total) elements) to \(shape)")
        }
        return result
    }
}

/// [d0 … dn] → [d0·…·d(axis−1), d(axis)·…·dn].
public struct FlattenOp: ViewOp {
    public static let type = "Flatten"
    public let axis: Int

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axis"], op: Self.type)
        axis = try attributes.int("axis", default: 1)
    }

    public func viewShape(_ input: [Int]) throws -> [Int] {
        guard let axis = Shape.axis(axis, rank: input.count, inclusiveEnd: true) else {
            throw shapeError("axis \(self.axis) is out of range for rank \(input.count)")
        }
        return [input[..<axis].reduce(1, *), input[axis...].reduce(1, *)]
    }
}

/// Removes the listed size-1 axes (all size-1 axes when none are listed).
public struct SqueezeOp: ViewOp {
    public static let type = "Squeeze"
    public static let inputArity = 1...2
    public static let parameterInputs = ["axes"]
    public let axes: [Int]?

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axes"], op: Self.type)
        axes = try attributes.ints("axes")
    }

    public func viewShape(_ input: [Int]) throws -> [Int] {
        guard let axes else { return input.filter { $0 != 1 } }
        let normalized = try Set(axes.map { axis -> Int in
            guard let a = Shape.axis(axis, rank: input.count) else { throw shapeError("axis \(axis) is out of range for rank \(input.count)") }
            guard input[a] == 1 else { throw shapeError("cannot squeeze axis \(axis) of size \(input[a])") }
            return a
        })
        guard normalized.count == axes.count else { throw shapeError("axes \(axes) repeat an axis") }
        return input.enumerated().filter { !normalized.contains($0.offset) }.map(\.element)
    }
}

/// Inserts size-1 axes at the listed positions of the output.
public struct UnsqueezeOp: ViewOp {
    public static let type = "Unsqueeze"
    public static let inputArity = 1...2
    public static let parameterInputs = ["axes"]
    public let axes: [Int]

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["axes"], op: Self.type)
        guard inputCount == 1 else { axes = []; return }  // given as input 1: bound when a plan is made
        guard let axes = try attributes.ints("axes"), !axes.isEmpty else { throw attributes.error("axes", "is required") }
        self.axes = axes
    }

    public func viewShape(_ input: [Int]) throws -> [Int] {
        let rank = input.count + axes.count
        let positions = try axes.map { axis -> Int in
            guard let a = Shape.axis(axis, rank: rank) else { throw shapeError("axis \(axis) is out of range for output rank \(rank)") }
            return a
        }
        guard Set(positions).count == positions.count else { throw shapeError("axes \(axes) repeat an axis") }
        var remaining = input.makeIterator()
        return (0..<rank).map { positions.contains($0) ? 1 : remaining.next()! }
    }
}

public struct IdentityOp: ViewOp {
    public static let type = "Identity"
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }
    public func viewShape(_ input: [Int]) throws -> [Int] { input }
}
