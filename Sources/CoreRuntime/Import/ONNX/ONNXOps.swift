/// ONNX nodes to Swiftlet nodes, op by op.
extension ONNXConversion {
    /// ONNX ops whose inputs, outputs and attributes Swiftlet's op of the same name takes as is.
    static let sameSemantics: Set<String> = [
        "Gemm", "MatMul", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization",
        "Relu", "Sigmoid", "Tanh", "Gelu", "Add", "Sub", "Mul", "Div", "Flatten", "Softmax", "Gather",
        "LayerNormalization", "Transpose", "Concat", "Identity", "Shape", "Range", "Erf", "Sqrt", "Pow",
    ]

    /// Ops whose inputs from 1 on are integer parameters (Swiftlet's `parameterInputs`).
    static let parameterized: Set<String> = ["Reshape", "Squeeze", "Unsqueeze", "Split", "Slice", "ReduceMean", "ReduceSum"]

    mutating func convert(_ node: ONNXNode, index: Int) throws {
        let name = uniqueNodeName(node.name.isEmpty ? "\(node.opType)_\(index)" : node.name)
        func unsupported(_ why: String) -> SwiftletError {
            .unsupported("ONNX node '\(name)' (\(node.opType), opset \(opset)): \(why)")
        }
        guard node.domain.isEmpty else { throw unsupported("operator domain '\(node.domain)' is not supported") }

        var inputs = node.inputs
        while inputs.last == "" { inputs.removeLast() }
        var outputs = node.outputs
        while outputs.last == "" { outputs.removeLast() }
        var attrs = try plainAttributes(node, unsupported)

        /// The values of constant input `index` as integers (shape-like inputs), or nil if absent.
        func constantInts(_ index: Int) throws -> [Int]? {
            guard index < inputs.count, !inputs[index].isEmpty else { return nil }
            guard let tensor = constants[inputs[index]] else {
                // Defensive: computed parameters are passed through as inputs before this point.
                throw unsupported("input \(index) ('\(inputs[index])') must be a constant")
            }
            let count = tensor.type.count
            switch tensor.type.dtype {
            case .i64: return UnsafeBufferPointer(start: tensor.data.assumingMemoryBound(to: Int64.self), count: count).map { Int($0) }
            case .i32: return UnsafeBufferPointer(start: tensor.data.assumingMemoryBound(to: Int32.self), count: count).map { Int($0) }
            default: throw unsupported("input \(index) must be I32 or I64, is \(tensor.type.dtype.rawValue)")
            }
        }
        func constantScalar(_ index: Int) throws -> Float? {
            guard index < inputs.count, !inputs[index].isEmpty else { return nil }
            guard let tensor = constants[inputs[index]], tensor.type.dtype == .f32, tensor.type.count == 1 else {
                throw unsupported("input \(index) ('\(inputs[index])') must be a constant F32 scalar")
            }
            return tensor.floats[0]
        }
        func ints(_ values: [Int]) -> JSONValue { .array(values.map { .int($0) }) }

        var opType = node.opType
        // Parameters computed in the graph (Shape → Gather → Concat, as exporters write them) stay
        // inputs: the session computes them from the input shapes when it plans a run.
        if Self.parameterized.contains(node.opType),
           inputs.dropFirst().contains(where: { !$0.isEmpty && constants[$0] == nil }) {
            do {
                nodes.append(try Node(name: name, opType: opType, inputs: inputs, outputs: outputs, attributes: attrs))
            } catch let error as SwiftletError {
                throw unsupported(error.message)
            }
            return
        }
        switch node.opType {
        case "Constant":
            guard outputs.count == 1 else { throw unsupported("expects one output") }
            constants[outputs[0]] = try constantValue(node, unsupported)
            return
        case "Dropout":
            // Inference: the identity. Its mask output and training mode have no meaning here.
            guard outputs.count == 1 else { throw unsupported("the mask output is not supported") }
            guard inputs.count < 3 else { throw unsupported("the training_mode input is not supported") }
            opType = "Identity"
            inputs = [inputs[0]]
            attrs = [:]
        case "Cast":
            let names: [Int: String] = [1: "F32", 6: "I32", 7: "I64"]
            guard let to = attrs["to"]?.int, let name = names[to] else {
                throw unsupported("casting to ONNX type \(attrs["to"]?.int.map(String.init) ?? "?") is not supported (F32, I32, I64 are)")
            }
            attrs = ["to": .string(name)]
        case "Clip":
            if let low = try constantScalar(1) { attrs["min"] = .double(Double(low)) }
            if let high = try constantScalar(2) { attrs["max"] = .double(Double(high)) }
            inputs = [inputs[0]]
        case "Reshape":
            guard let shape = try constantInts(1) else { throw unsupported("missing the shape input") }
            attrs["shape"] = ints(shape)
            inputs = [inputs[0]]
        case "Squeeze", "Unsqueeze", "ReduceMean", "ReduceSum":
            if let axes = try constantInts(1) { attrs["axes"] = ints(axes) }
            inputs = [inputs[0]]
        case "Split":
            if let split = try constantInts(1) { attrs["split"] = ints(split) }
            inputs = [inputs[0]]
        case "Slice":
            guard let starts = try constantInts(1), let ends = try constantInts(2) else { throw unsupported("missing starts or ends") }
            attrs["starts"] = ints(starts)
            attrs["ends"] = ints(ends)
            if let axes = try constantInts(3) { attrs["axes"] = ints(axes) }
            if let steps = try constantInts(4) { attrs["steps"] = ints(steps) }
            inputs = [inputs[0]]
        case "Conv", "MaxPool", "AveragePool":
            // Swiftlet's Conv takes a fourth input (a fused residual); ONNX's takes X, W and B.
            if node.opType == "Conv", inputs.count > 3 { throw unsupported("Conv takes at most 3 inputs, got \(inputs.count)") }
            switch attrs.removeValue(forKey: "auto_pad")?.string ?? "NOTSET" {
            case "NOTSET": break
            case "VALID": attrs["pads"] = ints([0, 0, 0, 0])
            case let mode: throw unsupported("auto_pad \(mode) is not supported (export with explicit pads)")
            }
            if node.opType != "Conv", let dilations = attrs.removeValue(forKey: "dilations") {
                guard dilations.array?.allSatisfy({ $0.int == 1 }) == true else { throw unsupported("pooling dilations are not supported") }
            }
            if node.opType == "MaxPool" {
                guard outputs.count == 1 else { throw unsupported("the Indices output is not supported") }
                guard (attrs.removeValue(forKey: "storage_order")?.int ?? 0) == 0 else { throw unsupported("storage_order 1 is not supported") }
            }
        case "BatchNormalization", "LayerNormalization":
            guard outputs.count == 1 else { throw unsupported("only the first output is supported (inference)") }
        case _ where Self.sameSemantics.contains(node.opType):
            break
        default:
            throw unsupported("the op is not supported")
        }

        do {
            nodes.append(try Node(name: name, opType: opType, inputs: inputs, outputs: outputs, attributes: attrs))
        } catch let error as SwiftletError {
            // An attribute Swiftlet does not implement, or a value out of its range: say so with
            // the ONNX node's context rather than as a defect of a .swl file.
            throw unsupported(error.message)
        }
    }

