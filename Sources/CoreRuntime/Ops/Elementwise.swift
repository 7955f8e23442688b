#if canImport(Glibc)
import Glibc
#endif

/// An F32 → F32 function applied to every element.
public protocol UnaryElementwiseOp: Operator {
    func apply(_ x: Float) -> Float
    /// Floating-point operations per element, for the report.
    var flopsPerElement: Int { get }
}

extension UnaryElementwiseOp {
    public static var inputArity: ClosedRange<Int> { 1...1 }
    public static var outputArity: ClosedRange<Int> { 1...1 }
    public var flopsPerElement: Int { 1 }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        try requireFloat(inputs[0]!, "input")
        return [inputs[0]!]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        outputs[0].count * flopsPerElement
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Kernel {
        let count = outputs[0].count
        return { args in
            let x = args.input(0), y = args.output(0)
            for i in 0..<count { y[i] = apply(x[i]) }
        }
    }
}

public struct ReluOp: UnaryElementwiseOp {
    public static let type = "Relu"
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }
    // `x < 0 ? 0 : x`, not `x > 0 ? x : 0`: NaN must pass through, as in numpy and ONNX.
    @inline(__always) public func apply(_ x: Float) -> Float { x < 0 ? 0 : x }
}

public struct SigmoidOp: UnaryElementwiseOp {
    public static let type = "Sigmoid"
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }
    public var flopsPerElement: Int { 4 }
    @inline(__always) public func apply(_ x: Float) -> Float { 1 / (1 + expf(-x)) }
}

public struct TanhOp: UnaryElementwiseOp {
    public static let type = "Tanh"
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }
    public var flopsPerElement: Int { 4 }
    @inline(__always) public func apply(_ x: Float) -> Float { tanhf(x) }
}

/// The error function (GELU's exact form in exported graphs: x · (1 + erf(x/√2)) / 2).
public struct ErfOp: UnaryElementwiseOp {
    public static let type = "Erf"
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }
    public var flopsPerElement: Int { 8 }
    @inline(__always) public func apply(_ x: Float) -> Float { erff(x) }
}

public struct SqrtOp: UnaryElementwiseOp {
    public static let type = "Sqrt"
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }
    @inline(__always) public func apply(_ x: Float) -> Float { x.squareRoot() }
}

/// Clamps to [min, max]; ReLU6 is Clip(0, 6).
public struct ClipOp: UnaryElementwiseOp {
    public static let type = "Clip"
    public let min: Float
    public let max: Float
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["min", "max"], op: Self.type)
        min = try attributes.float("min", default: -.infinity)
        max = try attributes.float("max", default: .infinity)
        guard min <= max else { throw attributes.error("min", "(\(min)) exceeds max (\(max))") }
    }
    public var flopsPerElement: Int { 2 }
    // NaN passes through, as in ONNX and numpy.clip.
    @inline(__always) public func apply(_ x: Float) -> Float { x < min ? min : (x > max ? max : x) }
}

/// GELU: x·Φ(x) with the exact erf ("none") or the tanh approximation ("tanh").
public struct GeluOp: UnaryElementwiseOp {
    public static let type = "Gelu"
    public let usesTanh: Bool
    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["approximate"], op: Self.type)
        switch try attributes.string("approximate", default: "none") {
        case "none": usesTanh = false
        case "tanh": usesTanh = true
        case let other: throw attributes.error("approximate", "must be \"none\" or \"tanh\", not \"\(other)\"")
        }
    }
    public var flopsPerElement: Int { 8 }
    @inline(__always) public func apply(_ x: Float) -> Float { usesTanh ? Self.tanhForm(x) : Self.exact(x) }

    /// x·Φ(x) = x · (1 + erf(x/√2)) / 2.
    @inline(__always) public static func exact(_ x: Float) -> Float {
        0.5 * x * (1 + erff(x * 0.7071067811865476))  // 1/sqrt(2)
    }

    /// x · (1 + tanh(√(2/π) · (x + 0.044715·x³))) / 2.
    @inline(__always) public static func tanhForm(_ x: Float) -> Float {
        let inner: Float = 0.7978845608028654 * (x + 0.044715 * x * x * x)  // sqrt(2/π)
        return 0.5 * x * (1 + tanhf(inner))
    }
}

/// (a, b) → y with numpy broadcasting, on F32 or — for shape arithmetic — I32/I64 operands of
/// one type.
public protocol BinaryElementwiseOp: Operator {
    init()
    static func apply(_ a: Float, _ b: Float) -> Float
    /// The integer form: wrapping like C, except that division by zero is an error.
    static func apply(integer a: Int64, _ b: Int64) throws -> Int64
}

