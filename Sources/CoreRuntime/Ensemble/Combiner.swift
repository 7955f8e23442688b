#if canImport(Glibc)
import Glibc
#endif

/// How an ensemble turns its members' class scores into one answer. Every member's scored output
/// has shape [..., C]: each row of C class scores (logits) is combined on its own. A row where any
/// member has a NaN score comes out all NaN, whatever the combiner: a vote over garbage is garbage.
public enum Combiner: String, CaseIterable, Sendable {
    /// Mean over the members of softmax(row): class probabilities.
    case mean
    /// Plurality vote of the members' predicted classes (each member's first largest score); a
    /// tie goes to the lowest class index. The row is one-hot: 1 at the chosen class.
    case vote
    /// EMPIR's rule (Sen et al., ICLR 2020): plurality vote; when the top count is shared (with
    /// three members: all disagree) the reference member — the first, full-precision one —
    /// decides, taking the tied class it scores highest. The row is one-hot.
    case empir

    /// Combines `members` (each `rows` × `classes`, row-major) into `output`.
    /// `members[0]` is the reference member.
    func combine(_ members: [UnsafePointer<Float>], rows: Int, classes: Int, into output: UnsafeMutablePointer<Float>) {
        var probabilities = [Float](repeating: 0, count: classes)
        var votes = [Int](repeating: 0, count: classes)
        for row in 0..<rows {
            let scores = members.map { $0 + row * classes }
            let out = UnsafeMutableBufferPointer(start: output + row * classes, count: classes)
            if scores.contains(where: { member in (0..<classes).contains { member[$0].isNaN } }) {
                out.update(repeating: .nan)
                continue
            }
            switch self {
            case .mean:
                out.update(repeating: 0)
                for member in scores {
                    Self.softmax(member, classes, into: &probabilities)
                    for c in 0..<classes { out[c] += probabilities[c] / Float(members.count) }
                }
            case .vote, .empir:
                guard classes > 0 else { continue }
                votes.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                for member in scores { votes[Self.firstLargest(member, among: 0..<classes)] += 1 }
                let top = votes.max()!
                let tied = (0..<classes).filter { votes[$0] == top }
                let winner = self == .vote || tied.count == 1 ? tied[0] : Self.firstLargest(scores[0], among: tied)
                out.update(repeating: 0)
                out[winner] = 1
            }
        }
    }

    /// Index (from `candidates`, in order) of the first largest score.
    private static func firstLargest<C: Collection<Int>>(_ scores: UnsafePointer<Float>, among candidates: C) -> Int {
        var best = candidates.first!
        for c in candidates where scores[c] > scores[best] { best = c }
        return best
    }

    /// softmax(x − max x), as numerical libraries compute it.
    private static func softmax(_ scores: UnsafePointer<Float>, _ classes: Int, into result: inout [Float]) {
        let largest = (0..<classes).reduce(-Float.infinity) { max($0, scores[$1]) }
        var sum: Float = 0
        for c in 0..<classes {
            result[c] = expf(scores[c] - largest)
            sum += result[c]
        }
        for c in 0..<classes { result[c] /= sum }
    }
}
