/// A tensor in Swift-owned memory, for Swift callers (the CLI, tests) that want values rather
/// than caller buffers.
public struct HostTensor: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public init(_ floats: [Float], shape: [Int]) {
        self.init(dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    /// The values of an I64 or I32 tensor.
    public var integers: [Int] {
        bytes.withUnsafeBytes { raw in
            dtype == .i64 ? raw.bindMemory(to: Int64.self).map { Int($0) } : raw.bindMemory(to: Int32.self).map { Int($0) }
        }
    }

    public var floats: [Float] {
        precondition(dtype == .f32, "floats of a \(dtype.rawValue) tensor")
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

extension Runnable {
    /// Runs on owned tensors keyed by input name; returns every graph output by name. The same
    /// path as `run(inputs:outputs:)`, with output buffers sized from shape inference. (Copies
    /// inputs and outputs once: convenience, not the zero-copy path.)
    public func run(_ inputs: [String: HostTensor], profile: Bool = false) throws -> (outputs: [String: HostTensor], report: RunReport) {
        let names = self.inputs.map(\.name)
        for name in inputs.keys where !names.contains(name) {
            throw SwiftletError.notFound("the model has no input named '\(name)' (it has \(names.joined(separator: ", ")))")
        }
        let ordered = try names.map { name in
            guard let tensor = inputs[name] else { throw SwiftletError.invalidArgument("input '\(name)' is missing") }
            return tensor
        }
        let types = try outputTypes(inputShapes: ordered.map(\.shape))
        let inputBuffers = ordered.map { tensor in
            tensor.bytes.withUnsafeBytes { ModelBytes.copy(of: $0) }
        }
        let outputBuffers = types.map { UnsafeMutableRawBufferPointer.allocate(byteCount: max($0.byteCount, 1), alignment: 64) }
        defer { outputBuffers.forEach { $0.deallocate() } }

        let bindings = zip(zip(names, ordered), inputBuffers).map { named, buffer in
            InputBinding(name: named.0, dtype: named.1.dtype, shape: named.1.shape,
                         data: buffer.buffer.baseAddress, byteCount: named.1.bytes.count)
        }
        var outputs = zip(zip(self.outputs, types), outputBuffers).map { described, buffer in
            OutputBinding(name: described.0.name, dtype: described.1.dtype, data: buffer.baseAddress, capacity: described.1.byteCount)
        }
        // The bindings hold raw pointers into inputBuffers: without this, Swift may free the
        // copies right after taking their addresses (it did: the first row read freed memory).
        let report = try withExtendedLifetime(inputBuffers) {
            try run(inputs: bindings, outputs: &outputs, profile: profile)
        }
        var results: [String: HostTensor] = [:]
        for ((info, type), buffer) in zip(zip(self.outputs, types), outputBuffers) {
            results[info.name] = HostTensor(dtype: type.dtype, shape: type.shape, bytes: Array(buffer.prefix(type.byteCount)))
        }
        return (results, report)
    }
}
