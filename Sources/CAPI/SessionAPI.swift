import CSwiftlet
import CoreRuntime
import HWBackends
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("swl_session_create")
public func swl_session_create(_ model: OpaquePointer?, _ options: OpaquePointer?,
                               _ outSession: UnsafeMutablePointer<OpaquePointer?>?) -> swl_status {
    reportingErrors("swl_session_create") {
        let out = try prepare(outSession, "out_session")
        let loaded = try Handles.object(model, .model, as: Model.self, parameter: "model")
        let settings = options == nil ? SessionOptions()
            : try Handles.object(options, .options, as: OptionsHandle.self, parameter: "options").options
        out.pointee = Handles.make(SessionHandle(try Session(model: loaded, options: settings)), kind: .session)
    }
}

@_cdecl("swl_session_create_ensemble")
public func swl_session_create_ensemble(_ members: UnsafePointer<swl_ensemble_member>?, _ memberCount: Int,
                                        _ combiner: swl_combiner, _ options: OpaquePointer?,
                                        _ outSession: UnsafeMutablePointer<OpaquePointer?>?) -> swl_status {
    reportingErrors("swl_session_create_ensemble") {
        let out = try prepare(outSession, "out_session")
        guard let members else { throw SwiftletError.invalidArgument("members is NULL") }
        guard (2...Ensemble.maxMembers).contains(memberCount) else {
            throw SwiftletError.invalidArgument("n_members is \(memberCount); an ensemble has 2 to \(Ensemble.maxMembers) (SWL_MAX_ENSEMBLE_MEMBERS)")
        }
        let combined: Combiner
        switch combiner {
        case SWL_COMBINER_MEAN: combined = .mean
        case SWL_COMBINER_VOTE: combined = .vote
        case SWL_COMBINER_EMPIR: combined = .empir
        default: throw SwiftletError.invalidArgument("combiner \(combiner.rawValue) is not a swl_combiner (1 mean, 2 vote, 3 empir)")
        }
        let models = try (0..<memberCount).map { index in
            let member = members[index]
            let model = try Handles.object(member.model, .model, as: Model.self, parameter: "members[\(index)].model")
            guard let text = member.encoding, text.pointee != 0 else { return (model: model, encoding: LayerEncoding.dense) }
            do {
                return (model: model, encoding: try LayerEncoding(quantization: String(cString: text)))
            } catch let error as SwiftletError {
                throw SwiftletError(error.kind, "members[\(index)].encoding: \(error.message)")
            }
        }
        let settings = options == nil ? SessionOptions()
            : try Handles.object(options, .options, as: OptionsHandle.self, parameter: "options").options
        out.pointee = Handles.make(SessionHandle(try Ensemble(models: models, combiner: combined, options: settings)), kind: .session)
    }
}

@_cdecl("swl_session_io_count")
public func swl_session_io_count(_ session: OpaquePointer?, _ outInputs: UnsafeMutablePointer<Int32>?,
                                 _ outOutputs: UnsafeMutablePointer<Int32>?) -> swl_status {
    reportingErrors("swl_session_io_count") {
        let runnable = try Handles.object(session, .session, as: SessionHandle.self, parameter: "session").session
        outInputs?.pointee = Int32(runnable.inputs.count)
        outOutputs?.pointee = Int32(runnable.outputs.count)
    }
}

@_cdecl("swl_session_io_info")
public func swl_session_io_info(_ session: OpaquePointer?, _ isOutput: Int32, _ index: Int32,
                                _ outInfo: UnsafeMutablePointer<swl_tensor>?) -> swl_status {
    reportingErrors("swl_session_io_info") {
        let handle = try Handles.object(session, .session, as: SessionHandle.self, parameter: "session")
        guard let outInfo else { throw SwiftletError.invalidArgument("out_info is NULL") }
        let (list, names) = isOutput != 0 ? (handle.session.outputs, handle.outputNames)
                                          : (handle.session.inputs, handle.inputNames)
        guard index >= 0, Int(index) < list.count else {
            throw SwiftletError.notFound("\(isOutput != 0 ? "output" : "input") index \(index) is out of range (the model has \(list.count))")
        }
        let info = list[Int(index)]
        let shape = info.shapeWithDynamicAsMinusOne
        var tensor = swl_tensor()
        tensor.name = UnsafePointer(names[Int(index)])
        tensor.dtype = CDType.from(info.dtype)
        tensor.rank = Int32(shape.count)
        CDType.writeShape(shape, into: &tensor)
        tensor.data = nil
        tensor.byte_size = shape.contains(-1) ? 0 : (Shape.checkedByteCount(shape, elementSize: info.dtype.byteSize) ?? 0)
        outInfo.pointee = tensor
    }
}

