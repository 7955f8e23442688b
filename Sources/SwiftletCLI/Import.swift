import ArgumentParser
import CoreRuntime
import Foundation

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert an ONNX model to a .swl file (validated by opening it afterwards).")

    @Argument(help: "An .onnx file (external data is read from its folder only).")
    var model: String

    @Option(name: .shortAndLong, help: "The .swl file to write.")
    var output: String

    func run() throws {
        let bytes = try ModelBytes.map(path: model)
        guard ONNXImporter.looksLikeONNX(bytes.buffer) else {
            throw ValidationError("'\(model)' does not look like an ONNX model")
        }
        let folder = (model as NSString).deletingLastPathComponent
        let imported = try ONNXImporter.importModel(bytes, folder: folder.isEmpty ? "." : folder)
        let swl = SWLWriter.serialize(graph: imported.graph, tensors: imported.tensors, metadata: imported.metadata)
        // Open what is about to be written: an import that the validator rejects is a bug, not a file.
        let checked = try swl.withUnsafeBytes { try Model(bytes: ModelBytes.copy(of: $0)) }
        guard FileManager.default.createFile(atPath: output, contents: Data(swl)) else {
            throw SwiftletError.invalidArgument("cannot write '\(output)'")
        }
        print("\(model) → \(output): \(checked.graph.nodes.count) nodes, \(checked.parameterCount) parameters, \(swl.count) bytes")
    }
}
