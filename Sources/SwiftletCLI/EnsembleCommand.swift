import ArgumentParser
import CoreRuntime
import Foundation
import HWBackends

struct EnsembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ensemble",
        abstract: "Run an ensemble of models and report each member beside the combination.",
        discussion: """
            EMPIR's ensembles are one network at several precisions: give the same model several \
            times with a format, e.g. `swiftlet ensemble m.swl m.swl@int8 m.swl@mxfp4 --input x.npy \
            --labels y.npy`. The first member is the reference (EMPIR's full-precision tie-breaker). \
            Combiners: empir (vote; when the top count is shared, the reference decides), vote \
            (plurality, ties to the lowest class), mean (mean of softmax probabilities). With \
            --runs, the ensemble and the reference member's session by itself are timed \
            alternately and the cost ratio printed (members' sessions have one thread).
            """)

    @Argument(help: "Members as MODEL or MODEL@FORMAT (fp32, int8, mxfp8-e4m3, …, mxfp4, mxint8: re-encoded in memory).")
    var members: [String]

    @Option(help: "empir, vote or mean.")
    var combiner = "empir"

    @Option(help: "An input as [NAME=]file.npy (repeatable; NAME may be left out for a single-input model).")
    var input: [String] = []

    @Option(help: "Class labels (.npy of integers, one per row of the scores): prints accuracies.")
    var labels: String?

    @Option(help: "Write the combined scores to this .npy file.")
    var output: String?

    @Option(help: "Timed runs of the ensemble and of the reference member alone, alternating (0: none).")
    var runs = 10

    @OptionGroup var session: SessionFlags

    func validate() throws {
        guard (2...Ensemble.maxMembers).contains(members.count) else {
            throw ValidationError("an ensemble has 2 to \(Ensemble.maxMembers) members, \(members.count) given")
        }
        guard Combiner(rawValue: combiner) != nil else {
            throw ValidationError("--combiner must be one of \(Combiner.allCases.map(\.rawValue).joined(separator: ", ")), not '\(combiner)'")
        }
        guard runs >= 0 else { throw ValidationError("--runs must be ≥ 0") }
    }

    func run() throws {
        let options = try session.makeOptions()
        var opened: [String: Model] = [:]
        let specs = try members.map(Self.member)
        let parsed = try specs.map { path, encoding -> (model: Model, encoding: LayerEncoding) in
            if opened[path] == nil { opened[path] = try Model(path: path) }
            return (opened[path]!, encoding)
        }
        let ensemble = try Ensemble(models: parsed, combiner: Combiner(rawValue: combiner)!, options: options)
        // The cost baseline is the reference member's own session, run by itself: the same
        // model, encoding and (one-thread) settings it has inside the ensemble.
        let alone = ensemble.members[0]
        let inputs = try readInputs(input, inputNames: ensemble.inputs.map(\.name))
        let (results, report) = try ensemble.run(inputs)

        let scoredName = ensemble.outputs[0].name
        let combined = results[scoredName]!
        let truth = try labels.map { try Self.readLabels($0, rows: Self.rows(of: combined)) }
        func row(_ cells: [String]) -> String {
            zip(cells, [6, 36, 12, 9]).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + cells[4]
        }
        print(row(["member", "model", "format", "accuracy", "time ms"]))
        for (index, spec) in specs.enumerated() {
            let scores = results["\(scoredName)/member\(index)"]!
            print(row([String(index), spec.path, spec.encoding.description,
                       Self.accuracyText(scores, truth), String(format: "%.3f", report.members[index].wallTimeMs)]))
        }
        print(row(["all", "(\(combiner), \(ensemble.parallel ? "members in parallel" : "one after another"))", "",
                   Self.accuracyText(combined, truth), String(format: "%.3f", report.wallTimeMs)]))
        if runs > 0 {
            var ensembleTimes: [Double] = [], aloneTimes: [Double] = []
            var memberTimes = [[Double]](repeating: [], count: members.count)
            for _ in 0..<runs {
                let timed = try ensemble.run(inputs).report
                ensembleTimes.append(timed.wallTimeMs)
                for (index, member) in timed.members.enumerated() { memberTimes[index].append(member.wallTimeMs) }
                aloneTimes.append(try alone.run(inputs).report.wallTimeMs)
            }
            let (e, a) = (Self.median(ensembleTimes), Self.median(aloneTimes))
            print("median of \(runs) alternating runs: members " + memberTimes.map { String(format: "%.3f", Self.median($0)) }.joined(separator: " / ")
                  + String(format: " ms; ensemble %.3f ms, reference member alone %.3f ms: cost %.2f×", e, a, e / a))
        }
        if let output {
            try NPYArray(dtype: combined.dtype, shape: combined.shape, data: Data(combined.bytes)).write(output)
        }
    }

    /// `MODEL@FORMAT` when the text after the last `@` is a format; otherwise the whole is a path.
    static func member(_ argument: String) throws -> (path: String, encoding: LayerEncoding) {
        if let at = argument.lastIndex(of: "@"), let encoding = try? LayerEncoding(quantization: String(argument[argument.index(after: at)...])) {
            return (String(argument[..<at]), encoding)
        }
        return (argument, .dense)
    }

    static func rows(of scores: HostTensor) -> Int {
        scores.shape.last.map { $0 == 0 ? 0 : scores.shape.reduce(1, *) / $0 } ?? 1
    }

    static func readLabels(_ path: String, rows: Int) throws -> [Int] {
        let labels = try readIntegerLabels(path)
        guard labels.count == rows else {
            throw SwiftletError.invalidArgument("--labels '\(path)' has \(labels.count) labels, the scores have \(rows) rows")
        }
        return labels
    }

    /// Share of rows whose first largest score is the label ("-" without labels).
    static func accuracyText(_ scores: HostTensor, _ labels: [Int]?) -> String {
        guard let labels, let classes = scores.shape.last, classes > 0 else { return "-" }
        let values = scores.floats
        let correct = labels.indices.count { row in
            let rowScores = values[(row * classes)..<((row + 1) * classes)]
            guard !rowScores.contains(where: \.isNaN) else { return false }
            // max(by:) keeps the first of equal scores, like numpy's argmax.
            return rowScores.indices.max { rowScores[$0] < rowScores[$1] }! - row * classes == labels[row]
        }
        return String(format: "%.2f%%", 100 * Double(correct) / Double(max(labels.count, 1)))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
