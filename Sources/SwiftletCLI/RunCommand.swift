import ArgumentParser
import CoreRuntime
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a model on .npy inputs and write .npy outputs.")

    @Argument(help: "A .swl model file.")
    var model: String

    @Option(help: "An input as [NAME=]file.npy (repeatable; NAME may be left out for a single-input model).")
    var input: [String] = []

    @Option(help: "Where to write an output, as [NAME=]file.npy (repeatable). Without any, a summary is printed.")
    var output: [String] = []

    @OptionGroup var session: SessionFlags

    func run() throws {
        let session = try session.makeSession(modelPath: model)
        let inputNames = session.graph.inputs.map(\.name), outputNames = session.graph.outputs.map(\.name)
        let (results, report) = try session.run(try readInputs(input, inputNames: inputNames))
        for argument in output {
            let (name, path) = try namedPath(argument, defaultName: outputNames.count == 1 ? outputNames[0] : nil, what: "output")
            guard let tensor = results[name] else {
                throw SwiftletError.notFound("the model has no output named '\(name)' (it has \(outputNames.joined(separator: ", ")))")
            }
            try NPYArray(dtype: tensor.dtype, shape: tensor.shape, data: Data(tensor.bytes)).write(path)
        }
        if output.isEmpty {
            for name in outputNames {
                let tensor = results[name]!
                print("\(name): \(tensor.dtype.rawValue)\(tensor.shape)")
            }
        }
        print(String(format: "ran in %.3f ms, %.2f MFLOP, peak activations %d bytes", report.wallTimeMs,
                     Double(report.flops) / 1e6, report.peakActivationBytes))
    }
}
