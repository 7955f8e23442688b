import Dispatch
import Synchronization

/// Several sessions that take the same inputs and answer the same question (EMPIR: one network
/// at different precisions), run together, with their class scores combined into one answer.
///
/// The *scored output* is the members' first output: F32, classes along its last axis. The
/// ensemble's outputs are the reference member's (members[0]) outputs with the scored output
/// replaced by the combined one, then each member's own scores as `<scored>/member<i>`. Other
/// outputs come from the reference member. Thread-safe, like `Session`.
public final class Ensemble: Runnable {
    public let members: [Session]
    public let combiner: Combiner
    public let inputs: [ValueInfo]
    public let outputs: [ValueInfo]
    /// Members run at once on separate threads; otherwise one after another.
    public let parallel: Bool

    /// The C API's run report has room for this many members' times.
    public static let maxMembers = 16

    public init(members: [Session], combiner: Combiner, parallel: Bool) throws {
        guard (2...Self.maxMembers).contains(members.count) else {
            throw SwiftletError.invalidArgument("an ensemble has 2 to \(Self.maxMembers) members, \(members.count) given")
        }
        let reference = members[0]
        guard let scored = reference.outputs.first, scored.dtype == .f32, !scored.dims.isEmpty else {
            throw SwiftletError.invalidArgument("member 0's first output must be F32 class scores of rank ≥ 1 (it is \(reference.outputs.first.map { "\($0.dtype.rawValue)\($0.dims)" } ?? "missing"))")
        }
        for (index, member) in members.enumerated().dropFirst() {
            guard Self.agree(member.inputs, reference.inputs) else {
                throw SwiftletError.invalidArgument("member \(index)'s inputs (\(Self.describe(member.inputs))) differ from member 0's (\(Self.describe(reference.inputs)))")
            }
            guard Self.agree(Array(member.outputs.prefix(1)), [scored]) else {
                throw SwiftletError.invalidArgument("member \(index)'s first output (\(Self.describe(Array(member.outputs.prefix(1))))) differs from member 0's (\(Self.describe([scored])))")
            }
        }
        let memberOutputs = members.indices.map { ValueInfo(name: "\(scored.name)/member\($0)", dtype: .f32, dims: scored.dims) }
        if let clash = memberOutputs.first(where: { candidate in reference.outputs.contains { $0.name == candidate.name } }) {
            throw SwiftletError.invalidArgument("member 0 already has an output named '\(clash.name)'")
        }
        self.members = members
        self.combiner = combiner
        self.parallel = parallel
        inputs = reference.inputs
        outputs = reference.outputs + memberOutputs
    }

