/// Everything a run with one input-shape signature needs, computed once and cached by the
/// session: every value's type, a kernel per executed node, and where each value lives.
final class ExecutionPlan: Sendable {
    enum Storage: Sendable {
        case input(Int)           // graph input index: the caller's memory
        case constant(Int)        // index into `Session.constantData`
        case arena(offset: Int)
        case planValue(Int)       // index into `planValues`: computed when the plan was made
        case absent               // an optional input that is not given
    }

    struct Step: Sendable {
        let node: Int             // index into the session's graph nodes
        let kernel: Kernel
        var scratchOffset: Int?   // in the arena, when the kernel asked for scratch
        let inputIDs: [Int]
        let outputIDs: [Int]
        let flops: Int
        let bytes: Int
        let onFallback: Bool
    }

    let types: [TensorType?]
    /// Values computed when the plan was made: shapes and arithmetic on them.
    let planValues: [ConstantTensor]
    /// Per value id; a view's entry is its root's storage.
    let storage: [Storage]
    let steps: [Step]
    let arenaBytes: Int
    let flops: Int
    let bytesMoved: Int
    let fallbackSteps: Int

    /// The constants among a node's inputs, for a backend's prepare.
    private static func constantInputs(of node: Node, _ inputIDs: [Int], _ storage: [Storage], _ session: Session) -> ConstantInputs {
        var values: [ConstantTensor?] = [], stores: [PreparedLayouts?] = []
        for id in inputIDs {
            if id >= 0, case .constant(let index) = storage[id] {
                values.append(session.constantValues[index].tensor)
                stores.append(session.constantLayouts[index])
            } else {
                values.append(nil)
                stores.append(nil)
            }
        }
        return ConstantInputs(values: values, stores: stores, names: Array(node.inputs.prefix(inputIDs.count)))
    }

