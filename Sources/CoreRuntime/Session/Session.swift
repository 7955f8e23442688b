#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Caller memory holding one input of a run. Sendable because the caller keeps the memory valid
/// and unchanged for the whole call, which is what lets an ensemble hand it to several threads.
public struct InputBinding: @unchecked Sendable {
    /// nil: matched by position.
    public var name: String?
    public var dtype: DType
    public var shape: [Int]
    public var data: UnsafeRawPointer?
    public var byteCount: Int

    public init(name: String?, dtype: DType, shape: [Int], data: UnsafeRawPointer?, byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.data = data
        self.byteCount = byteCount
    }
}

/// Caller memory that receives one output; `shape` is written by the run. Sendable on the same
/// terms as `InputBinding`: each buffer is written by one thread.
public struct OutputBinding: @unchecked Sendable {
    public var name: String?
    public var dtype: DType
    public var data: UnsafeMutableRawPointer?
    public var capacity: Int
    public var shape: [Int] = []

    public init(name: String?, dtype: DType, data: UnsafeMutableRawPointer?, capacity: Int) {
        self.name = name
        self.dtype = dtype
        self.data = data
        self.capacity = capacity
    }
}

/// A model bound to a backend, ready to run. Thread-safe: concurrent `run` calls share the
/// cached plans and take separate activation arenas.
public final class Session: Sendable {
    public let model: Model
    /// The graph after the session's passes.
    public let graph: Graph
    public let options: SessionOptions
    public let backend: any Backend
    /// Per node, the backend that runs it.
    public let placements: [any Backend]

    // Value ids: every graph input, constant and node output has one.
    let valueCount: Int
    let inputIDs: [Int]
    let outputIDs: [Int]
    let nodeInputIDs: [[Int]]   // -1 for an absent optional input
    let nodeOutputIDs: [[Int]]
    let constantValues: [(id: Int, tensor: ConstantTensor)]
    /// Per entry of `constantValues`: where backends keep their layouts of it — the model's store
    /// when it is the model's own constant, so sessions share them; this session's otherwise.
    let constantLayouts: [PreparedLayouts]

    private let plans = Mutex<[[[Int]]: ExecutionPlan]>([:])
    private let arenas = Mutex<[Arena]>([])
    /// Plans kept per session: enough for the handful of shapes a deployment sees.
    static let planCacheLimit = 32

    public init(model: Model, backend: any Backend, fallback: any Backend, options: SessionOptions) throws {
        var constants = model.constants
        WidenConstants.apply(&constants)
        var graph = model.graph
        if options.optimizeGraph {
            graph = try GraphPasses.optimize(graph, &constants)
        }

        var ids: [String: Int] = [:]
        func id(_ name: String) -> Int {
            if let existing = ids[name] { return existing }
            ids[name] = ids.count
            return ids.count - 1
        }
        inputIDs = graph.inputs.map { id($0.name) }
        var constantValues: [(id: Int, tensor: ConstantTensor)] = []
        for node in graph.nodes {
            for input in node.inputs where !input.isEmpty && ids[input] == nil {
                if let tensor = constants[input] { constantValues.append((id(input), tensor)) }
            }
        }
        nodeOutputIDs = graph.nodes.map { $0.outputs.map(id) }
        nodeInputIDs = graph.nodes.map { node in node.inputs.map { $0.isEmpty ? -1 : ids[$0]! } }
        for output in graph.outputs where ids[output.name] == nil {  // an output that is a tensor
            if let tensor = constants[output.name] { constantValues.append((id(output.name), tensor)) }
        }
        outputIDs = graph.outputs.map { ids[$0.name]! }
        valueCount = ids.count
        self.constantValues = constantValues
        let sessionLayouts = PreparedLayouts()
        let names = ids.reduce(into: [Int: String]()) { $0[$1.value] = $1.key }
        constantLayouts = constantValues.map { constant in
            model.constants[names[constant.id]!]?.data == constant.tensor.data ? model.preparedLayouts : sessionLayouts
        }

        placements = graph.nodes.map { backend.supports($0) ? backend : fallback }
        let fallbackCount = placements.count { $0.name != backend.name }
        if fallbackCount > 0 {
            Log.logger.info("\(fallbackCount) of \(graph.nodes.count) nodes fall back from \(backend.name) to \(fallback.name)")
        }
        self.model = model
        self.graph = graph
        self.options = options
        self.backend = backend
    }