/// Upper bound on tensors per call: anything larger is a garbage count, not a model.
private let maxTensorsPerCall = 1 << 16

@_cdecl("swl_session_run")
public func swl_session_run(_ session: OpaquePointer?, _ inputs: UnsafePointer<swl_tensor>?, _ inputCount: Int,
                            _ outputs: UnsafeMutablePointer<swl_tensor>?, _ outputCount: Int,
                            _ report: UnsafeMutablePointer<swl_run_report>?) -> swl_status {
    reportingErrors("swl_session_run") {
        let handle = try Handles.object(session, .session, as: SessionHandle.self, parameter: "session")
        guard inputs != nil || inputCount == 0 else { throw SwiftletError.invalidArgument("inputs is NULL but n_inputs is \(inputCount)") }
        guard outputs != nil || outputCount == 0 else { throw SwiftletError.invalidArgument("outputs is NULL but n_outputs is \(outputCount)") }
        // size_t arrives as Int: a huge count shows up negative.
        guard (0...maxTensorsPerCall).contains(inputCount), (0...maxTensorsPerCall).contains(outputCount) else {
            throw SwiftletError.invalidArgument("n_inputs \(inputCount) / n_outputs \(outputCount) is implausibly large")
        }
        if let report, report.pointee.struct_size < UInt32(MemoryLayout<UInt32>.size) {
            throw SwiftletError.invalidArgument("report->struct_size is \(report.pointee.struct_size); set it to sizeof(swl_run_report)")
        }
        let inputBindings = try (0..<inputCount).map { i in try CDType.inputBinding(inputs![i], index: i) }
        var outputBindings = try (0..<outputCount).map { i in try CDType.outputBinding(outputs![i], index: i) }
        let result: RunReport
        do {
            result = try handle.session.run(inputs: inputBindings, outputs: &outputBindings, profile: false)
        } catch let error as SwiftletError where error.kind == .bufferTooSmall {
            CDType.writeShapes(outputBindings, into: outputs)
            throw error
        }
        CDType.writeShapes(outputBindings, into: outputs)
        if let report { write(result, into: report) }
    }
}

/// Copies the report into the caller's struct, at most `struct_size` bytes of it, so callers
/// built against an older, shorter struct keep working.
private func write(_ result: RunReport, into report: UnsafeMutablePointer<swl_run_report>) {
    var full = swl_run_report()
    full.struct_size = report.pointee.struct_size
    full.variant_index = 0
    full.wall_time_ms = result.wallTimeMs
    full.flops = UInt64(result.flops)
    full.bytes_moved = UInt64(result.bytesMoved)
    full.sim_cycles = UInt64(result.simulatedCycles)
    full.sim_energy_mj = result.simulatedEnergyMillijoules
    full.peak_activation_bytes = UInt64(result.peakActivationBytes)
    full.node_count = UInt32(result.nodeCount)
    full.fallback_node_count = UInt32(result.fallbackNodeCount)
    full.member_count = UInt32(result.members.count)
    withUnsafeMutableBytes(of: &full.member_wall_time_ms) { raw in
        for (index, member) in result.members.prefix(Ensemble.maxMembers).enumerated() {
            raw.storeBytes(of: member.wallTimeMs, toByteOffset: index * MemoryLayout<Double>.stride, as: Double.self)
        }
    }
    let bytes = min(Int(report.pointee.struct_size), MemoryLayout<swl_run_report>.size)
    withUnsafeBytes(of: &full) { UnsafeMutableRawPointer(report).copyMemory(from: $0.baseAddress!, byteCount: bytes) }
}

@_cdecl("swl_session_free")
public func swl_session_free(_ session: OpaquePointer?) { Handles.free(session, .session) }
