/// Window parameters shared by MaxPool and AveragePool (2-D, NCHW).
public struct PoolWindow: Sendable {
    public let kernel: [Int]
    public let strides: [Int]
    /// top, left, bottom, right
    public let pads: [Int]
    public let ceilMode: Bool

    init(_ attributes: Attributes, op: String, extra: Set<String> = []) throws {
        try attributes.allowOnly(Set(["kernel_shape", "strides", "pads", "ceil_mode"]).union(extra), op: op)
        guard attributes.values["kernel_shape"] != nil else { throw attributes.error("kernel_shape", "is required") }
        let kernel = try attributes.sizes("kernel_shape", count: 2, default: [], in: 1...Attributes.maxSize)
        self.kernel = kernel
        strides = try attributes.sizes("strides", count: 2, default: [1, 1], in: 1...Attributes.maxSize)
        pads = try attributes.sizes("pads", count: 4, default: [0, 0, 0, 0], in: 0...Attributes.maxSize)
        let ceil = try attributes.int("ceil_mode", default: 0)
        // A pad as large as the kernel would allow windows that see only padding.
        guard pads.allSatisfy({ $0 >= 0 }), pads[0] < kernel[0], pads[2] < kernel[0], pads[1] < kernel[1], pads[3] < kernel[1] else {
            throw attributes.error("pads", "must be ≥ 0 and smaller than kernel_shape \(kernel), got \(pads)")
        }
        guard ceil == 0 || ceil == 1 else { throw attributes.error("ceil_mode", "must be 0 or 1") }
        ceilMode = ceil == 1
    }

    /// Output size along one axis (ONNX: in ceil mode the last window must start inside the input
    /// or its leading padding).
    func outputSize(input: Int, axis: Int) throws -> Int {
        let span = input + pads[axis] + pads[axis + 2] - kernel[axis]
        guard span >= 0 else { throw shapeError("kernel \(kernel) is larger than the padded input") }
        var size = (ceilMode ? (span + strides[axis] - 1) / strides[axis] : span / strides[axis]) + 1
        if ceilMode && (size - 1) * strides[axis] >= input + pads[axis] { size -= 1 }
        return size
    }

    func outputType(_ x: TensorType) throws -> TensorType {
        try requireFloat(x, "X")
        guard x.rank == 4 else { throw shapeError("X must be NCHW (rank 4), got \(x.shape)") }
        return TensorType(.f32, [x.shape[0], x.shape[1], try outputSize(input: x.shape[2], axis: 0),
                                 try outputSize(input: x.shape[3], axis: 1)])
    }

    /// One output position's window along one axis: `low..<high` are the input positions it
    /// covers; `paddedSpan` is its length counting padding, clipped to the padded input (the
    /// divisor of count_include_pad).
    struct Span: Sendable {
        let low: Int, high: Int, paddedSpan: Int
    }

    /// Windows for every output position along `axis`, computed once per plan so kernels only
    /// loop.
    func spans(axis: Int, input: Int, output: Int) -> [Span] {
        (0..<output).map { o in
            let start = o * strides[axis] - pads[axis], end = start + kernel[axis]
            return Span(low: max(start, 0), high: min(end, input), paddedSpan: min(end, input + pads[axis + 2]) - start)
        }
    }
}

public struct MaxPoolOp: Operator {
    public static let type = "MaxPool"
    public static let inputArity = 1...1
    public static let outputArity = 1...1
    public let window: PoolWindow

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        window = try PoolWindow(attributes, op: Self.type)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] { [try window.outputType(inputs[0]!)] }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        Shape.saturatingProduct(outputs[0].count, window.kernel[0], window.kernel[1])
    }

    // The window loop is written out here and in AveragePool rather than shared: a shared walker
    // (closure-taking or generic over the reduction) measured 0.71 ms against 0.27 ms for this
    // form (MaxPool in `swiftlet bench models/digits_cnn.swl --batch 360 --threads 1 --profile`).
    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (inShape, outShape) = (inputs[0]!.shape, outputs[0].shape)
        let (planes, height, width) = (inShape[0] * inShape[1], inShape[2], inShape[3])
        let rows = window.spans(axis: 0, input: height, output: outShape[2])
        let columns = window.spans(axis: 1, input: width, output: outShape[3])
        return { args in
            let x = args.input(0)
            var y = args.output(0)
            rows.withUnsafeBufferPointer { rows in
                columns.withUnsafeBufferPointer { columns in
                    for plane in 0..<planes {
                        let source = x + plane * height * width
                        for row in rows {
                            for column in columns {
                                var best = -Float.infinity
                                var line = source + row.low * width
                                for _ in row.low..<row.high {
                                    for w in column.low..<column.high {
                                        // NaN propagates, as in numpy.max: once best is NaN, v > best is false.
                                        if line[w] > best || line[w].isNaN { best = line[w] }
                                    }
                                    line += width
                                }
                                y.pointee = best
                                y += 1
                            }
                        }
                    }
                }
            }
        }
    }
}

