import ArgumentParser
import CoreRuntime
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure latency percentiles, throughput and memory of a model on random inputs.")

    @Argument(help: "A .swl model file.")
    var model: String

    @Option(help: "Size of every dynamic dim named 'batch' (or the first dynamic dim).")
    var batch = 1

    @Option(name: .customLong("dim"), help: "Size of a dynamic dim, SYMBOL=SIZE (repeatable; default 1).")
    var dims: [String] = []

    @Option(help: "Timed runs.")
    var runs = 100

    @Option(help: "Untimed warm-up runs.")
    var warmup = 10

    @Flag(help: "Also print time per op type and the slowest nodes.")
    var profile = false

    @Option(help: "Slowest nodes --profile lists.")
    var top = 15

    @OptionGroup var session: SessionFlags

    func validate() throws {
        guard runs >= 1, warmup >= 0, batch >= 1, top >= 0 else {
            throw ValidationError("--runs and --batch must be ≥ 1, --warmup and --top ≥ 0")
        }
    }

    func run() throws {
        let session = try session.makeSession(modelPath: model)
        var sizes: [String: Int] = [:]
        for entry in dims {
            let parts = entry.split(separator: "=")
            guard parts.count == 2, let size = Int(parts[1]), size >= 0 else { throw ValidationError("--dim takes SYMBOL=SIZE, got '\(entry)'") }
            sizes[String(parts[0])] = size
        }
        var generator = SplitMix64(seed: 42)
        var inputs: [String: HostTensor] = [:]
        for info in session.graph.inputs {
            var firstDynamic = true
            let shape = info.dims.map { dim -> Int in
                guard case .symbol(let symbol) = dim else { if case .fixed(let size) = dim { return size }; return 1 }
                defer { firstDynamic = false }
                return sizes[symbol] ?? (symbol == "batch" || firstDynamic ? batch : 1)
            }
            let count = shape.reduce(1, *)
            switch info.dtype {
            case .f32: inputs[info.name] = HostTensor((0..<count).map { _ in generator.nextUnitFloat() }, shape: shape)
            default: inputs[info.name] = HostTensor(dtype: info.dtype, shape: shape, bytes: [UInt8](repeating: 0, count: count * info.dtype.byteSize))
            }
        }
        for _ in 0..<warmup { _ = try session.run(inputs) }
        var latencies: [Double] = []
        // Per run: each op type's total and each node's time, for their medians (as
        // bench/onnxruntime_profile.py takes the peer's): a mean would charge a node every
        // preemption that lands in it on this shared machine, which the peer's medians leave out.
        var opTimes: [String: [Double]] = [:]
        var nodeTimes: [String: [Double]] = [:]
        var last = RunReport()
        for _ in 0..<runs {
            let (_, report) = try session.run(inputs, profile: profile)
            latencies.append(report.wallTimeMs)
            var runOpTimes: [String: Double] = [:]
            for node in report.nodes {
                runOpTimes[node.opType, default: 0] += node.timeMs
                nodeTimes[node.name, default: []].append(node.timeMs)
            }
            for (op, time) in runOpTimes { opTimes[op, default: []].append(time) }
            last = report
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int((p / 100 * Double(latencies.count)).rounded(.up)) - 1)] }
        let p50 = percentile(50)
        print("\(model) on \(session.backend.name), \(session.options.threads == 0 ? "auto" : String(session.options.threads)) threads, inputs \(inputs.mapValues(\.shape).sorted(by: { $0.key < $1.key }).map { "\($0.key)\($0.value)" }.joined(separator: " "))")
        print(String(format: "latency ms: p50 %.3f  p90 %.3f  p99 %.3f  (min %.3f, %d runs)", p50, percentile(90), percentile(99), latencies[0], runs))
        print(String(format: "throughput: %.1f runs/s, %.1f items/s at batch %d; %.2f GFLOP/s", 1000 / p50, Double(batch) * 1000 / p50, batch,
                     Double(last.flops) / (p50 / 1000) / 1e9))
        print("memory: peak activations \(last.peakActivationBytes) bytes, peak resident \(peakResidentBytes()) bytes")
        if profile {
            func median(_ values: [Double]?) -> Double {
                guard let sorted = values?.sorted(), !sorted.isEmpty else { return 0 }
                let middle = sorted.count / 2
                return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
            }
            print("time per op type (median ms per run):")
            for (op, total) in opTimes.mapValues(median).sorted(by: { $0.value > $1.value }) {
                print("  " + op.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "%8.3f", total))
            }
            // The nodes where the time goes, with the rate each reached: a slow kernel shows as a
            // low GFLOP/s next to its siblings of the same op type.
            let medians = nodeTimes.mapValues(median)
            let slowest = last.nodes.sorted { medians[$0.name, default: 0] > medians[$1.name, default: 0] }.prefix(top)
            print("slowest nodes (median ms per run, GFLOP/s):")
            for node in slowest {
                let ms = medians[node.name, default: 0]
                let rate = ms > 0 ? Double(node.flops) / (ms / 1000) / 1e9 : 0
                print("  " + "\(node.name) (\(node.opType))".padding(toLength: 48, withPad: " ", startingAt: 0)
                      + String(format: "%8.3f %7.2f", ms, rate))
            }
        }
    }

    private func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024  // Linux reports KiB
    }
}

/// A small deterministic generator, so benchmark inputs are the same every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func nextUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}