    private mutating func uniqueNodeName(_ base: String) -> String {
        var name = base, counter = 1
        while nodeNames.contains(name) { name = "\(base)_\(counter)"; counter += 1 }
        nodeNames.insert(name)
        return name
    }

    /// Scalar and list attributes as graph JSON; tensor-valued ones are read by `constantValue`.
    private func plainAttributes(_ node: ONNXNode, _ unsupported: (String) -> SwiftletError) throws -> [String: JSONValue] {
        var attrs: [String: JSONValue] = [:]
        for attribute in node.attributes {
            switch attribute.kind {
            case .float: attrs[attribute.name] = .double(Double(attribute.float ?? 0))
            case .int: attrs[attribute.name] = .int(Int(attribute.int ?? 0))
            case .string: attrs[attribute.name] = .string(attribute.string ?? "")
            case .floats: attrs[attribute.name] = .array(attribute.floats.map { .double(Double($0)) })
            case .ints: attrs[attribute.name] = .array(attribute.ints.map { .int(Int($0)) })
            case .tensor where node.opType == "Constant": continue
            default: throw unsupported("attribute '\(attribute.name)' of kind \(attribute.kind) is not supported")
            }
        }
        return attrs
    }

    /// The value of a Constant node.
    private func constantValue(_ node: ONNXNode, _ unsupported: (String) -> SwiftletError) throws -> ConstantTensor {
        guard let attribute = node.attributes.first else { throw unsupported("has no value") }
        switch (attribute.name, attribute.kind) {
        case ("value", .tensor):
            guard let value = attribute.tensor else { throw unsupported("empty value") }
            return try tensor(value)
        case ("value_float", .float): return .owning([], floats: [attribute.float ?? 0])
        case ("value_floats", .floats): return .owning([attribute.floats.count], floats: attribute.floats)
        case ("value_int", .int):
            return withUnsafeBytes(of: attribute.int ?? 0) { .owning(TensorType(.i64, []), bytes: $0) }
        case ("value_ints", .ints):
            return attribute.ints.withUnsafeBytes { .owning(TensorType(.i64, [attribute.ints.count]), bytes: $0) }
        default: throw unsupported("constant '\(attribute.name)' is not supported")
        }
    }
}