    init(session: Session, inputShapes: [[Int]]) throws {
        let graph = session.graph
        var types = [TensorType?](repeating: nil, count: session.valueCount)
        var storage = [Storage](repeating: .absent, count: session.valueCount)
        for (index, input) in graph.inputs.enumerated() {
            types[session.inputIDs[index]] = TensorType(input.dtype, inputShapes[index])
            storage[session.inputIDs[index]] = .input(index)
        }
        for (index, constant) in session.constantValues.enumerated() {
            types[constant.id] = constant.tensor.type
            storage[constant.id] = .constant(index)
        }

        // Values known while planning: integer constants, then every node computed from them
        // and from input shapes (Shape, and the small arithmetic exporters build on it).
        var known: [Int: ConstantTensor] = [:]
        for constant in session.constantValues where constant.tensor.type.dtype.isInteger {
            known[constant.id] = constant.tensor
        }
        var planValues: [ConstantTensor] = []

        // Shape inference and kernel preparation, node by node (topological order).
        var root = Array(0..<session.valueCount)  // a view's value id → the value owning its bytes
        var firstUse = [Int](repeating: -1, count: session.valueCount)
        var lastUse = [Int](repeating: -1, count: session.valueCount)
        var steps: [Step] = []
        var scratchSizes: [Int] = []
        var emptyOutputs: [Int] = []
        for (nodeIndex, storedNode) in graph.nodes.enumerated() {
            var node = storedNode
            var inputIDs = session.nodeInputIDs[nodeIndex]
            let outputIDs = session.nodeOutputIDs[nodeIndex]
            // Parameters given as tensors become attributes, from their values known now.
            if !type(of: node.op).parameterInputs.isEmpty && inputIDs.count > 1 {
                var parameters: [HostTensor?] = []
                for (offset, id) in inputIDs.dropFirst().enumerated() {
                    guard id >= 0 else { parameters.append(nil); continue }
                    guard let value = known[id] else {
                        throw SwiftletError.unsupported("node '\(node.name)' (\(node.opType)): input \(offset + 1) ('\(node.inputs[offset + 1])') must be computable when the plan is made (from constants and input shapes), but depends on tensor values")
                    }
                    parameters.append(value.host)
                }
                do {
                    let bound = try node.op.binding(parameters, attributes: node.attributes, outputCount: outputIDs.count)
                    node = Node(node, op: bound, inputs: [node.inputs[0]])
                } catch let error as SwiftletError {
                    throw SwiftletError(error.kind, "node '\(node.name)' (\(node.opType)): \(error.message)")
                }
                inputIDs = [inputIDs[0]]
            }
            // Trailing optional inputs a node leaves out are nil, so every op can index up to
            // its full arity.
            let arity = type(of: node.op).inputArity.upperBound
            let inputTypes = inputIDs.map { $0 >= 0 ? types[$0] : nil }
                + [TensorType?](repeating: nil, count: arity == Int.max ? 0 : max(0, arity - inputIDs.count))
            let inputsKnown = inputIDs.allSatisfy { $0 < 0 || known[$0] != nil }
            let outputTypes: [TensorType]
            do {
                outputTypes = inputsKnown && !inputIDs.isEmpty
                    ? try node.op.inferTypes(inputTypes, values: inputIDs.map { $0 < 0 ? nil : known[$0]?.host })
                    : try node.op.inferTypes(inputTypes)
                for type in outputTypes {
                    if let problem = Shape.boundsProblem(type.shape) { throw SwiftletError.invalidArgument("output \(problem)") }
                }
            } catch let error as SwiftletError {
                throw SwiftletError(error.kind, "node '\(node.name)' (\(node.opType)): \(error.message)")
            }
            for (id, type) in zip(outputIDs, outputTypes) { types[id] = type }

            if node.op.isView {
                root[outputIDs[0]] = root[inputIDs[0]]
                if let value = known[inputIDs[0]] { known[outputIDs[0]] = value.reshaped(outputTypes[0]) }
                continue
            }
            // Computable now: a Shape, or a small result of values already known.
            if (node.op is ShapeOp || (inputsKnown && !inputIDs.isEmpty))
                && outputTypes.allSatisfy({ $0.count <= Self.planTimeElementLimit }) {
                do {
                    let values = try Self.evaluate(node.op, inputTypes, outputTypes, inputIDs.map { $0 < 0 ? nil : known[$0] })
                    for (id, value) in zip(outputIDs, values) {
                        known[id] = value
                        storage[id] = .planValue(planValues.count)
                        planValues.append(value)
                    }
                } catch let error as SwiftletError {
                    throw SwiftletError(error.kind, "node '\(node.name)' (\(node.opType)): \(error.message)")
                }
                continue
            }
            // Nothing to compute when every output is empty: preparing or running such a kernel
            // would only loop over (possibly huge) dims of nothing.
            if outputTypes.allSatisfy({ $0.count == 0 }) {
                for id in outputIDs { firstUse[id] = -1 }
                emptyOutputs.append(contentsOf: outputIDs)
                continue
            }
            let step = steps.count
            // Reading a view keeps the memory it views alive.
            for id in inputIDs where id >= 0 { lastUse[root[id]] = step }
            for id in outputIDs {
                firstUse[id] = step
                lastUse[id] = max(lastUse[id], step)
            }
            let backend = session.placements[nodeIndex]
            let kernel: PreparedKernel
            do {
                kernel = try backend.prepare(node, inputs: inputTypes, outputs: outputTypes,
                                             constants: Self.constantInputs(of: node, inputIDs, storage, session))
            } catch let error as SwiftletError {
                throw SwiftletError(error.kind, "node '\(node.name)' (\(node.opType)) on \(backend.name): \(error.message)")
            }
            let bytes = inputTypes.reduce(0) { $0 + ($1?.byteCount ?? 0) } + outputTypes.reduce(0) { $0 + $1.byteCount }
            scratchSizes.append(kernel.scratchBytes)
            steps.append(Step(node: nodeIndex, kernel: kernel.run, scratchOffset: nil, inputIDs: inputIDs,
                              outputIDs: outputIDs, flops: node.op.flops(inputTypes, outputTypes), bytes: bytes,
                              onFallback: backend.name != session.backend.name))
        }
        // Graph outputs stay alive to the end: they are copied out after the last step.
        for id in session.outputIDs { lastUse[root[id]] = steps.count }

        // Arena placement for every value a kernel writes, and for each step's scratch.
        let written = (0..<session.valueCount).filter { firstUse[$0] >= 0 }
        let scratchSteps = steps.indices.filter { scratchSizes[$0] > 0 }
        let (offsets, arenaBytes) = MemoryPlanner.place(written.map {
            MemoryPlanner.Buffer(size: types[$0]!.byteCount, firstStep: firstUse[$0], lastStep: lastUse[$0])
        } + scratchSteps.map { MemoryPlanner.Buffer(size: scratchSizes[$0], firstStep: $0, lastStep: $0) })
        for (id, offset) in zip(written, offsets) { storage[id] = .arena(offset: offset) }
        // Empty values need an address that is never dereferenced; any arena offset will do.
        for id in emptyOutputs { storage[id] = .arena(offset: 0) }
        for (step, offset) in zip(scratchSteps, offsets[written.count...]) { steps[step].scratchOffset = offset }
        for id in 0..<session.valueCount where root[id] != id { storage[id] = storage[root[id]] }

        try Self.checkDeclaredOutputs(session: session, types: types, inputShapes: inputShapes)
        self.types = types
        self.planValues = planValues
        self.storage = storage
        self.steps = steps
        self.arenaBytes = arenaBytes
        flops = steps.reduce(0) { $0 + $1.flops }
        bytesMoved = steps.reduce(0) { $0 + $1.bytes }
        fallbackSteps = steps.count { $0.onFallback }
    }

