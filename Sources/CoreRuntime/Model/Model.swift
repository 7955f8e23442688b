/// A loaded, validated model: the graph, its constant tensors (a `.swl` file's used in place from
/// its memory map; an ONNX file's copied out, aligned) and its metadata. Immutable, so one model serves any number of sessions and
/// threads.
public final class Model: Sendable {
    public let graph: Graph
    public let constants: [String: ConstantTensor]
    /// `__metadata__` entries other than the graph itself (`model.name`, `format_version`, …).
    public let metadata: [String: String]
    /// Tensors in file order, as stored (name, type, encoding size); for an ONNX model, in the
    /// order and at the data-section offsets `swiftlet import` would store them.
    public let storedTensors: [StoredTensor]
    /// Bytes of the model file (the `.onnx` file for an imported model).
    public let fileSize: Int
    /// Backends' layouts of this model's constants, shared by all its sessions.
    let preparedLayouts = PreparedLayouts()

    public static let formatVersion = "1"

    /// Opens a `.swl` file, or an ONNX file (recognized by its content, imported in memory; its
    /// external data is read only from the file's folder).
    public convenience init(path: String) throws {
        let folder = path.lastIndex(of: "/").map { String(path[..<$0]) }.map { $0.isEmpty ? "/" : $0 } ?? "."
        try self.init(bytes: try ModelBytes.map(path: path), folder: folder)
    }

    /// Validates `bytes` as a `.swl` model (docs/FORMAT.md), or imports them as ONNX. Both end in
    /// one validator: the graph's JSON decoded against the tensors, then every node's constants.
    /// (An imported graph is encoded to JSON for it: a few hundred kB, where serializing the
    /// whole model as `.swl` in memory held the weights three times.)
    /// `folder`: where an ONNX model's external data may be (nil: refused).
    public convenience init(bytes: ModelBytes, folder: String? = nil) throws {
        guard ONNXImporter.looksLikeONNX(bytes.buffer) else {
            try self.init(validating: bytes)
            return
        }
        let imported = try ONNXImporter.importModel(bytes, folder: folder)
        var metadata = imported.metadata
        metadata["format"] = "swiftlet"
        metadata["format_version"] = Self.formatVersion
        try self.init(graphText: GraphJSON.encode(imported.graph).serialized, constants: imported.tensors,
                      metadata: metadata, storedTensors: SWLWriter.layout(imported.tensors), fileSize: bytes.buffer.count)
    }

    /// Any failure is `invalidModel`, naming the part at fault.
    private convenience init(validating bytes: ModelBytes) throws {
        let container = try SafetensorsContainer.parse(bytes.buffer)
        guard container.metadata["format"] == "swiftlet" else {
            throw SwiftletError.invalidModel("__metadata__ 'format' must be \"swiftlet\" (this is not a .swl model)")
        }
        guard let version = container.metadata["format_version"] else {
            throw SwiftletError.invalidModel("__metadata__ has no 'format_version'")
        }
        guard version == Self.formatVersion else {
            throw SwiftletError.invalidModel("format_version \(version) is not supported (this library reads \(Self.formatVersion))")
        }
        guard let graphText = container.metadata["graph"] else {
            throw SwiftletError.invalidModel("__metadata__ has no 'graph'")
        }

        var constants: [String: ConstantTensor] = [:]
        for stored in container.tensors {
            let start = bytes.buffer.baseAddress! + stored.byteRange.lowerBound
            if Int(bitPattern: start) % stored.type.dtype.byteSize == 0 {
                constants[stored.name] = ConstantTensor(type: stored.type, data: start, owner: bytes)
            } else {  // Written without the alignment padding: kernels need aligned elements.
                constants[stored.name] = .owning(stored.type, bytes: UnsafeRawBufferPointer(start: start, count: stored.type.byteCount))
            }
        }
        try self.init(graphText: graphText, constants: constants, metadata: container.metadata.filter { $0.key != "graph" },
                      storedTensors: container.tensors, fileSize: bytes.buffer.count)
    }

    /// The validator both kinds of file end in. Any failure is `invalidModel`.
    private init(graphText: String, constants: [String: ConstantTensor], metadata: [String: String],
                 storedTensors: [StoredTensor], fileSize: Int) throws {
        let graphJSON = try Array(graphText.utf8).withUnsafeBytes { try JSONValue.parse($0, what: "the graph") }
        graph = try GraphJSON.decode(graphJSON, constants: constants.mapValues(\.type))
        for node in graph.nodes {
            do {
                try node.op.validateConstantValues(node.inputs.map { constants[$0] })
            } catch let error as SwiftletError {
                throw SwiftletError.invalidModel("node '\(node.name)' (\(node.opType)): \(error.message)")
            }
        }
        self.constants = constants
        self.metadata = metadata
        self.storedTensors = storedTensors
        self.fileSize = fileSize
    }

    /// A model made in memory from an already validated graph (a probe of a graph pass's
    /// result: nothing was read from a file).
    init(graph: Graph, constants: [String: ConstantTensor]) {
        self.graph = graph
        self.constants = constants
        metadata = [:]
        storedTensors = []
        fileSize = 0
    }

    /// Parameters (elements of all constant tensors).
    public var parameterCount: Int { constants.values.reduce(0) { $0 + $1.type.count } }
}
