#if canImport(Glibc)
import Glibc
#endif

/// Converts an ONNX model into a Swiftlet graph and its tensors. The result is written as `.swl`
/// (`swiftlet import`) or, when an `.onnx` file is opened directly, handed to the same validator
/// as any `.swl` file's graph and tensors (`Model`), without writing a `.swl` in memory.
///
/// Weights are copied once, out of the file's map into aligned memory (protobuf's raw_data is
/// not aligned for its elements: in torch's MiniLM export 100 of 101 weights are not), and each
/// copied range of the map is evicted at once: opening MiniLM (86 MB of weights) then peaks at
/// about one copy of them, where reading, serializing and re-opening it held three.
///
/// ONNX ops map onto Swiftlet ops with the same semantics; inputs that Swiftlet takes as
/// attributes (Reshape's shape, Clip's bounds, Slice/Split/Squeeze/Unsqueeze parameters) must be
/// constants and are folded into attributes here. Anything else is `unsupported`, naming the op,
/// the node and the opset — never approximated.
public enum ONNXImporter {
    public static let supportedOpsets: ClosedRange<Int64> = 13...21

    public struct Imported {
        public let graph: Graph
        public let tensors: [String: ConstantTensor]
        public let metadata: [String: String]
    }

    /// True when `bytes` are not a safetensors/`.swl` file (whose ninth byte opens its JSON
    /// header) but start like a protobuf ModelProto (field 1, ir_version, as exporters write it).
    public static func looksLikeONNX(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count > 8 && bytes[8] != UInt8(ascii: "{") && bytes[0] == 0x08
    }

    /// `folder` is where external-data files may live (nil: external data is refused).
    public static func importModel(_ bytes: ModelBytes, folder: String?) throws -> Imported {
        let model: ONNXModel
        do {
            model = try ONNXModel(bytes.buffer)
        } catch {
            throw SwiftletError.invalidModel("malformed ONNX protobuf: \(error.message)")
        }
        let opset = model.opsets[""] ?? 0
        guard supportedOpsets.contains(opset) else {
            throw SwiftletError.unsupported("ONNX opset \(opset) is not supported (supported: \(supportedOpsets.lowerBound)–\(supportedOpsets.upperBound))")
        }
        guard !model.graph.hasSparseInitializers else {
            throw SwiftletError.unsupported("ONNX sparse initializers are not supported")
        }
        var conversion = ONNXConversion(opset: opset, folder: folder, source: bytes)
        let graph = try conversion.convert(model.graph)
        var metadata = ["model.source": "onnx", "model.onnx_opset": String(opset)]
        if !model.producer.isEmpty { metadata["model.producer"] = model.producer }
        if !model.graph.name.isEmpty { metadata["model.name"] = model.graph.name }
        return Imported(graph: graph, tensors: conversion.usedTensors(by: graph), metadata: metadata)
    }
}

/// The state of one conversion: constants known so far and the nodes produced.
struct ONNXConversion {
    let opset: Int64
    let folder: String?
    /// The model's bytes, whose mapped pages are evicted as weights are copied out.
    let source: ModelBytes
    var constants: [String: ConstantTensor] = [:]
    var nodes: [Node] = []
    var nodeNames = Set<String>()

    init(opset: Int64, folder: String?, source: ModelBytes) {
        self.opset = opset
        self.folder = folder
        self.source = source
    }

    mutating func convert(_ graph: ONNXGraph) throws -> Graph {
        // Only initializers something reads: an unused one in a type Swiftlet lacks is no reason
        // to refuse the model.
        let read = Set(graph.nodes.flatMap(\.inputs) + graph.outputs.map(\.name))
        for initializer in graph.initializers where read.contains(initializer.name) {
            // The .swl header's own key: `swiftlet import` could not write a tensor of that name.
            guard initializer.name != "__metadata__" else {
                throw SwiftletError.invalidModel("ONNX tensor '__metadata__': the name is reserved by the .swl format")
            }
            constants[initializer.name] = try tensor(initializer)
        }
        // Older exporters also list initializers as graph inputs; those are constants.
        let initializerNames = Set(graph.initializers.map(\.name))
        let inputs = try graph.inputs.filter { !initializerNames.contains($0.name) }.map { try valueInfo($0, what: "input") }
        let outputs = try graph.outputs.map { try valueInfo($0, what: "output") }
        for (index, node) in graph.nodes.enumerated() {
            try convert(node, index: index)
        }
        return try Graph(inputs: inputs, outputs: outputs, nodes: nodes, constants: constants.mapValues(\.type))
    }

    /// Only the tensors the converted graph reads (constants folded into attributes are dropped).
    func usedTensors(by graph: Graph) -> [String: ConstantTensor] {
        let used = Set(graph.nodes.flatMap(\.inputs) + graph.outputs.map(\.name))
        return constants.filter { used.contains($0.key) }
    }

    // MARK: - Values and tensors

