#if canImport(Glibc)
import Glibc
#endif

/// Swiftlet's fused multi-head attention, made by the attention fusion pass from the exporters'
/// Transpose → MatMul → scale → Add(mask) → Softmax → MatMul → Transpose chain:
///
///     Y[b, i, h, :] = Σ_j softmax_j(scale · Q[b, i, h, :]·K[b, j, h, :] + mask[b, h, i, j]) · V[b, j, h, :]
///
/// Q [B, Sq, H, D], K and V [B, Sk, H, D] — the layout the projections produce, so no head
/// transposes are needed — and an optional additive mask broadcasting to [B, H, Sq, Sk]. The
/// output [B, Sq, H, D] is the chain's final Transpose's. Kernels need not materialize the
/// [B, H, Sq, Sk] scores. `selection`/`keep` make it approximate attention (`AttentionSelection`:
/// the softmax over each query's top-k or sign-matching keys only).
public struct AttentionOp: Operator {
    public static let type = "Attention"
    public static let inputArity = 3...4
    public static let outputArity = 1...1
    public let scale: Float
    public let selection: AttentionSelection

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["scale", "selection", "keep"], op: Self.type)
        scale = try attributes.float("scale", default: 1)
        guard scale.isFinite else { throw attributes.error("scale", "must be finite") }
        selection = try AttentionSelection(attributes)
    }

    public struct Geometry: Sendable {
        public let batch: Int, queries: Int, keys: Int, heads: Int, size: Int
        /// Strides of the mask broadcast to [B, H, Sq, Sk] (zero where it broadcasts).
        public let maskStrides: [Int]?
    }

    public static func geometry(_ inputs: [TensorType?]) throws -> Geometry {
        let q = inputs[0]!, k = inputs[1]!, v = inputs[2]!
        for (t, role) in [(q, "Q"), (k, "K"), (v, "V")] {
            try requireFloat(t, role)
            guard t.rank == 4 else { throw shapeError("\(role) must have rank 4 [batch, seq, heads, size], got \(t.shape)") }
        }
        guard k.shape == v.shape, q.shape[0] == k.shape[0], q.shape[2] == k.shape[2], q.shape[3] == k.shape[3] else {
            throw shapeError("Q\(q.shape), K\(k.shape), V\(v.shape) do not agree on batch, heads and size")
        }
        let g = (batch: q.shape[0], queries: q.shape[1], keys: k.shape[1], heads: q.shape[2], size: q.shape[3])
        var maskStrides: [Int]?
        if let mask = inputs[3] {
            try requireFloat(mask, "mask")
            let scores = [g.batch, g.heads, g.queries, g.keys]
            guard mask.rank <= 4, Shape.broadcast(mask.shape, scores) == scores else {
                throw shapeError("mask\(mask.shape) does not broadcast to the scores \(scores)")
            }
            maskStrides = Shape.broadcastStrides(mask.shape, to: scores)
        }
        return Geometry(batch: g.batch, queries: g.queries, keys: g.keys, heads: g.heads, size: g.size, maskStrides: maskStrides)
    }

    public func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType] {
        _ = try Self.geometry(inputs)
        return [inputs[0]!]
    }

    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int {
        guard let g = try? Self.geometry(inputs) else { return 0 }
        return Shape.saturatingProduct(4, g.batch, g.heads, g.queries, g.keys, g.size)
    }

    public func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel {
        let g = try Self.geometry(inputs)
        let scale = self.scale, selection = self.selection
        return { args in
            let q = args.input(0), k = args.input(1), v = args.input(2), mask = args.optionalInput(3), y = args.output(0)
            var scores = [Float](repeating: 0, count: g.keys)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(1, AttentionSelection.scratchBytes(keys: g.keys)), alignment: 16)
            defer { scratch.deallocate() }
            let rowStride = g.heads * g.size
            for b in 0..<g.batch {
                for h in 0..<g.heads {
                    for i in 0..<g.queries {
                        let query = q + (b * g.queries + i) * rowStride + h * g.size
                        for j in 0..<g.keys {
                            let key = k + (b * g.keys + j) * rowStride + h * g.size
                            var dot = 0.0
                            for d in 0..<g.size { dot += Double(query[d]) * Double(key[d]) }
                            var score = Float(dot) * scale
                            if let mask, let s = g.maskStrides { score += mask[b * s[0] + h * s[1] + i * s[2] + j * s[3]] }
                            scores[j] = score
                        }
                        scores.withUnsafeMutableBufferPointer {
                            selection.restrict($0.baseAddress!, keys: g.keys, query: query, keyVectors: k + b * g.keys * rowStride + h * g.size,
                                               keyStride: rowStride, size: g.size, scratch: scratch)
                        }
                        // After the selection: the largest score left (sign-matching may drop the largest of all).
                        let maximum = scores.reduce(-Float.infinity, Float.maximumPropagatingNaN)
                        Self.softmax(&scores, maximum: maximum)
                        let out = y + (b * g.queries + i) * rowStride + h * g.size
                        for d in 0..<g.size {
                            var sum = 0.0
                            for j in 0..<g.keys { sum += Double(scores[j]) * Double(v[(b * g.keys + j) * rowStride + h * g.size + d]) }
                            out[d] = Float(sum)
                        }
                    }
                }
            }
        }
    }

    /// exp(x − max) / Σ, in place; as the Softmax op does (a row of −inf only stays zeros).
    static func softmax(_ row: inout [Float], maximum: Float) {
        row.withUnsafeMutableBufferPointer { softmax($0.baseAddress!, count: $0.count, maximum: maximum) }
    }

    static func softmax(_ row: UnsafeMutablePointer<Float>, count: Int, maximum: Float) {
        var sum: Float = 0
        for j in 0..<count {
            let e = maximum != -.infinity ? expf(row[j] - maximum) : 0
            row[j] = e
            sum += e
        }
        guard sum > 0 else { return }
        let inverse = 1 / sum
        for j in 0..<count { row[j] *= inverse }
    }
}