extension BinaryElementwiseOp {
    public static var inputArity: ClosedRange<Int> { 2...2 }
    public static var outputArity: ClosedRange<Int> { 1...1 }

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
        self.init()
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let a = inputs[0]!, b = inputs[1]!
        guard a.dtype == b.dtype, a.dtype.isActivationType else {
            throw SwiftletError.unsupported("operands must both be F32, I32 or I64, got \(a.dtype.rawValue) and \(b.dtype.rawValue)")
        }
        guard let shape = Shape.broadcast(a.shape, b.shape) else {
            throw shapeError("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        return [TensorType(a.dtype, shape)]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { outputs[0].count }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Kernel {
        let walk = BroadcastWalk(shape: outputs[0].shape, aShape: inputs[0]!.shape, bShape: inputs[1]!.shape)
        if outputs[0].dtype.isInteger { return integerKernel(walk, wide: outputs[0].dtype == .i64) }
        return { args in
            let a = args.input(0), b = args.input(1), y = args.output(0)
            let length = walk.runLength, aStep = walk.aStep, bStep = walk.bStep
            walk.forEachRun { o, ao, bo in
                // The common cases get loops the compiler vectorizes.
                switch (aStep, bStep) {
                case (1, 1): for i in 0..<length { y[o + i] = Self.apply(a[ao + i], b[bo + i]) }
                case (1, 0): let bv = b[bo]; for i in 0..<length { y[o + i] = Self.apply(a[ao + i], bv) }
                case (0, 1): let av = a[ao]; for i in 0..<length { y[o + i] = Self.apply(av, b[bo + i]) }
                default: for i in 0..<length { y[o + i] = Self.apply(a[ao + i * aStep], b[bo + i * bStep]) }
                }
            }
        }
    }
}

extension BinaryElementwiseOp {
    /// Integer operands (I64, or I32 when not `wide`): shape arithmetic on small tensors, so
    /// one plain loop over the walk, computing in Int64.
    func integerKernel(_ walk: BroadcastWalk, wide: Bool) -> Kernel {
        { args in
            let a = args.rawInput(0)!, b = args.rawInput(1)!, y = args.rawOutput(0)
            func load(_ p: UnsafeRawPointer, _ i: Int) -> Int64 {
                wide ? p.load(fromByteOffset: i * 8, as: Int64.self) : Int64(p.load(fromByteOffset: i * 4, as: Int32.self))
            }
            let length = walk.runLength, aStep = walk.aStep, bStep = walk.bStep
            var failure: SwiftletError?
            walk.forEachRun { o, ao, bo in
                for i in 0..<length where failure == nil {
                    do {
                        let value = try Self.apply(integer: load(a, ao + i * aStep), load(b, bo + i * bStep))
                        if wide {
                            y.storeBytes(of: value, toByteOffset: (o + i) * 8, as: Int64.self)
                        } else {
                            y.storeBytes(of: Int32(truncatingIfNeeded: value), toByteOffset: (o + i) * 4, as: Int32.self)
                        }
                    } catch {
                        failure = error as? SwiftletError
                    }
                }
            }
            if let failure { throw failure }
        }
    }
}

public struct AddOp: BinaryElementwiseOp {
    public static let type = "Add"
    public init() {}
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a + b }
    public static func apply(integer a: Int64, _ b: Int64) -> Int64 { a &+ b }
}

public struct SubOp: BinaryElementwiseOp {
    public static let type = "Sub"
    public init() {}
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a - b }
    public static func apply(integer a: Int64, _ b: Int64) -> Int64 { a &- b }
}

public struct MulOp: BinaryElementwiseOp {
    public static let type = "Mul"
    public init() {}
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a * b }
    public static func apply(integer a: Int64, _ b: Int64) -> Int64 { a &* b }
}

public struct DivOp: BinaryElementwiseOp {
    public static let type = "Div"
    public init() {}
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { a / b }
    /// Truncates toward zero, like C and onnxruntime.
    public static func apply(integer a: Int64, _ b: Int64) throws -> Int64 {
        guard b != 0 else { throw SwiftletError.invalidArgument("integer division by zero") }
        return a.dividedReportingOverflow(by: b).partialValue
    }
}

/// a^b. Exporters write x² as Pow(x, 2) (decomposed LayerNorm); `powf` gives exactly x·x there.
public struct PowOp: BinaryElementwiseOp {
    public static let type = "Pow"
    public init() {}
    @inline(__always) public static func apply(_ a: Float, _ b: Float) -> Float { powf(a, b) }
    /// Integer powers by squaring, wrapping like the other integer ops; a negative exponent has
    /// no integer result (except for bases ±1) and is an error.
    public static func apply(integer a: Int64, _ b: Int64) throws -> Int64 {
        guard b >= 0 else { throw SwiftletError.invalidArgument("integer Pow with a negative exponent (\(b))") }
        var result: Int64 = 1, base = a, exponent = b
        while exponent > 0 {
            if exponent & 1 == 1 { result = result &* base }
            base = base &* base
            exponent >>= 1
        }
        return result
    }
}