    /// Runs the graph on caller memory. On success every output binding's `shape` is set and its
    /// data written; on `bufferTooSmall` only the shapes are set, so callers can size buffers.
    /// Nothing is written to outputs on any other failure.
    public func run(inputs: [InputBinding], outputs: inout [OutputBinding], profile: Bool = false) throws -> RunReport {
        let start = Self.nanoseconds()
        let (inputOrder, shapes) = try Bindings.checkInputs(inputs, declared: graph.inputs)
        let plan = try self.plan(for: shapes)
        let outputOrder = try Bindings.checkOutputs(&outputs, declared: graph.outputs, types: outputIDs.map { plan.types[$0]! })

        var report = RunReport()
        let arena = try takeArena(bytes: plan.arenaBytes)
        defer { returnArena(arena) }
        var table = [UnsafeMutableRawPointer?](repeating: nil, count: valueCount)
        // Zero-byte tensors still get a valid, never-dereferenced address.
        let placeholder = arena.base
        for (id, storage) in plan.storage.enumerated() {
            switch storage {
            case .input(let index):
                let binding = inputs[inputOrder.firstIndex(of: index)!]
                table[id] = binding.data.map { UnsafeMutableRawPointer(mutating: $0) } ?? placeholder
            case .constant(let index): table[id] = UnsafeMutableRawPointer(mutating: constantValues[index].tensor.data)
            case .planValue(let index): table[id] = UnsafeMutableRawPointer(mutating: plan.planValues[index].data)
            case .arena(let offset): table[id] = arena.base + offset
            case .absent: break
            }
        }
        try table.withUnsafeBufferPointer { pointers in
            for step in plan.steps {
                let before = profile ? Self.nanoseconds() : 0
                do {
                    try step.kernel(KernelArguments(table: pointers, inputIDs: step.inputIDs, outputIDs: step.outputIDs,
                                                    scratch: step.scratchOffset.map { arena.base + $0 }))
                } catch let error as SwiftletError {
                    let node = graph.nodes[step.node]
                    throw SwiftletError(error.kind, "node '\(node.name)' (\(node.opType)): \(error.message)")
                }
                if profile {
                    let node = graph.nodes[step.node]
                    report.nodes.append(NodeReport(name: node.name, opType: node.opType, backend: placements[step.node].name,
                                                   flops: step.flops, timeMs: Double(Self.nanoseconds() - before) / 1e6))
                }
            }
        }
        for (position, index) in outputOrder.enumerated() {
            let bytes = plan.types[outputIDs[index]]!.byteCount
            if bytes > 0 { outputs[position].data!.copyMemory(from: table[outputIDs[index]]!, byteCount: bytes) }
        }
        report.flops = plan.flops
        report.bytesMoved = plan.bytesMoved
        report.peakActivationBytes = plan.arenaBytes
        report.nodeCount = plan.steps.count
        report.fallbackNodeCount = plan.fallbackSteps
        report.wallTimeMs = Double(Self.nanoseconds() - start) / 1e6
        return report
    }

    /// Output types for these input shapes (plans and caches them).
    public func outputTypes(inputShapes: [[Int]]) throws -> [TensorType] {
        let plan = try plan(for: inputShapes)
        return outputIDs.map { plan.types[$0]! }
    }

    /// Checks shapes against the declared inputs: ranks, fixed dims, and one size per symbol.
    private func checkDeclared(_ shapes: [[Int]]) throws {
        guard shapes.count == graph.inputs.count else {
            throw SwiftletError.invalidArgument("the model has \(graph.inputs.count) inputs, \(shapes.count) shapes given")
        }
        var bindings: [String: Int] = [:]
        for (declared, shape) in zip(graph.inputs, shapes) {
            if let problem = declared.mismatch(shape, bindings: &bindings) {
                throw SwiftletError.invalidArgument("input \(problem)")
            }
            if let problem = Shape.boundsProblem(shape) {
                throw SwiftletError.invalidArgument("input '\(declared.name)': \(problem)")
            }
        }
    }

    // MARK: - Plans and arenas

    /// Every graph input's and node output's type for these input shapes (what planning infers).
    func valueTypes(for shapes: [[Int]]) throws -> [String: TensorType] {
        let types = try plan(for: shapes).types
        var named: [String: TensorType] = [:]
        for (input, id) in zip(graph.inputs, inputIDs) { named[input.name] = types[id] }
        for (node, ids) in zip(graph.nodes, nodeOutputIDs) {
            for (output, id) in zip(node.outputs, ids) { named[output] = types[id] }
        }
        return named
    }

    private func plan(for shapes: [[Int]]) throws -> ExecutionPlan {
        if let cached = plans.withLock({ $0[shapes] }) { return cached }
        try checkDeclared(shapes)
        // Planning runs outside the lock; two threads may plan the same shapes once each.
        let plan = try ExecutionPlan(session: self, inputShapes: shapes)
        plans.withLock { cache in
            if cache.count >= Self.planCacheLimit { cache.removeAll() }
            cache[shapes] = plan
        }
        return plan
    }

    private func takeArena(bytes: Int) throws -> Arena {
        let reused = arenas.withLock { pool -> Arena? in
            guard let index = pool.firstIndex(where: { $0.capacity >= bytes }) else { return nil }
            return pool.remove(at: index)
        }
        return try reused ?? Arena(capacity: bytes)
    }

    private func returnArena(_ arena: Arena) {
        arenas.withLock { pool in
            pool.append(arena)
            // Keep the largest few: one per thread that runs concurrently is enough.
            if pool.count > 8 {
                pool.sort { $0.capacity > $1.capacity }
                pool.removeLast()
            }
        }
    }

    static func nanoseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }
}

/// Activation memory for one run at a time.
final class Arena: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let capacity: Int

    /// posix_memalign rather than Swift's allocate, which aborts the process when memory runs out.
    init(capacity: Int) throws {
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, MemoryPlanner.alignment, max(capacity, MemoryPlanner.alignment)) == 0, let memory else {
            throw SwiftletError(.backendFailure, "cannot allocate \(capacity) bytes of activation memory")
        }
        self.capacity = capacity
        base = memory
    }

    deinit { free(base) }
}
