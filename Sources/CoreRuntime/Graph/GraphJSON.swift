/// Reading and writing the graph JSON of docs/FORMAT.md.
public enum GraphJSON {
    public static func decode(_ json: JSONValue, constants: [String: TensorType]) throws -> Graph {
        guard let root = json.object else { throw SwiftletError.invalidModel("the graph is not a JSON object") }
        let inputs = try valueInfos(root["inputs"], what: "inputs")
        let outputs = try valueInfos(root["outputs"], what: "outputs")
        guard let nodeList = root["nodes"]?.array else { throw SwiftletError.invalidModel("the graph has no 'nodes' list") }
        let nodes = try nodeList.enumerated().map { index, entry in try node(entry, index: index) }
        return try Graph(inputs: inputs, outputs: outputs, nodes: nodes, constants: constants)
    }

    private static func valueInfos(_ json: JSONValue?, what: String) throws -> [ValueInfo] {
        guard let list = json?.array else { throw SwiftletError.invalidModel("the graph has no '\(what)' list") }
        return try list.enumerated().map { index, entry in
            guard let fields = entry.object, let name = fields["name"]?.string, !name.isEmpty else {
                throw SwiftletError.invalidModel("graph \(what)[\(index)] needs a non-empty 'name'")
            }
            guard let dtypeName = fields["dtype"]?.string, let dtype = DType(rawValue: dtypeName), dtype.isActivationType else {
                throw SwiftletError.invalidModel("graph \(what) '\(name)': 'dtype' must be F32, I32 or I64")
            }
            guard let dims = fields["shape"]?.array else { throw SwiftletError.invalidModel("graph \(what) '\(name)': missing 'shape' list") }
            guard dims.count <= 8 else { throw SwiftletError.invalidModel("graph \(what) '\(name)': rank \(dims.count) exceeds 8") }
            return ValueInfo(name: name, dtype: dtype, dims: try dims.map { dim in
                if let size = dim.int, size >= 0 { return .fixed(size) }
                if let symbol = dim.string, !symbol.isEmpty { return .symbol(symbol) }
                throw SwiftletError.invalidModel("graph \(what) '\(name)': dims must be sizes ≥ 0 or symbol names")
            })
        }
    }

    private static func node(_ json: JSONValue, index: Int) throws -> Node {
        guard let fields = json.object else { throw SwiftletError.invalidModel("nodes[\(index)] is not a JSON object") }
        let name = fields["name"]?.string ?? "nodes[\(index)]"
        guard let op = fields["op"]?.string else { throw SwiftletError.invalidModel("node '\(name)': missing string 'op'") }
        func names(_ key: String) throws -> [String] {
            guard let list = fields[key]?.array else { throw SwiftletError.invalidModel("node '\(name)': missing '\(key)' list") }
            return try list.map {
                guard let text = $0.string else { throw SwiftletError.invalidModel("node '\(name)': '\(key)' must list strings") }
                return text
            }
        }
        var attributes: [String: JSONValue] = [:]
        if let attrs = fields["attrs"] {
            guard let object = attrs.object else { throw SwiftletError.invalidModel("node '\(name)': 'attrs' is not a JSON object") }
            attributes = object
        }
        return try Node(name: name, opType: op, inputs: try names("inputs"), outputs: try names("outputs"), attributes: attributes)
    }

    public static func encode(_ graph: Graph) -> JSONValue {
        func infos(_ list: [ValueInfo]) -> JSONValue {
            .array(list.map { info in
                .object(["name": .string(info.name), "dtype": .string(info.dtype.rawValue),
                         "shape": .array(info.dims.map { dim in
                             switch dim {
                             case .fixed(let size): .int(size)
                             case .symbol(let symbol): .string(symbol)
                             }
                         })])
            })
        }
        return .object(["inputs": infos(graph.inputs), "outputs": infos(graph.outputs), "nodes": .array(graph.nodes.map(\.json))])
    }
}
