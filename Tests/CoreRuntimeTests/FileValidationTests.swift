import Testing
@testable import CoreRuntime
import TestSupport

/// The corrupted-file corpus: every malformed container must be `invalidModel` with a message
/// naming the problem — never a crash, never a model that loads.
@Suite struct FileValidationTests {
    /// A file from raw header text and data bytes, so each test can break exactly one thing.
    func file(header: String, data: [UInt8] = []) -> [UInt8] {
        let text = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(text.count).littleEndian) { Array($0) } + text + data
    }

    func expectInvalid(_ bytes: [UInt8], mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Model(bytes: bytes.withUnsafeBytes { ModelBytes.copy(of: $0) })
            Issue.record("a corrupt file loaded", sourceLocation: sourceLocation)
        } catch let error as SwiftletError {
            #expect(error.kind == .invalidModel, "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), "message '\(error.message)' should mention '\(fragment)'", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    let graph = #"{\"inputs\":[{\"name\":\"x\",\"dtype\":\"F32\",\"shape\":[2]}],\"outputs\":[{\"name\":\"y\",\"dtype\":\"F32\",\"shape\":[2]}],\"nodes\":[{\"name\":\"add\",\"op\":\"Add\",\"inputs\":[\"x\",\"w\"],\"outputs\":[\"y\"]}]}"#
    var metadata: String { #""__metadata__":{"format":"swiftlet","format_version":"1","graph":"\#(graph)"}"# }

    @Test func aValidHandWrittenFileLoads() throws {
        let bytes = file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},\#(metadata)}"#, data: [UInt8](repeating: 0, count: 8))
        let model = try Model(bytes: bytes.withUnsafeBytes { ModelBytes.copy(of: $0) })
        #expect(model.constants["w"]?.type == TensorType(.f32, [2]))
    }

    @Test func truncationAtEveryLengthIsRejected() throws {
        let bytes = try smallMLP().bytes()
        for length in 0..<bytes.count {
            do {
                _ = try Model(bytes: bytes[..<length].withUnsafeBytes { ModelBytes.copy(of: $0) })
                Issue.record("truncated to \(length) of \(bytes.count) bytes, the model still loaded")
            } catch let error as SwiftletError {
                #expect(error.kind == .invalidModel, "at \(length): \(error.message)")
            }
        }
    }

    @Test func headerLengthPastTheEnd() {
        var bytes = file(header: "{}")
        bytes[0] = 200
        expectInvalid(bytes, mentioning: "past the end")
        expectInvalid(withUnsafeBytes(of: UInt64.max) { Array($0) } + [0], mentioning: "limit")
    }

    @Test func offsetsPastTheEndOverlappingOrWithGaps() {
        let data = [UInt8](repeating: 0, count: 8)
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},\#(metadata)}"#, data: data), mentioning: "'w'")
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},\#(metadata)}"#, data: data), mentioning: "overlap")
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},\#(metadata)}"#, data: data), mentioning: "belong to no tensor")
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},\#(metadata)}"#, data: data + [1]), mentioning: "end of the file")
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]},\#(metadata)}"#, data: data), mentioning: "ordered")
    }

    @Test func shapesDtypesAndSizes() {
        let data = [UInt8](repeating: 0, count: 8)
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]},\#(metadata)}"#, data: data), mentioning: "overflows")
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]},\#(metadata)}"#, data: data), mentioning: "non-negative")
        expectInvalid(file(header: #"{"e":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},\#(metadata)}"#, data: data), mentioning: "outside 0...2147483647")
        expectInvalid(file(header: #"{"w":{"dtype":"F99","shape":[2],"data_offsets":[0,8]},\#(metadata)}"#, data: data), mentioning: "F99")
        expectInvalid(file(header: #"{"w":{"dtype":"I64","shape":[2],"data_offsets":[0,8]},\#(metadata)}"#, data: data), mentioning: "needs 16")
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[2]},\#(metadata)}"#, data: data), mentioning: "data_offsets")
        // safetensors requires JSON integers: 2.0 is not a size.
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]},\#(metadata)}"#, data: data), mentioning: "integers")
        expectInvalid(file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8]},\#(metadata)}"#, data: data), mentioning: "data_offsets")
    }

    @Test func headerJSONAndMetadata() {
        let data = [UInt8](repeating: 0, count: 8)
        let tensor = #""w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#
        expectInvalid(file(header: "{not json", data: data), mentioning: "JSON")
        expectInvalid(file(header: "[1,2]", data: data), mentioning: "not a JSON object")
        expectInvalid(file(header: "{\(tensor)}", data: data), mentioning: "not a .swl model")
        expectInvalid(file(header: #"{\#(tensor),"__metadata__":{"format":"swiftlet","format_version":"1"}}"#, data: data), mentioning: "'graph'")
        expectInvalid(file(header: #"{\#(tensor),"__metadata__":{"format":"swiftlet","format_version":"9","graph":"{}"}}"#, data: data), mentioning: "format_version 9")
        expectInvalid(file(header: #"{\#(tensor),"__metadata__":{"format":"swiftlet","format_version":"1","graph":"{oops"}}"#, data: data), mentioning: "graph")
        expectInvalid(file(header: #"{\#(tensor),"__metadata__":{"format":1}}"#, data: data), mentioning: "not a string")
    }

    /// Graph-level defects, each introduced into an otherwise valid model.
    func expectInvalidGraph(_ change: (inout ModelSpec) -> Void, mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var spec = smallMLP()
        change(&spec)
        do {
            _ = try spec.model()
            Issue.record("an invalid graph loaded", sourceLocation: sourceLocation)
        } catch let error as SwiftletError {
            #expect(error.kind == .invalidModel, "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), "message '\(error.message)' should mention '\(fragment)'", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func graphDefects() {
        expectInvalidGraph({ $0.nodes[1].inputs = ["nowhere"] }, mentioning: "'nowhere'")
        expectInvalidGraph({ $0.nodes[0].inputs[0] = "a" }, mentioning: "cycle")
        expectInvalidGraph({ $0.nodes[1].outputs = ["h"] }, mentioning: "already defined")
        expectInvalidGraph({ $0.nodes[1].op = "Frobnicate" }, mentioning: "Frobnicate")
        expectInvalidGraph({ $0.nodes[1].attrs = ["alpha": .double(0.1)] }, mentioning: "no attribute 'alpha'")
        expectInvalidGraph({ $0.nodes[0].attrs = ["transB": .int(2)] }, mentioning: "transB")
        expectInvalidGraph({ $0.nodes[0].attrs = ["transB": .string("yes")] }, mentioning: "transB")
        expectInvalidGraph({ $0.nodes[1].inputs = ["h", "h"] }, mentioning: "takes 1 inputs")
        expectInvalidGraph({ $0.nodes[0].inputs[1] = "" }, mentioning: "input 1 is required but empty")
        expectInvalidGraph({ $0.outputs[0].name = "missing" }, mentioning: "'missing'")
        expectInvalidGraph({ $0.inputs[0].name = "w1" }, mentioning: "same name as a tensor")
        expectInvalidGraph({ $0.nodes.append(("Conv", ["input", "w1"], ["c"], ["strides": .array([.int(0), .int(1)])])) }, mentioning: "strides")
        // Sizes near Int.max would overflow shape arithmetic (a trap): rejected when the file opens.
        expectInvalidGraph({ $0.nodes.append(("Conv", ["input", "w1"], ["c"], ["pads": .array([.int(1 << 62), .int(0), .int(1 << 62), .int(0)])])) }, mentioning: "pads")
        expectInvalidGraph({ $0.nodes.append(("Conv", ["input", "w1"], ["c"], [:])) }, mentioning: "W must be a float tensor [M, C/group, kH, kW]")
        expectInvalidGraph({ $0.nodes.append(("MaxPool", ["input"], ["p"], ["kernel_shape": .array([.int(1 << 62), .int(2)])])) }, mentioning: "kernel_shape")
        expectInvalidGraph({ $0.nodes.append(("MaxPool", ["input"], ["p"], ["kernel_shape": .array([.int(2), .int(2)]), "pads": .array([.int(2), .int(0), .int(0), .int(0)])])) }, mentioning: "pads")
    }
}
