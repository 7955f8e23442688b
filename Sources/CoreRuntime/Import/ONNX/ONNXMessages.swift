/// The parts of onnx.proto that import needs, decoded from wire format. Field numbers are the
/// ones in onnx.proto (checked against the copy shipped in the `onnx` Python package, 1.23).
/// Subgraphs (If/Loop bodies) and sparse tensors are recognized but not decoded: no supported op
/// uses them, and the importer names the op that would need them.

struct ONNXModel {
    var irVersion: Int64 = 0
    /// Operator-set version per domain ("" is the default ONNX domain).
    var opsets: [String: Int64] = [:]
    var producer = ""
    var graph = ONNXGraph()

    init(_ bytes: UnsafeRawBufferPointer) throws(ProtobufReader.Malformed) {
        var reader = ProtobufReader(bytes)
        var sawGraph = false
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .varint): irVersion = try reader.int64()
            case (2, .lengthDelimited): producer = try reader.string()
            case (7, .lengthDelimited): graph = try ONNXGraph(try reader.lengthDelimited()); sawGraph = true
            case (8, .lengthDelimited):
                var opset = ProtobufReader(try reader.lengthDelimited())
                var domain = "", version: Int64 = 0
                while let (f, w) = try opset.nextField() {
                    switch (f, w) {
                    case (1, .lengthDelimited): domain = try opset.string()
                    case (2, .varint): version = try opset.int64()
                    default: try opset.skip(w)
                    }
                }
                opsets[domain == "ai.onnx" ? "" : domain] = version
            default: try reader.skip(wire)
            }
        }
        guard sawGraph else { throw ProtobufReader.Malformed(message: "ModelProto has no graph") }
    }
}

struct ONNXGraph {
    var name = ""
    var nodes: [ONNXNode] = []
    var initializers: [ONNXTensor] = []
    var inputs: [ONNXValueInfo] = []
    var outputs: [ONNXValueInfo] = []
    var hasSparseInitializers = false

    init() {}

    init(_ bytes: UnsafeRawBufferPointer) throws(ProtobufReader.Malformed) {
        var reader = ProtobufReader(bytes)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): nodes.append(try ONNXNode(try reader.lengthDelimited()))
            case (2, .lengthDelimited): name = try reader.string()
            case (5, .lengthDelimited): initializers.append(try ONNXTensor(try reader.lengthDelimited()))
            case (11, .lengthDelimited): inputs.append(try ONNXValueInfo(try reader.lengthDelimited()))
            case (12, .lengthDelimited): outputs.append(try ONNXValueInfo(try reader.lengthDelimited()))
            case (15, .lengthDelimited): hasSparseInitializers = true; try reader.skip(wire)
            default: try reader.skip(wire)
            }
        }
    }
}

struct ONNXNode {
    var name = ""
    var opType = ""
    var domain = ""
    var inputs: [String] = []
    var outputs: [String] = []
    var attributes: [ONNXAttribute] = []

    init(_ bytes: UnsafeRawBufferPointer) throws(ProtobufReader.Malformed) {
        var reader = ProtobufReader(bytes)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): inputs.append(try reader.string())
            case (2, .lengthDelimited): outputs.append(try reader.string())
            case (3, .lengthDelimited): name = try reader.string()
            case (4, .lengthDelimited): opType = try reader.string()
            case (5, .lengthDelimited): attributes.append(try ONNXAttribute(try reader.lengthDelimited()))
            case (7, .lengthDelimited): domain = try reader.string()
            default: try reader.skip(wire)
            }
        }
        if domain == "ai.onnx" { domain = "" }
    }
}

struct ONNXAttribute {
    enum Kind: Int64 {
        case undefined = 0, float = 1, int = 2, string = 3, tensor = 4, graph = 5, floats = 6, ints = 7, strings = 8,
             tensors = 9, graphs = 10, sparseTensor = 11, sparseTensors = 12, typeProto = 13, typeProtos = 14
    }

    var name = ""
    var kind: Kind = .undefined
    var float: Float?
    var int: Int64?
    var string: String?
    var tensor: ONNXTensor?
    var floats: [Float] = []
    var ints: [Int64] = []
    var strings: [String] = []