public struct AveragePoolOp: Operator {
    public static let type = "AveragePool"
    public static let inputArity = 1...1
    public static let outputArity = 1...1
    public let window: PoolWindow
    public let countIncludePad: Bool

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        window = try PoolWindow(attributes, op: Self.type, extra: ["count_include_pad"])
        let include = try attributes.int("count_include_pad", default: 0)
        guard include == 0 || include == 1 else { throw attributes.error("count_include_pad", "must be 0 or 1") }
        countIncludePad = include == 1
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] { [try window.outputType(inputs[0]!)] }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        Shape.saturatingProduct(outputs[0].count, window.kernel[0], window.kernel[1])
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (inShape, outShape, countIncludePad) = (inputs[0]!.shape, outputs[0].shape, self.countIncludePad)
        let (planes, height, width) = (inShape[0] * inShape[1], inShape[2], inShape[3])
        let rows = window.spans(axis: 0, input: height, output: outShape[2])
        let columns = window.spans(axis: 1, input: width, output: outShape[3])
        return { args in
            let x = args.input(0)
            var y = args.output(0)
            for plane in 0..<planes {
                let source = x + plane * height * width
                for row in rows {
                    for column in columns {
                        var sum = 0.0
                        for h in row.low..<row.high {
                            for w in column.low..<column.high { sum += Double(source[h * width + w]) }
                        }
                        // With count_include_pad the divisor counts padding, but never the part of
                        // a ceil-mode window that hangs past the padded input.
                        let divisor = countIncludePad ? row.paddedSpan * column.paddedSpan
                                                      : (row.high - row.low) * (column.high - column.low)
                        y.pointee = Float(sum / Double(divisor))
                        y += 1
                    }
                }
            }
        }
    }
}

/// Mean over every axis after the first two: [N, C, ...] → [N, C, 1, ...].
public struct GlobalAveragePoolOp: Operator {
    public static let type = "GlobalAveragePool"
    public static let inputArity = 1...1
    public static let outputArity = 1...1

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly([], op: Self.type)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        let x = inputs[0]!
        try requireFloat(x, "X")
        guard x.rank >= 3 else { throw shapeError("X must have rank ≥ 3, got \(x.shape)") }
        return [TensorType(.f32, Array(x.shape.prefix(2)) + Array(repeating: 1, count: x.rank - 2))]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { inputs[0]!.count }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let planes = outputs[0].count
        let planeSize = planes == 0 ? 0 : inputs[0]!.count / planes
        return { args in
            let x = args.input(0), y = args.output(0)
            for plane in 0..<planes {
                // Four running sums: one sum's chain of dependent adds made MobileNetV2's
                // 1280 × 7×7 pool take 0.06 ms (onnxruntime's: 0.017).
                let row = x + plane * planeSize
                var sums = SIMD4<Double>()
                var i = 0
                while i + 4 <= planeSize {
                    sums += SIMD4(Double(row[i]), Double(row[i + 1]), Double(row[i + 2]), Double(row[i + 3]))
                    i += 4
                }
                var sum = sums.sum()
                while i < planeSize {
                    sum += Double(row[i])
                    i += 1
                }
                y[plane] = planeSize == 0 ? .nan : Float(sum / Double(planeSize))
            }
        }
    }
}
