/// The input's shape as an I64 vector (dims `start..<end`, ONNX Shape-15 clamping). Its value
/// depends only on the input's shape, so plans compute it when they are made.
public struct ShapeOp: Operator {
    public static let type = "Shape"
    public static let inputArity = 1...1
    public static let outputArity = 1...1
    public let start: Int
    public let end: Int?

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["start", "end"], op: Self.type)
        start = try attributes.int("start", default: 0)
        end = attributes.values["end"] == nil ? nil : try attributes.int("end", default: 0)
    }

    func range(rank: Int) -> Range<Int> {
        func clamp(_ value: Int) -> Int { Swift.min(Swift.max(value < 0 ? value + rank : value, 0), rank) }
        let (low, high) = (clamp(start), clamp(end ?? rank))
        return low..<Swift.max(low, high)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        [TensorType(.i64, [range(rank: inputs[0]!.rank).count])]
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let dims = inputs[0]!.shape[range(rank: inputs[0]!.rank)].map { Int64($0) }
        return { args in
            let y = args.output(0, as: Int64.self)
            for (i, dim) in dims.enumerated() { y[i] = dim }
        }
    }
}

/// Element type conversion between F32, I32 and I64. Float to integer truncates toward zero;
/// NaN becomes 0 and values beyond the integer range saturate (ONNX leaves both undefined).
public struct CastOp: Operator {
    public static let type = "Cast"
    public static let inputArity = 1...1
    public static let outputArity = 1...1
    public let to: DType

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["to"], op: Self.type)
        let name = try attributes.string("to", default: "")
        guard let to = DType(rawValue: name), to.isActivationType else {
            throw attributes.error("to", "must be F32, I32 or I64, got '\(name)'")
        }
        self.to = to
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        try requireMovable(inputs[0]!)
        return [TensorType(to, inputs[0]!.shape)]
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (from, to, count) = (inputs[0]!.dtype, self.to, outputs[0].count)
        let bytes = outputs[0].byteCount
        return { args in
            let x = args.rawInput(0)!, y = args.rawOutput(0)
            guard from != to else { y.copyMemory(from: x, byteCount: bytes); return }
            for i in 0..<count {
                switch (from, to) {
                case (.i64, .i32): y.storeBytes(of: Int32(truncatingIfNeeded: x.load(fromByteOffset: i * 8, as: Int64.self)), toByteOffset: i * 4, as: Int32.self)
                case (.i32, .i64): y.storeBytes(of: Int64(x.load(fromByteOffset: i * 4, as: Int32.self)), toByteOffset: i * 8, as: Int64.self)
                case (.i64, .f32): y.storeBytes(of: Float(x.load(fromByteOffset: i * 8, as: Int64.self)), toByteOffset: i * 4, as: Float.self)
                case (.i32, .f32): y.storeBytes(of: Float(x.load(fromByteOffset: i * 4, as: Int32.self)), toByteOffset: i * 4, as: Float.self)
                case (.f32, .i64): y.storeBytes(of: Self.integer(x.load(fromByteOffset: i * 4, as: Float.self), Int64.self), toByteOffset: i * 8, as: Int64.self)
                case (.f32, .i32): y.storeBytes(of: Self.integer(x.load(fromByteOffset: i * 4, as: Float.self), Int32.self), toByteOffset: i * 4, as: Int32.self)
                default: return
                }
            }
        }
    }

    /// Truncation toward zero without trapping: NaN → 0, out of range → the nearest bound.
    static func integer<T: FixedWidthInteger>(_ value: Float, _ type: T.Type) -> T {
        if value.isNaN { return 0 }
        let truncated = value.rounded(.towardZero)
        if truncated >= Float(T.max) { return T.max }
        if truncated <= Float(T.min) { return T.min }
        return T(truncated)
    }
}

/// start, start + delta, … up to (not including) limit: three scalars of one type (F32, I32,
/// I64). The length depends on the values, so they must be known when the run is planned
/// (exporters build position ids this way, from the sequence length).
public struct RangeOp: Operator {
    public static let type = "Range"
    public static let inputArity = 3...3
    public static let outputArity = 1...1

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        throw SwiftletError.unsupported("start, limit and delta must be computable when the plan is made (from constants and input shapes)")
    }

    public func inferTypes(_ inputs: [TensorType?], values: [HostTensor?]) throws -> [TensorType] {
        let dtype = inputs[0]!.dtype
        guard inputs.allSatisfy({ $0?.dtype == dtype && $0?.count == 1 }), dtype.isActivationType else {
            throw shapeError("start, limit and delta must be scalars of one type (F32, I32 or I64), got \(inputs.map { $0?.description ?? "-" })")
        }
        let (start, limit, delta) = (Self.scalar(values[0]!), Self.scalar(values[1]!), Self.scalar(values[2]!))
        guard delta != 0, start.isFinite, limit.isFinite, delta.isFinite else {
            throw SwiftletError.invalidArgument("Range needs a finite start and limit and a non-zero delta, got \(start), \(limit), \(delta)")
        }
        let count = max(0, ((limit - start) / delta).rounded(.up))
        guard count <= Double(Shape.maxDim) else { throw shapeError("Range of \(count) elements is too long") }
        return [TensorType(dtype, [Int(count)])]
    }

    static func scalar(_ tensor: HostTensor) -> Double {
        switch tensor.dtype {
        case .f32: Double(tensor.floats[0])
        default: Double(tensor.integers[0])
        }
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (dtype, count) = (outputs[0].dtype, outputs[0].count)
        return { args in
            // Each element from start and its index (not by repeated addition), as onnxruntime does
            // for integers; floats accumulate in Double.
            switch dtype {
            case .f32:
                let start = Double(args.input(0, as: Float.self)[0]), delta = Double(args.input(2, as: Float.self)[0])
                let y = args.output(0, as: Float.self)
                for i in 0..<count { y[i] = Float(start + Double(i) * delta) }
            case .i32:
                let start = args.input(0, as: Int32.self)[0], delta = args.input(2, as: Int32.self)[0]
                let y = args.output(0, as: Int32.self)
                for i in 0..<count { y[i] = start &+ Int32(truncatingIfNeeded: i) &* delta }
            default:
                let start = args.input(0, as: Int64.self)[0], delta = args.input(2, as: Int64.self)[0]
                let y = args.output(0, as: Int64.self)
                for i in 0..<count { y[i] = start &+ Int64(i) &* delta }
            }
        }
    }
}
