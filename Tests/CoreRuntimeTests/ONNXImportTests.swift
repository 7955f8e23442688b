import Testing
@testable import CoreRuntime

/// The protobuf decoder and the importer on hand-encoded bytes (Python tests compare imported
/// models with onnxruntime; these pin down the wire format and hostile input).
@Suite struct ONNXImportTests {
    /// Minimal protobuf writer for building test messages.
    struct Message {
        var bytes: [UInt8] = []
        mutating func varint(_ value: UInt64) {
            var v = value
            repeat {
                bytes.append(UInt8(v & 0x7F) | (v >= 0x80 ? 0x80 : 0))
                v >>= 7
            } while v != 0
        }
        mutating func field(_ number: Int, int value: Int64) { varint(UInt64(number << 3)); varint(UInt64(bitPattern: value)) }
        mutating func field(_ number: Int, bytes payload: [UInt8]) {
            varint(UInt64(number << 3 | 2)); varint(UInt64(payload.count)); bytes += payload
        }
        mutating func field(_ number: Int, string: String) { field(number, bytes: Array(string.utf8)) }
        mutating func field(_ number: Int, message: Message) { field(number, bytes: message.bytes) }
    }

    /// y = Relu(x + c), x: F32 ["n", 2], c a float_data initializer, opset 17.
    static func reluModel(packedDims: Bool = true) -> [UInt8] {
        func valueInfo(_ name: String, dims: [Message]) -> Message {
            var shape = Message()
            for dim in dims { shape.field(1, message: dim) }
            var tensorType = Message()
            tensorType.field(1, int: 1)
            tensorType.field(2, message: shape)
            var type = Message()
            type.field(1, message: tensorType)
            var info = Message()
            info.field(1, string: name)
            info.field(2, message: type)
            return info
        }
        var dimN = Message(); dimN.field(2, string: "n")
        var dim2 = Message(); dim2.field(1, int: 2)
        var constant = Message()
        if packedDims {
            var dims = Message(); dims.varint(2)
            constant.field(1, bytes: dims.bytes)
        } else {
            constant.field(1, int: 2)
        }
        constant.field(2, int: 1)
        constant.field(4, bytes: [Float(1.5), -3].withUnsafeBytes { Array($0) })
        constant.field(8, string: "c")
        var add = Message()
        add.field(1, string: "x"); add.field(1, string: "c"); add.field(2, string: "s"); add.field(4, string: "Add")
        var relu = Message()
        relu.field(1, string: "s"); relu.field(2, string: "y"); relu.field(3, string: "act"); relu.field(4, string: "Relu")
        var graph = Message()
        graph.field(1, message: add); graph.field(1, message: relu); graph.field(2, string: "g")
        graph.field(5, message: constant)
        graph.field(11, message: valueInfo("x", dims: [dimN, dim2]))
        graph.field(12, message: valueInfo("y", dims: [dimN, dim2]))
        var opset = Message(); opset.field(2, int: 17)
        var model = Message()
        model.field(1, int: 8)
        model.field(7, message: graph)
        model.field(8, message: opset)
        return model.bytes
    }

    func load(_ bytes: [UInt8]) throws -> Model { try Model(bytes: bytes.withUnsafeBytes { ModelBytes.copy(of: $0) }) }

    @Test(arguments: [true, false])
    func aHandEncodedModelImportsAndRuns(packedDims: Bool) throws {
        let model = try load(Self.reluModel(packedDims: packedDims))
        #expect(model.metadata["model.source"] == "onnx")
        let session = try Session(model: model, backend: ReferenceBackend(), fallback: ReferenceBackend(), options: SessionOptions())
        let y = try session.run(["x": HostTensor([1, 1, -2, 5], shape: [2, 2])]).outputs["y"]!
        #expect(y.floats == [2.5, 0, 0, 2])
    }

    @Test func truncationAtEveryLengthIsAnErrorNotACrash() {
        let bytes = Self.reluModel()
        for length in 9..<bytes.count {
            #expect(throws: SwiftletError.self, "truncated to \(length)") { _ = try load(Array(bytes[..<length])) }
        }
    }

    @Test func malformedWireDataIsReported() throws {
        [UInt8](repeating: 0xFF, count: 11).withUnsafeBytes { bytes in
            var reader = ProtobufReader(bytes)
            #expect(throws: ProtobufReader.Malformed.self) { _ = try reader.varint() }
        }
        // A length that runs past the end of the message.
        var model = Message()
        model.field(1, int: 8)
        model.varint(7 << 3 | 2); model.varint(1000)
        do {
            _ = try load(model.bytes + [UInt8](repeating: 0, count: 8))
            Issue.record("loaded")
        } catch let error as SwiftletError {
            #expect(error.kind == .invalidModel)
            #expect(error.message.contains("runs past the end"))
        }
    }

    @Test func unsupportedOpsAndOpsetsNameTheirNode() throws {
        var bytes = Self.reluModel()
        // Rename the Relu op to one Swiftlet does not have (same length keeps the encoding valid).
        let relu = Array("Relu".utf8)
        let at = (0...(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == relu }!
        bytes.replaceSubrange(at..<(at + 4), with: Array("Erfc".utf8))
        do {
            _ = try load(bytes)
            Issue.record("loaded")
        } catch let error as SwiftletError {
            #expect(error.kind == .unsupported)
            #expect(error.message.contains("'act'") && error.message.contains("Erfc") && error.message.contains("opset 17"))
        }
    }
}
