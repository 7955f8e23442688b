/// One tensor listed in a safetensors header; `byteRange` is absolute within the file (for an
/// imported ONNX model, relative to the data section `swiftlet import` would write: `SWLWriter.layout`).
public struct StoredTensor: Sendable, Equatable {
    public let name: String
    public let type: TensorType
    public let byteRange: Range<Int>
}

/// The safetensors container around a `.swl` model (docs/FORMAT.md): validated down to the last
/// byte before anything reads a tensor.
public struct SafetensorsContainer: Sendable {
    /// Tensors in file order.
    public let tensors: [StoredTensor]
    public let metadata: [String: String]

    /// The safetensors reference implementation's limit: no real model has a larger header.
    public static let maxHeaderBytes = 100 << 20

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> SafetensorsContainer {
        guard bytes.count >= 8 else {
            throw SwiftletError.invalidModel(
                "file is \(bytes.count) bytes, shorter than the 8-byte header length field")
        }
        let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard declared <= UInt64(maxHeaderBytes) else {
            throw SwiftletError.invalidModel("header length \(declared) exceeds the \(maxHeaderBytes)-byte limit")
        }
        let headerLength = Int(declared)
        guard 8 + headerLength <= bytes.count else {
            throw SwiftletError.invalidModel(
                "header length \(headerLength) runs past the end of the file (\(bytes.count) bytes)")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
        guard let header = try JSONValue.parse(headerBytes, what: "header").object else {
            throw SwiftletError.invalidModel("header is not a JSON object")
        }

        let dataStart = 8 + headerLength
        let dataSize = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var tensors: [StoredTensor] = []
        for (name, entry) in header {
            if name == "__metadata__" {
                metadata = try parseMetadata(entry)
            } else {
                tensors.append(try parseTensor(name: name, entry: entry, dataStart: dataStart, dataSize: dataSize))
            }
        }
        tensors.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound, $0.name) < ($1.byteRange.lowerBound, $1.byteRange.upperBound, $1.name) }
        try checkCoverage(tensors, dataStart: dataStart, fileSize: bytes.count)
        return SafetensorsContainer(tensors: tensors, metadata: metadata)
    }

    private static func parseMetadata(_ entry: JSONValue) throws -> [String: String] {
        guard let fields = entry.object else {
            throw SwiftletError.invalidModel("__metadata__ is not a JSON object")
        }
        var metadata: [String: String] = [:]
        for (key, value) in fields {
            guard let text = value.string else {
                throw SwiftletError.invalidModel("__metadata__ value '\(key)' is not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseTensor(name: String, entry: JSONValue, dataStart: Int, dataSize: Int) throws -> StoredTensor {
        func fail(_ problem: String) -> SwiftletError { .invalidModel("tensor '\(name)': \(problem)") }
        guard let fields = entry.object else { throw fail("entry is not a JSON object") }
        guard let dtypeName = fields["dtype"]?.string else { throw fail("missing string 'dtype'") }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw fail("unsupported dtype '\(dtypeName)' (supported: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let dims = fields["shape"]?.array else { throw fail("missing 'shape' list") }
        let shape = try dims.map { dim -> Int in
            guard let value = dim.strictInt, value >= 0 else { throw fail("shape entries must be non-negative integers") }
            return value
        }
        guard let byteCount = Shape.checkedByteCount(shape, elementSize: dtype.byteSize) else {
            throw fail("shape \(shape) has more elements than fit in memory (product overflows)")
        }
        if let problem = Shape.boundsProblem(shape) { throw fail(problem) }
        guard let offsets = fields["data_offsets"]?.array, offsets.count == 2,
              let begin = offsets[0].strictInt, let end = offsets[1].strictInt
        else { throw fail("'data_offsets' must be a list of two integers") }
        guard 0 <= begin, begin <= end else { throw fail("data_offsets [\(begin), \(end)] are not ordered non-negative offsets") }
        guard end <= dataSize else {
            throw fail("data_offsets [\(begin), \(end)] run past the end of the data section (\(dataSize) bytes)")
        }
        guard end - begin == byteCount else {
            throw fail("holds \(end - begin) bytes but \(dtypeName)\(shape) needs \(byteCount)")
        }
        return StoredTensor(name: name, type: TensorType(dtype, shape),
                            byteRange: (dataStart + begin)..<(dataStart + end))
    }

    /// Tensors must tile the data section exactly, as safetensors requires.
    private static func checkCoverage(_ sorted: [StoredTensor], dataStart: Int, fileSize: Int) throws {
        var cursor = dataStart
        var previous: String?
        for tensor in sorted {
            if tensor.byteRange.lowerBound < cursor, let previous {
                throw SwiftletError.invalidModel("tensors '\(previous)' and '\(tensor.name)' overlap in the data section")
            }
            if tensor.byteRange.lowerBound > cursor {
                throw SwiftletError.invalidModel(
                    "\(tensor.byteRange.lowerBound - cursor) bytes before tensor '\(tensor.name)' belong to no tensor")
            }
            cursor = tensor.byteRange.upperBound
            previous = tensor.name
        }
        if cursor != fileSize {
            throw SwiftletError.invalidModel("\(fileSize - cursor) bytes at the end of the file belong to no tensor")
        }
    }
}
