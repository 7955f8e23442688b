/// The two GELU forms exporters write element by element, back into one `Gelu`:
///
///     erf form   0.5 · x · (1 + erf(x / √2))                         (x·(1/√2) also matched)
///     tanh form  0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))  (x³ as Pow(x, 3) or x·x·x)
///
/// The three factors may be multiplied in any grouping and order. Constants must equal the
/// formula's to fp32 rounding (relative 1e-5), so a different function is never replaced.
enum FuseGelu {
    static func apply(_ graph: Graph, constants: [String: ConstantTensor]) throws -> Graph {
        var rewriter = GraphRewriter(graph, constants: constants)
        for node in graph.nodes where node.op is MulOp {
            guard let (x, usesTanh) = match(node, rewriter) else { continue }
            try rewriter.replace(node, opType: GeluOp.type, inputs: [x],
                                 attributes: usesTanh ? ["approximate": .string("tanh")] : [:])
        }
        return try rewriter.finish("GELU")
    }

    /// (x, tanh form?) when `root` is a GELU product.
    private static func match(_ root: Node, _ r: GraphRewriter) -> (String, Bool)? {
        // a·b·c as Mul(Mul(a, b), c) or Mul(c, Mul(a, b)): the inner Mul must feed only this one.
        for (index, operand) in root.inputs.enumerated() {
            guard let inner = r.privateProducer(operand), inner.op is MulOp else { continue }
            let factors = inner.inputs + [root.inputs[1 - index]]
            guard let half = factors.firstIndex(where: { r.scalar($0).map { near($0, 0.5) } == true }) else { continue }
            let rest = factors.enumerated().filter { $0.offset != half }.map(\.element)
            for (x, other) in [(rest[0], rest[1]), (rest[1], rest[0])] {
                if let usesTanh = onePlusGeluTerm(other, x: x, r) { return (x, usesTanh) }
            }
        }
        return nil
    }

    /// Whether `value` is 1 + erf(x/√2) (false) or 1 + tanh(…) of the tanh form (true).
    private static func onePlusGeluTerm(_ value: String, x: String, _ r: GraphRewriter) -> Bool? {
        guard let add = r.producer(value), add.op is AddOp,
              let oneIndex = add.inputs.firstIndex(where: { r.scalar($0).map { near($0, 1) } == true })
        else { return nil }
        guard let term = r.producer(add.inputs[1 - oneIndex]) else { return nil }
        switch term.op {
        case is ErfOp where isScaled(term.inputs[0], x, by: 0.7071067811865476, r): return false
        case is TanhOp where isTanhArgument(term.inputs[0], x, r): return true
        default: return nil
        }
    }

    /// value = x · factor, or x / (1 / factor).
    private static func isScaled(_ value: String, _ x: String, by factor: Double, _ r: GraphRewriter) -> Bool {
        guard let node = r.producer(value), node.inputs.count == 2 else { return false }
        switch node.op {
        case is MulOp:
            return (node.inputs[0] == x && r.scalar(node.inputs[1]).map { near($0, factor) } == true)
                || (node.inputs[1] == x && r.scalar(node.inputs[0]).map { near($0, factor) } == true)
        case is DivOp:
            return node.inputs[0] == x && r.scalar(node.inputs[1]).map { near($0, 1 / factor) } == true
        default:
            return false
        }
    }

    /// value = √(2/π) · (x + 0.044715 · x³).
    private static func isTanhArgument(_ value: String, _ x: String, _ r: GraphRewriter) -> Bool {
        guard let scaled = r.producer(value), scaled.op is MulOp else { return false }
        for (index, operand) in scaled.inputs.enumerated() {
            guard r.scalar(scaled.inputs[1 - index]).map({ near($0, 0.7978845608028654) }) == true,
                  let sum = r.producer(operand), sum.op is AddOp else { continue }
            for (xIndex, cubic) in sum.inputs.enumerated() where sum.inputs[1 - xIndex] == x {
                guard let term = r.producer(cubic), term.op is MulOp else { continue }
                for (cubeIndex, cube) in term.inputs.enumerated()
                where r.scalar(term.inputs[1 - cubeIndex]).map({ near($0, 0.044715) }) == true && isCube(cube, x, r) {
                    return true
                }
            }
        }
        return false
    }

    /// value = Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x).
    private static func isCube(_ value: String, _ x: String, _ r: GraphRewriter) -> Bool {
        guard let node = r.producer(value) else { return false }
        switch node.op {
        case is PowOp: return node.inputs[0] == x && r.scalar(node.inputs[1]) == 3
        case is MulOp:
            func isSquare(_ v: String) -> Bool {
                guard let square = r.producer(v), square.op is MulOp else { return false }
                return square.inputs == [x, x]
            }
            return (node.inputs[0] == x && isSquare(node.inputs[1])) || (node.inputs[1] == x && isSquare(node.inputs[0]))
        default: return false
        }
    }

    static func near(_ value: Float, _ target: Double) -> Bool {
        abs(Double(value) - target) <= 1e-5 * abs(target)
    }
}