    /// Same names, dtypes and ranks, and no dimension fixed to two different sizes (dynamic
    /// dimensions may carry different symbol names: exporters name them freely).
    private static func agree(_ a: [ValueInfo], _ b: [ValueInfo]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x.name == y.name && x.dtype == y.dtype && x.dims.count == y.dims.count && zip(x.dims, y.dims).allSatisfy { dx, dy in
                if case .fixed(let p) = dx, case .fixed(let q) = dy { p == q } else { true }
            }
        }
    }

    private static func describe(_ infos: [ValueInfo]) -> String {
        infos.map { "\($0.name): \($0.dtype.rawValue)\($0.dims)" }.joined(separator: ", ")
    }

    public func outputTypes(inputShapes: [[Int]]) throws -> [TensorType] {
        let types = try members.enumerated().map { index, member in
            do {
                return try member.outputTypes(inputShapes: inputShapes)
            } catch let error as SwiftletError {
                throw SwiftletError(error.kind, "ensemble member \(index): \(error.message)")
            }
        }
        let scored = types[0][0]
        for (index, memberTypes) in types.enumerated() where memberTypes[0].shape != scored.shape {
            throw SwiftletError.invalidModel("member \(index)'s '\(outputs[0].name)' has shape \(memberTypes[0].shape), member 0's \(scored.shape)")
        }
        return types[0] + Array(repeating: scored, count: members.count)
    }

    public func run(inputs: [InputBinding], outputs: inout [OutputBinding], profile: Bool = false) throws -> RunReport {
        let start = Session.nanoseconds()
        let shapes = try Bindings.checkInputs(inputs, declared: self.inputs).shapes
        let types = try outputTypes(inputShapes: shapes)
        let order = try Bindings.checkOutputs(&outputs, declared: self.outputs, types: types)

        // Member 0 writes every output of its own; the others only their scores.
        let ownOutputs = members[0].outputs.count
        let bufferTypes = types.prefix(ownOutputs) + Array(repeating: types[0], count: members.count - 1)
        // Arenas, not Swift's allocate: sizes follow the caller's shapes, and running out of
        // memory must be an error, not an abort.
        let arenas = try bufferTypes.map { try Arena(capacity: $0.byteCount) }
        defer { withExtendedLifetime(arenas) {} }  // the buffers below point into them
        let buffers = arenas.map { UnsafeMutableRawBufferPointer(start: $0.base, count: $0.capacity) }
        let memberBindings: [[OutputBinding]] = members.indices.map { member in
            let wanted = member == 0 ? Array(0..<ownOutputs) : [0]
            return wanted.map { output in
                let buffer = member == 0 ? buffers[output] : buffers[ownOutputs + member - 1]
                return OutputBinding(name: self.outputs[output].name, dtype: types[output].dtype, data: buffer.baseAddress, capacity: buffer.count)
            }
        }
        let reports = try runMembers(inputs: inputs, outputs: memberBindings, profile: profile)

        let scores = members.indices.map { member in
            UnsafePointer((member == 0 ? buffers[0] : buffers[ownOutputs + member - 1]).baseAddress!.assumingMemoryBound(to: Float.self))
        }
        let scoredShape = types[0].shape
        let classes = scoredShape.last!
        let rows = classes == 0 ? 0 : types[0].count / classes
        for (position, index) in order.enumerated() where types[index].byteCount > 0 {
            let destination = outputs[position].data!
            switch index {
            case 0:
                combiner.combine(scores, rows: rows, classes: classes, into: destination.assumingMemoryBound(to: Float.self))
            case 1..<ownOutputs:
                destination.copyMemory(from: buffers[index].baseAddress!, byteCount: types[index].byteCount)
            default:
                destination.copyMemory(from: scores[index - ownOutputs], byteCount: types[index].byteCount)
            }
        }

        var report = RunReport()
        report.members = reports
        report.flops = reports.reduce(0) { $0 + $1.flops }
        report.bytesMoved = reports.reduce(0) { $0 + $1.bytesMoved }
        report.peakActivationBytes = reports.reduce(0) { $0 + $1.peakActivationBytes }
        report.nodeCount = reports.reduce(0) { $0 + $1.nodeCount }
        report.fallbackNodeCount = reports.reduce(0) { $0 + $1.fallbackNodeCount }
        report.simulatedCycles = reports.reduce(0) { $0 + $1.simulatedCycles }
        report.simulatedEnergyMillijoules = reports.reduce(0) { $0 + $1.simulatedEnergyMillijoules }
        report.wallTimeMs = Double(Session.nanoseconds() - start) / 1e6
        return report
    }

    /// Runs every member on the same inputs into its buffers; a failure names the member.
    private func runMembers(inputs: [InputBinding], outputs: [[OutputBinding]], profile: Bool) throws -> [RunReport] {
        let results = Mutex<[Int: Result<RunReport, any Error>]>([:])
        let runOne = { @Sendable (member: Int) in
            var bindings = outputs[member]
            let result = Result { try self.members[member].run(inputs: inputs, outputs: &bindings, profile: profile) }
            results.withLock { $0[member] = result }
        }
        if parallel {
            DispatchQueue.concurrentPerform(iterations: members.count, execute: runOne)
        } else {
            members.indices.forEach(runOne)
        }
        return try results.withLock { done in
            try members.indices.map { member in
                do {
                    return try done[member]!.get()
                } catch let error as SwiftletError {
                    throw SwiftletError(error.kind, "ensemble member \(member): \(error.message)")
                }
            }
        }
    }
}