    /// Results at most this large are computed while planning when their inputs are known.
    static let planTimeElementLimit = 4096

    /// Runs `op`'s reference kernel on known values, into new owned tensors.
    static func evaluate(_ op: any Operator, _ inputTypes: [TensorType?], _ outputTypes: [TensorType],
                                 _ inputs: [ConstantTensor?]) throws -> [ConstantTensor] {
        let kernel = try op.referenceKernel(inputTypes, outputTypes)
        let outputs = outputTypes.map { type in
            [UInt8](repeating: 0, count: type.byteCount).withUnsafeBytes { ConstantTensor.owning(type, bytes: $0) }
        }
        // The outputs are owned, fresh memory: writing through it is how they get their values.
        let table = inputs.map { $0.map { UnsafeMutableRawPointer(mutating: $0.data) } }
            + outputs.map { UnsafeMutableRawPointer(mutating: $0.data) }
        try table.withUnsafeBufferPointer { pointers in
            try kernel(KernelArguments(table: pointers, inputIDs: inputs.indices.map { inputs[$0] == nil ? -1 : $0 },
                                       outputIDs: outputs.indices.map { inputs.count + $0 }, scratch: nil))
        }
        return outputs
    }

    /// The computed outputs must match the graph's declarations, with symbols bound by the inputs.
    private static func checkDeclaredOutputs(session: Session, types: [TensorType?], inputShapes: [[Int]]) throws {
        var bindings: [String: Int] = [:]
        for (input, shape) in zip(session.graph.inputs, inputShapes) { _ = input.mismatch(shape, bindings: &bindings) }
        for (output, id) in zip(session.graph.outputs, session.outputIDs) {
            let type = types[id]!
            guard type.dtype == output.dtype else {
                throw SwiftletError.invalidModel("graph output '\(output.name)' is declared \(output.dtype.rawValue) but computes \(type.dtype.rawValue)")
            }
            if let problem = output.mismatch(type.shape, bindings: &bindings) {
                throw SwiftletError.invalidModel("graph output \(problem); computed shape \(type.shape)")
            }
        }
    }
}