    init(_ bytes: UnsafeRawBufferPointer) throws(ProtobufReader.Malformed) {
        var reader = ProtobufReader(bytes)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): name = try reader.string()
            case (2, .fixed32): float = Float(bitPattern: try reader.fixed32())
            case (3, .varint): int = try reader.int64()
            case (4, .lengthDelimited): string = try reader.string()
            case (5, .lengthDelimited): tensor = try ONNXTensor(try reader.lengthDelimited())
            case (7, _): try reader.repeatedFloats(wire, into: &floats)
            case (8, _): try reader.repeatedVarints(wire, into: &ints)
            case (9, .lengthDelimited): strings.append(try reader.string())
            case (20, .varint): kind = Kind(rawValue: try reader.int64()) ?? .undefined
            default: try reader.skip(wire)
            }
        }
    }
}

struct ONNXTensor {
    enum Location: Int64 { case inline = 0, external = 1 }

    var name = ""
    var dims: [Int64] = []
    var dataType: Int64 = 0
    /// raw_data, in place in the model's bytes (which outlive the import).
    var raw: UnsafeRawBufferPointer?
    var floatData: [Float] = []
    var int32Data: [Int64] = []   // also carries INT8/UINT8/BOOL/FLOAT16/BFLOAT16 values
    var int64Data: [Int64] = []
    var doubleData: [Double] = []
    var location: Location = .inline
    var externalData: [String: String] = [:]

    init(_ bytes: UnsafeRawBufferPointer) throws(ProtobufReader.Malformed) {
        var reader = ProtobufReader(bytes)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, _): try reader.repeatedVarints(wire, into: &dims)
            case (2, .varint): dataType = try reader.int64()
            case (4, _): try reader.repeatedFloats(wire, into: &floatData)
            case (5, _): try reader.repeatedVarints(wire, into: &int32Data)
            case (7, _): try reader.repeatedVarints(wire, into: &int64Data)
            case (8, .lengthDelimited): name = try reader.string()
            case (9, .lengthDelimited): raw = try reader.lengthDelimited()
            case (10, _): try reader.repeatedDoubles(wire, into: &doubleData)
            case (13, .lengthDelimited):
                var entry = ProtobufReader(try reader.lengthDelimited())
                var key = "", value = ""
                while let (f, w) = try entry.nextField() {
                    switch (f, w) {
                    case (1, .lengthDelimited): key = try entry.string()
                    case (2, .lengthDelimited): value = try entry.string()
                    default: try entry.skip(w)
                    }
                }
                externalData[key] = value
            case (14, .varint):
                let value = try reader.int64()
                guard let location = Location(rawValue: value) else {
                    throw ProtobufReader.Malformed(message: "tensor '\(name)': unknown data_location \(value)")
                }
                self.location = location
            default: try reader.skip(wire)
            }
        }
    }
}

/// A graph input or output: element type and dims (nil when the file gives no shape).
struct ONNXValueInfo {
    enum Dimension { case value(Int64), parameter(String), unknown }

    var name = ""
    var elementType: Int64?
    var dims: [Dimension]?

    init(_ bytes: UnsafeRawBufferPointer) throws(ProtobufReader.Malformed) {
        var reader = ProtobufReader(bytes)
        while let (field, wire) = try reader.nextField() {
            switch (field, wire) {
            case (1, .lengthDelimited): name = try reader.string()
            case (2, .lengthDelimited): try readType(try reader.lengthDelimited())
            default: try reader.skip(wire)
            }
        }
    }

    /// TypeProto → tensor_type (1) → elem_type (1), shape (2) → dim (1) → dim_value (1) | dim_param (2).
    private mutating func readType(_ bytes: UnsafeRawBufferPointer) throws(ProtobufReader.Malformed) {
        var type = ProtobufReader(bytes)
        while let (field, wire) = try type.nextField() {
            guard field == 1, wire == .lengthDelimited else { try type.skip(wire); continue }
            var tensor = ProtobufReader(try type.lengthDelimited())
            while let (f, w) = try tensor.nextField() {
                switch (f, w) {
                case (1, .varint): elementType = try tensor.int64()
                case (2, .lengthDelimited):
                    var shape = ProtobufReader(try tensor.lengthDelimited())
                    var dims: [Dimension] = []
                    while let (sf, sw) = try shape.nextField() {
                        guard sf == 1, sw == .lengthDelimited else { try shape.skip(sw); continue }
                        var dim = ProtobufReader(try shape.lengthDelimited())
                        var value = Dimension.unknown
                        while let (df, dw) = try dim.nextField() {
                            switch (df, dw) {
                            case (1, .varint): value = .value(try dim.int64())
                            case (2, .lengthDelimited): value = .parameter(try dim.string())
                            default: try dim.skip(dw)
                            }
                        }
                        dims.append(value)
                    }
                    self.dims = dims
                default: try tensor.skip(w)
                }
            }
        }
    }
}
