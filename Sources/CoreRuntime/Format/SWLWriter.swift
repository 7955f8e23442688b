/// Writes `.swl` files (docs/FORMAT.md): tensors ordered by element size, header padded so the
/// data section starts at a multiple of 64, every tensor naturally aligned and no gaps.
public enum SWLWriter {
    public static let dataAlignment = 64

    /// Where each tensor goes in the data section (ranges relative to its start), in file order:
    /// by element size, largest first (so every tensor stays aligned with no padding), then by name.
    public static func layout<Tensor: StorableTensor>(_ tensors: [String: Tensor]) -> [StoredTensor] {
        let order = tensors.keys.sorted {
            (-tensors[$0]!.storedType.dtype.byteSize, $0) < (-tensors[$1]!.storedType.dtype.byteSize, $1)
        }
        var offset = 0
        return order.map { name in
            let type = tensors[name]!.storedType
            defer { offset += type.byteCount }
            return StoredTensor(name: name, type: type, byteRange: offset..<(offset + type.byteCount))
        }
    }

    /// The file's bytes. `metadata` adds free-form entries (e.g. "model.name").
    public static func serialize<Tensor: StorableTensor>(graph: Graph, tensors: [String: Tensor],
                                                         metadata: [String: String] = [:]) -> [UInt8] {
        let stored = layout(tensors)
        var header: [String: JSONValue] = [:]
        for tensor in stored {
            header[tensor.name] = .object(["dtype": .string(tensor.type.dtype.rawValue), "shape": .array(tensor.type.shape.map { .int($0) }),
                                           "data_offsets": .array([.int(tensor.byteRange.lowerBound), .int(tensor.byteRange.upperBound)])])
        }
        var meta = metadata
        meta["format"] = "swiftlet"
        meta["format_version"] = Model.formatVersion
        meta["graph"] = GraphJSON.encode(graph).serialized
        header["__metadata__"] = .object(meta.mapValues { .string($0) })

        var text = Array(JSONValue.object(header).serialized.utf8)
        let padded = (8 + text.count + dataAlignment - 1) / dataAlignment * dataAlignment - 8
        text += [UInt8](repeating: UInt8(ascii: " "), count: padded - text.count)
        var file = withUnsafeBytes(of: UInt64(text.count).littleEndian) { Array($0) }
        file.reserveCapacity(8 + text.count + (stored.last?.byteRange.upperBound ?? 0))
        file += text
        for tensor in stored { tensors[tensor.name]!.withStoredBytes { file.append(contentsOf: $0) } }
        return file
    }
}

/// What `SWLWriter` needs of a tensor: its type and its bytes, as stored.
public protocol StorableTensor {
    var storedType: TensorType { get }
    func withStoredBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result
}

extension HostTensor: StorableTensor {
    public var storedType: TensorType { TensorType(dtype, shape) }
    public func withStoredBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBytes(body)
    }
}

extension ConstantTensor: StorableTensor {
    public var storedType: TensorType { type }
    public func withStoredBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try withExtendedLifetime(owner) { try body(UnsafeRawBufferPointer(start: data, count: type.byteCount)) }
    }
}