    private func valueInfo(_ info: ONNXValueInfo, what: String) throws -> ValueInfo {
        let dtype: DType
        switch info.elementType {
        case 1: dtype = .f32
        case 6: dtype = .i32
        case 7: dtype = .i64
        default: throw SwiftletError.unsupported("graph \(what) '\(info.name)': element type \(info.elementType.map(String.init) ?? "missing") is not supported (F32, I32, I64 are)")
        }
        guard let dims = info.dims else {
            throw SwiftletError.unsupported("graph \(what) '\(info.name)' has no shape; run onnx.shape_inference on the model first")
        }
        guard dims.count <= 8 else { throw SwiftletError.unsupported("graph \(what) '\(info.name)' has rank \(dims.count) > 8") }
        return ValueInfo(name: info.name, dtype: dtype, dims: try dims.enumerated().map { axis, dim in
            switch dim {
            case .value(let size):
                guard size >= 0 else { throw SwiftletError.invalidModel("graph \(what) '\(info.name)' has dim \(size)") }
                return .fixed(Int(size))
            case .parameter(let name) where !name.isEmpty: return .symbol(name)
            default: return .symbol("\(info.name)_dim\(axis)")
            }
        })
    }

    /// An ONNX tensor's values as Swiftlet stores them (little-endian, row-major), in aligned
    /// memory of their own.
    func tensor(_ t: ONNXTensor) throws -> ConstantTensor {
        func fail(_ problem: String) -> SwiftletError { .invalidModel("ONNX tensor '\(t.name)': \(problem)") }
        let dtype: DType
        switch t.dataType {
        case 1: dtype = .f32
        case 2: dtype = .u8
        case 3: dtype = .i8
        case 6: dtype = .i32
        case 7: dtype = .i64
        case 10: dtype = .f16
        case 16: dtype = .bf16
        default: throw SwiftletError.unsupported("ONNX tensor '\(t.name)': data type \(t.dataType) is not supported")
        }
        guard t.dims.allSatisfy({ $0 >= 0 }), let byteCount = Shape.checkedByteCount(t.dims.map { Int($0) }, elementSize: dtype.byteSize)
        else { throw fail("invalid dims \(t.dims)") }
        let shape = t.dims.map { Int($0) }
        // The same bounds a .swl file's tensors are held to: an empty tensor's other dims could
        // otherwise overflow the shape arithmetic of the ops that read it.
        if let problem = Shape.boundsProblem(shape) { throw fail(problem) }
        let count = byteCount / dtype.byteSize
        let type = TensorType(dtype, shape)
        if t.location == .external {
            return try externalData(t, type)
        } else if let raw = t.raw {
            guard raw.count == byteCount else { throw fail("holds \(raw.count) bytes, \(dtype.rawValue)\(shape) needs \(byteCount)") }
            defer { source.evict(raw) }
            return .owning(type, bytes: raw)
        } else {
            var bytes: [UInt8]
            switch dtype {
            case .f32: bytes = t.floatData.withUnsafeBytes { Array($0) }
            case .i64: bytes = t.int64Data.withUnsafeBytes { Array($0) }
            case .i32: bytes = t.int32Data.map { Int32(truncatingIfNeeded: $0) }.withUnsafeBytes { Array($0) }
            case .i8, .u8: bytes = t.int32Data.map { UInt8(truncatingIfNeeded: $0) }
            case .f16, .bf16: bytes = t.int32Data.map { UInt16(truncatingIfNeeded: $0) }.withUnsafeBytes { Array($0) }
            }
            // A typed field with no values is how an empty tensor is written.
            if bytes.isEmpty && count > 0 { throw fail("holds no data for \(count) elements") }
            guard bytes.count == byteCount else { throw fail("holds \(bytes.count) bytes, \(dtype.rawValue)\(shape) needs \(byteCount)") }
            return bytes.withUnsafeBytes { .owning(type, bytes: $0) }
        }
    }

    /// Reads external data, only from inside the model's folder.
    private func externalData(_ t: ONNXTensor, _ type: TensorType) throws -> ConstantTensor {
        let byteCount = type.byteCount
        guard let folder else {
            throw SwiftletError.invalidModel("ONNX tensor '\(t.name)' has external data, which needs the model opened from a file")
        }
        guard let location = t.externalData["location"], !location.isEmpty else {
            throw SwiftletError.invalidModel("ONNX tensor '\(t.name)': external data without a location")
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: false)
        guard !location.hasPrefix("/"), !components.contains(".."), !location.contains("\0") else {
            throw SwiftletError.invalidModel("ONNX tensor '\(t.name)': external data location '\(location)' leaves the model's folder")
        }
        let path = folder + "/" + location
        // A symbolic link could still lead outside: compare resolved paths.
        guard let resolvedFolder = realpath(folder, nil), let resolvedFile = realpath(path, nil) else {
            throw SwiftletError.notFound("ONNX tensor '\(t.name)': external data file '\(location)' not found next to the model")
        }
        defer { free(resolvedFolder); free(resolvedFile) }
        guard String(cString: resolvedFile).hasPrefix(String(cString: resolvedFolder) + "/") else {
            throw SwiftletError.invalidModel("ONNX tensor '\(t.name)': external data location '\(location)' leaves the model's folder")
        }
        let file = try ModelBytes.map(path: path)
        let offset = Int(t.externalData["offset"] ?? "0") ?? -1
        let length = t.externalData["length"].map { Int($0) ?? -1 } ?? byteCount
        guard offset >= 0, length == byteCount, offset <= file.buffer.count, byteCount <= file.buffer.count - offset else {
            throw SwiftletError.invalidModel("ONNX tensor '\(t.name)': external data range (offset \(offset), length \(length)) does not fit '\(location)' or the tensor")
        }
        // `file` is unmapped when this returns: the copy is all that stays resident.
        return .owning(type, bytes: UnsafeRawBufferPointer(rebasing: file.buffer[offset..<(offset + byteCount)]))
    }
}
