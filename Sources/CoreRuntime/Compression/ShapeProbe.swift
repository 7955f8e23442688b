/// Every value's type in a graph for one set of input shapes: structured removal needs shapes
/// inside the model (heads per attention node, which value a block's output has the shape of),
/// and the graph declares only its inputs' and outputs'. The session's planner infers them; the
/// probe plans the graph once on the reference backend (no kernel runs).
public struct ShapeProbe: Sendable {
    /// Which input shapes to plan with.
    public enum Shapes: Sendable {
        /// Each symbolic dimension bound to its own size (17, 19, 23, … — distinct, so unrelated
        /// dimensions do not look alike, and large enough for downsampling CNNs); if the graph
        /// needs two differently named symbols to agree, every symbol bound to 17 instead.
        case symbolic
        /// The shapes of real data, by input name (what analysis runs on).
        case inputs([String: [Int]])
    }

    let types: [String: TensorType]
    /// Probe size → the symbol it stands for (symbolic probing only).
    let symbols: [Int: String]

    init(_ graph: Graph, _ constants: [String: ConstantTensor], shapes: Shapes) throws {
        var options = SessionOptions()
        options.optimizeGraph = false
        let session = try Session(model: Model(graph: graph, constants: constants), backend: ReferenceBackend(),
                                  fallback: ReferenceBackend(), options: options)
        var attempts: [(shapes: [[Int]], symbols: [Int: String])] = []
        switch shapes {
        case .inputs(let byName):
            attempts = [(try graph.inputs.map { input in
                guard let shape = byName[input.name] else { throw SwiftletError.invalidArgument("no shape for input '\(input.name)'") }
                return shape
            }, [:])]
        case .symbolic:
            let sizes = [17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79]
            var distinct: [String: Int] = [:]
            for case .symbol(let name) in graph.inputs.flatMap(\.dims) where distinct[name] == nil {
                distinct[name] = sizes[distinct.count % sizes.count] + 100 * (distinct.count / sizes.count)
            }
            for binding in [distinct, distinct.mapValues { _ in 17 }] {
                let bound = graph.inputs.map { input in
                    input.dims.map { dim -> Int in
                        switch dim {
                        case .fixed(let size): size
                        case .symbol(let name): binding[name]!
                        }
                    }
                }
                attempts.append((bound, Dictionary(binding.map { ($1, $0) }) { first, _ in first }))
            }
        }
        var failure: SwiftletError?
        for attempt in attempts {
            do {
                var types = try session.valueTypes(for: attempt.shapes)
                for (name, constant) in constants { types[name] = constant.type }
                self.types = types
                symbols = attempt.symbols
                return
            } catch let error as SwiftletError {
                failure = SwiftletError(error.kind, "structured removal needs the shapes inside the model; inferring them for inputs \(attempt.shapes) failed: \(error.message)")
            }
        }
        throw failure!
    }

    /// `shape` with probe sizes written as their symbols: what a user recognizes.
    func describe(_ shape: [Int]) -> String {
        "[" + shape.map { symbols[$0] ?? String($0) }.joined(separator: ", ") + "]"
    }
}
