/// Which keys each query of an `Attention` node attends to (its `selection` and `keep`
/// attributes). Approximate attention computes the softmax over the selected keys only; the
/// others get weight exactly 0. Definitions, per (batch, head, query i), with
/// s_j = scale · q·k_j + mask_ij the full score of key j:
/// - `all`: every key (exact attention).
/// - `topk`, keep K: the K keys with the largest s_j.
/// - `sign`, keep K (sign-matching): the K keys whose sign bits agree most with the query's,
///   agreement_j = #{d : signbit(q_d) = signbit(k_jd)} — the IEEE sign bit, so −0 counts as
///   negative, as the XNOR-and-popcount hardware that makes this cheap reads it.
/// In both, ties go to the lower key index; keys whose score is −∞ (masked out) are never
/// selected; a NaN score ranks as +∞, so it is never dropped for a finite one and the output
/// shows it; with K ≥ the number of keys, selection changes nothing.
public enum AttentionSelection: Equatable, Sendable, CustomStringConvertible {
    case all
    case topK(Int)
    case signMatching(Int)

    /// From a node's attributes: `selection` ("all", "topk", "sign"), `keep` (≥ 1, required unless "all").
    init(_ attributes: Attributes) throws {
        let mode = try attributes.string("selection", default: "all")
        guard ["all", "topk", "sign"].contains(mode) else {
            throw attributes.error("selection", "must be \"all\", \"topk\" or \"sign\", not \"\(mode)\"")
        }
        if mode == "all" {
            guard attributes.values["keep"] == nil else { throw attributes.error("keep", "needs selection \"topk\" or \"sign\"") }
            self = .all
            return
        }
        guard attributes.values["keep"] != nil else { throw attributes.error("keep", "is required with selection \"\(mode)\"") }
        let keep = try attributes.int("keep", default: 0)
        guard keep >= 1 else { throw attributes.error("keep", "must be ≥ 1, got \(keep)") }
        self = mode == "topk" ? .topK(keep) : .signMatching(keep)
    }

    /// "full"/"all", "topk:K", "sign:K" (the CLI's spelling).
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 1, ["all", "full"].contains(parts[0]) {
            self = .all
            return
        }
        guard parts.count == 2, let keep = Int(parts[1]), keep >= 1 else {
            throw SwiftletError.invalidArgument("attention selection '\(text)': use full, topk:K or sign:K with K ≥ 1")
        }
        switch parts[0] {
        case "topk": self = .topK(keep)
        case "sign": self = .signMatching(keep)
        default: throw SwiftletError.invalidArgument("attention selection '\(text)': use full, topk:K or sign:K with K ≥ 1")
        }
    }

    /// The node attributes that store this selection.
    public var attributes: [String: JSONValue] {
        switch self {
        case .all: [:]
        case .topK(let keep): ["selection": .string("topk"), "keep": .int(keep)]
        case .signMatching(let keep): ["selection": .string("sign"), "keep": .int(keep)]
        }
    }

    public var description: String {
        switch self {
        case .all: "full"
        case .topK(let keep): "topk:\(keep)"
        case .signMatching(let keep): "sign:\(keep)"
        }
    }

    /// Scratch a `restrict` call needs for `keys` keys, in bytes.
    public static func scratchBytes(keys: Int) -> Int { keys * (MemoryLayout<Float>.stride + MemoryLayout<Int32>.stride) }

    /// Sets the scores of the keys this selection drops to −∞, so a softmax gives them weight 0.
    /// `scores` [keys] are one query's full scores; `query` its D values; key j's D values are at
    /// `keyVectors + j · keyStride`; `scratch` holds `scratchBytes(keys:)` bytes.
    public func restrict(_ scores: UnsafeMutablePointer<Float>, keys: Int, query: UnsafePointer<Float>,
                         keyVectors: UnsafePointer<Float>, keyStride: Int, size: Int, scratch: UnsafeMutableRawPointer) {
        let keep: Int
        switch self {
        case .all: return
        case .topK(let k), .signMatching(let k): keep = k
        }
        guard keep < keys else { return }
        let rank = scratch.assumingMemoryBound(to: Float.self)
        let order = (scratch + keys * MemoryLayout<Float>.stride).assumingMemoryBound(to: Int32.self)
        for j in 0..<keys {
            let score = scores[j]
            if score.isNaN {
                rank[j] = .infinity
            } else if score == -.infinity {
                rank[j] = -.infinity
            } else if case .signMatching = self {
                let key = keyVectors + j * keyStride
                var agreement = 0
                for d in 0..<size where (query[d].bitPattern >> 31) == (key[d].bitPattern >> 31) { agreement += 1 }
                rank[j] = Float(agreement)
            } else {
                rank[j] = score
            }
            order[j] = Int32(j)
        }
        var ordered = UnsafeMutableBufferPointer(start: order, count: keys)
        ordered.sort { (a: Int32, b: Int32) -> Bool in
            let rankA: Float = rank[Int(a)], rankB: Float = rank[Int(b)]
            return rankA != rankB ? rankA > rankB : a < b
        }
        for position in keep..<keys { scores[Int(order[position])] = -.infinity }
    }
}
