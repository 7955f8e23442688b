import ArgumentParser
import CoreRuntime
import HWBackends

@main
struct Swiftlet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Run and inspect compressed neural networks (.swl models).",
        version: "1.0.0",
        subcommands: [Inspect.self, Run.self, Bench.self, Import.self, Compress.self, Analyze.self, EnsembleCommand.self]
    )
}

/// Session settings every command that runs a model accepts.
struct SessionFlags: ParsableArguments {
    @Option(help: "Backend: \(BackendRegistry.names.joined(separator: ", ")).")
    var backend = "cpu"

    @Option(help: "Threads a node's work is split over, at most (0 = one per core).")
    var threads = 0

    @Option(name: .customLong("option"), help: "A session setting KEY=VALUE, e.g. graph.optimize=0 (repeatable).")
    var settings: [String] = []

    func makeSession(modelPath: String) throws -> Session {
        try Session(model: try Model(path: modelPath), options: try makeOptions())
    }

    func makeOptions() throws -> SessionOptions {
        var options = SessionOptions()
        try options.setBackend(backend)
        try options.setThreads(threads)
        for setting in settings {
            guard let equals = setting.firstIndex(of: "=") else {
                throw ValidationError("--option takes KEY=VALUE, got '\(setting)'")
            }
            try options.set(String(setting[..<equals]), String(setting[setting.index(after: equals)...]))
        }
        return options
    }
}

/// Reads `--input [NAME=]file.npy` arguments into tensors keyed by input name.
func readInputs(_ arguments: [String], inputNames: [String]) throws -> [String: HostTensor] {
    var inputs: [String: HostTensor] = [:]
    for argument in arguments {
        let (name, path) = try namedPath(argument, defaultName: inputNames.count == 1 ? inputNames[0] : nil, what: "input")
        let array = try NPYArray.read(path)
        inputs[name] = HostTensor(dtype: array.dtype, shape: array.shape, bytes: [UInt8](array.data))
    }
    return inputs
}

/// Reads a `--labels` .npy of integer class labels (int64 or int32), flattened.
func readIntegerLabels(_ path: String) throws -> [Int] {
    let array = try NPYArray.read(path)
    guard array.dtype == .i64 || array.dtype == .i32 else {
        throw SwiftletError.invalidArgument("--labels '\(path)' must hold integers (int64 or int32), not \(array.dtype.rawValue)")
    }
    return HostTensor(dtype: array.dtype, shape: array.shape, bytes: [UInt8](array.data)).integers
}

/// Data a model is measured on: `--data [NAME=]file.npy` per input (samples along the first
/// axis, all run as one batch) and optional `--labels`.
struct DataFlags: ParsableArguments {
    @Option(name: .customLong("data"), help: "An input's data, [NAME=]file.npy (repeatable; NAME may be left out for a one-input model).")
    var data: [String] = []

    @Option(help: "Class labels (.npy of integers, one per sample): loss = cross-entropy; without, output divergence.")
    var labels: String?

    /// The inputs and labels, checked against the model's input names.
    func read(for model: Model) throws -> (inputs: [String: HostTensor], labels: [Int]?) {
        guard !data.isEmpty else { throw ValidationError("give the data to measure on: --data [NAME=]file.npy") }
        return (try readEveryInput(data, of: model, what: "--data"), try labels.map(readIntegerLabels))
    }
}

/// `[NAME=]file.npy` arguments (`what` names them in errors) for every input of `model`, refusing a missing one.
func readEveryInput(_ arguments: [String], of model: Model, what: String) throws -> [String: HostTensor] {
    let names = model.graph.inputs.map(\.name)
    let inputs = try readInputs(arguments, inputNames: names)
    if let missing = names.first(where: { inputs[$0] == nil }) {
        throw ValidationError("no \(what) for the model's input '\(missing)'")
    }
    return inputs
}

/// Splits `NAME=path` (or a bare path, for the only input/output) into its parts.
func namedPath(_ argument: String, defaultName: String?, what: String) throws -> (name: String, path: String) {
    if let equals = argument.firstIndex(of: "="), !argument[..<equals].contains("/") {
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }
    guard let defaultName else {
        throw ValidationError("the model has several \(what)s: write --\(what) NAME=\(argument)")
    }
    return (defaultName, argument)
}

// ArgumentParser prints an error's localized description: show Swiftlet's message as is.
extension SwiftletError: LocalizedError {
    public var errorDescription: String? { message }
}
import Foundation
