/// Window parameters shared by MaxPool and AveragePool (2-D, NCHW).
public struct PoolWindow: Sendable {
    public let kernel: [Int]
    public let strides: [Int]
    /// top, left, bottom, right
    public let pads: [Int]
    public let ceilMode: Bool

    init(_ attributes: Attributes, op: String, extra: Set<String> = []) throws {
        try attributes.allowOnly(Set(["kernel_shape", "strides", "pads", "ceil_mode"]).union(extra), op: op)
        guard let kernel = try attributes.ints("kernel_shape") else { throw attributes.error("kernel_shape", "is required") }
        guard kernel.count == 2, kernel.allSatisfy({ $0 >= 1 }) else {
            throw attributes.error("kernel_shape", "must be two sizes ≥ 1, got \(kernel)")
        }
        self.kernel = kernel
        strides = try attributes.ints("strides", count: 2, default: [1, 1])
        pads = try attributes.ints("pads", count: 4, default: [0, 0, 0, 0])
        let ceil = try attributes.int("ceil_mode", default: 0)
        guard strides.allSatisfy({ $0 >= 1 }) else { throw attributes.error("strides", "must be ≥ 1, got \(strides)") }
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

    /// Calls `body(planeOffset, outputIndex, hStart, hEnd, wStart, wEnd)` per output element,
    /// window bounds unclipped (in padded coordinates relative to the input).
    func forEachWindow(input: [Int], output: [Int], _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        let (height, width, outH, outW) = (input[2], input[3], output[2], output[3])
        for plane in 0..<(input[0] * input[1]) {
            for oh in 0..<outH {
                let hStart = oh * strides[0] - pads[0]
                for ow in 0..<outW {
                    let wStart = ow * strides[1] - pads[1]
                    body(plane * height * width, (plane * outH + oh) * outW + ow,
                         hStart, hStart + kernel[0], wStart, wStart + kernel[1])
                }
            }
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
        outputs[0].count * window.kernel[0] * window.kernel[1]
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (inShape, outShape, window) = (inputs[0]!.shape, outputs[0].shape, self.window)
        let (height, width) = (inShape[2], inShape[3])
        return { args in
            let x = args.input(0), y = args.output(0)
            window.forEachWindow(input: inShape, output: outShape) { plane, out, h0, h1, w0, w1 in
                var best = -Float.infinity
                for h in max(h0, 0)..<min(h1, height) {
                    for w in max(w0, 0)..<min(w1, width) {
                        let v = x[plane + h * width + w]
                        if v > best || v.isNaN { best = v }  // NaN propagates, as in numpy.max
                        if best.isNaN { break }
                    }
                }
                y[out] = best
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
        outputs[0].count * (window.kernel[0] * window.kernel[1] + 1)
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let (inShape, outShape, window, countIncludePad) = (inputs[0]!.shape, outputs[0].shape, self.window, self.countIncludePad)
        let (height, width) = (inShape[2], inShape[3])
        return { args in
            let x = args.input(0), y = args.output(0)
            window.forEachWindow(input: inShape, output: outShape) { plane, out, h0, h1, w0, w1 in
                let (hLow, hHigh, wLow, wHigh) = (max(h0, 0), min(h1, height), max(w0, 0), min(w1, width))
                var sum = 0.0
                for h in hLow..<hHigh { for w in wLow..<wHigh { sum += Double(x[plane + h * width + w]) } }
                // With count_include_pad the divisor counts padding, but never the part of a
                // ceil-mode window that hangs past the padded input.
                let divisor = countIncludePad
                    ? (min(h1, height + window.pads[2]) - h0) * (min(w1, width + window.pads[3]) - w0)
                    : (hHigh - hLow) * (wHigh - wLow)
                y[out] = Float(sum / Double(divisor))
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
                var sum = 0.0
                for i in 0..<planeSize { sum += Double(x[plane * planeSize + i]) }
                y[plane] = planeSize == 0 ? .nan : Float(sum / Double(planeSize))
            }
        }
    }
}
