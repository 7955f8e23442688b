import ArgumentParser
import CoreRuntime
import Foundation
import HWBackends

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's inputs, outputs, ops, parameters and bytes by encoding.")

    @Argument(help: "A .swl model file.")
    var model: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(help: "Also show op counts after the session's graph passes (BatchNormalization folding, …).")
    var passes = false

    static func opCounts(_ graph: Graph) -> [String: Int] {
        Dictionary(graph.nodes.map { ($0.opType, 1) }, uniquingKeysWith: +)
    }

    func run() throws {
        let loaded = try Model(path: model)
        let graph = loaded.graph
        let opCounts = Self.opCounts(graph)
        // The passes a session runs, applied exactly as a session applies them.
        let optimized = passes ? Self.opCounts(try Session(model: loaded).graph) : nil
        var bytesByEncoding: [String: Int] = [:]
        for tensor in loaded.storedTensors { bytesByEncoding[tensor.type.dtype.rawValue, default: 0] += tensor.type.byteCount }

        if json {
            func io(_ list: [ValueInfo]) -> JSONValue {
                .array(list.map { .object(["name": .string($0.name), "dtype": .string($0.dtype.rawValue),
                                           "shape": .array($0.dims.map { dim in
                    switch dim {
                    case .fixed(let size): .int(size)
                    case .symbol(let name): .string(name)
                    }
                })]) })
            }
            let document: JSONValue = .object([
                "file": .string(model), "file_bytes": .int(loaded.fileSize),
                "metadata": .object(loaded.metadata.mapValues { .string($0) }),
                "inputs": io(graph.inputs), "outputs": io(graph.outputs),
                "nodes": .int(graph.nodes.count), "ops": .object(opCounts.mapValues { .int($0) }),
                "ops_after_passes": optimized.map { counts in .object(counts.mapValues { .int($0) }) } ?? .null,
                "parameters": .int(loaded.parameterCount),
                "bytes_by_encoding": .object(bytesByEncoding.mapValues { .int($0) }),
            ])
            print(document.serialized)
            return
        }
        print("\(model)  (\(loaded.fileSize) bytes, .swl format \(loaded.metadata["format_version"] ?? "?"))")
        for (key, value) in loaded.metadata.sorted(by: { $0.key < $1.key }) where key.hasPrefix("model.") {
            print("  \(key): \(value)")
        }
        func describe(_ info: ValueInfo) -> String {
            "\(info.name)  \(info.dtype.rawValue)[\(info.dims.map(\.description).joined(separator: ", "))]"
        }
        print("inputs:");  graph.inputs.forEach { print("  " + describe($0)) }
        print("outputs:"); graph.outputs.forEach { print("  " + describe($0)) }
        if let optimized {
            print("ops (\(graph.nodes.count) nodes stored → \(optimized.values.reduce(0, +)) after passes):")
            for op in Set(opCounts.keys).union(optimized.keys).sorted() {
                print("  \(op.padding(toLength: 24, withPad: " ", startingAt: 0)) \(opCounts[op] ?? 0) → \(optimized[op] ?? 0)")
            }
        } else {
            print("ops (\(graph.nodes.count) nodes):")
            for (op, count) in opCounts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) { print("  \(op) × \(count)") }
        }
        print("parameters: \(loaded.parameterCount)")
        print("bytes by encoding:")
        for (encoding, bytes) in bytesByEncoding.sorted(by: { $0.key < $1.key }) { print("  \(encoding): \(bytes)") }
    }
}
