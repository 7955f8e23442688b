/// Writes `.swl` files (docs/FORMAT.md): tensors ordered by element size, header padded so the
/// data section starts at a multiple of 64, every tensor naturally aligned and no gaps.
public enum SWLWriter {
    public static let dataAlignment = 64

    /// The file's bytes. `metadata` adds free-form entries (e.g. "model.name").
    public static func serialize(graph: Graph, tensors: [String: HostTensor], metadata: [String: String] = [:]) -> [UInt8] {
        let order = tensors.keys.sorted { (-tensors[$0]!.dtype.byteSize, $0) < (-tensors[$1]!.dtype.byteSize, $1) }
        var header: [String: JSONValue] = [:]
        var offset = 0
        for name in order {
            let tensor = tensors[name]!
            header[name] = .object(["dtype": .string(tensor.dtype.rawValue), "shape": .array(tensor.shape.map { .int($0) }),
                                    "data_offsets": .array([.int(offset), .int(offset + tensor.bytes.count)])])
            offset += tensor.bytes.count
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
        file.reserveCapacity(8 + text.count + offset)
        file += text
        for name in order { file += tensors[name]!.bytes }
        return file
    }
}
