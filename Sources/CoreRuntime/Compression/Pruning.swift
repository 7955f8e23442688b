/// Which weights pruning may remove together.
public enum PruningPattern: Equatable, Sendable, CustomStringConvertible {
    /// Any single weight.
    case unstructured
    /// Whole R×C blocks of the [N, K] weight (stored as BSR with that block shape).
    case block(rows: Int, columns: Int)
    /// In every group of `m` consecutive weights along K, all but the `n` largest.
    case nOfM(n: Int, m: Int)
    /// RT3's hybrid: whole R×C blocks, then in each kept block all but the `entries` positions of
    /// one pattern from a set fitted to the layer (`HybridPruning`). Stored as CSR.
    case hybrid(rows: Int, columns: Int, entries: Int)

    /// "unstructured", "block:RxC", "nm:N:M", "hybrid[:RxC[:E]]" (4×4 blocks and E = R·C/2 unless given).
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "unstructured" where parts.count == 1:
            self = .unstructured
            return
        case "block" where parts.count == 2:
            let sides = parts[1].split(separator: "x").compactMap { Int($0) }
            if sides.count == 2, sides.allSatisfy({ (1...64).contains($0) }) {
                self = .block(rows: sides[0], columns: sides[1])
                return
            }
        case "nm" where parts.count == 3:
            if let n = Int(parts[1]), let m = Int(parts[2]), (1...64).contains(m), (1...m).contains(n) {
                self = .nOfM(n: n, m: m)
                return
            }
        case "hybrid" where parts.count <= 3:
            let sides = parts.count > 1 ? parts[1].split(separator: "x").compactMap { Int($0) } : [4, 4]
            if sides.count == 2, sides.allSatisfy({ (1...64).contains($0) }), sides[0] * sides[1] <= 64 {
                let entries = parts.count > 2 ? Int(parts[2]) : max(1, sides[0] * sides[1] / 2)
                if let entries, (1...sides[0] * sides[1]).contains(entries) {
                    self = .hybrid(rows: sides[0], columns: sides[1], entries: entries)
                    return
                }
            }
        default: break
        }
        throw SwiftletError.invalidArgument("unknown pruning pattern '\(text)': use unstructured, block:RxC (sides 1…64), nm:N:M (1 ≤ N ≤ M ≤ 64) or hybrid:RxC:E (R·C ≤ 64, 1 ≤ E ≤ R·C)")
    }

    public var description: String {
        switch self {
        case .unstructured: "unstructured"
        case .block(let r, let c): "block:\(r)x\(c)"
        case .nOfM(let n, let m): "nm:\(n):\(m)"
        case .hybrid(let r, let c, let e): "hybrid:\(r)x\(c):\(e)"
        }
    }

    /// The sparsity the pattern reaches with no group removed: hybrid's patterns alone remove 1 − E/(R·C).
    public var minimumSparsity: Double {
        if case .hybrid(let r, let c, let e) = self { return PatternSparseWeight.patternSparsity(kernelSize: r * c, entries: e) }
        return 0
    }

    /// A least sparsity to 3 decimals, rounded up so that the printed bound is itself accepted.
    static func sparsityText(_ floor: Double) -> String { String(format: "%.3f", (floor * 1000 - 1e-6).rounded(.up) / 1000) }

    /// Throws unless `sparsity` lies in `minimumSparsity`…1.
    public func check(sparsity: Double) throws {
        guard sparsity >= minimumSparsity - 1e-9, sparsity <= 1 else {
            let floor = Self.sparsityText(minimumSparsity)
            throw SwiftletError.invalidArgument("\(self) removes \(floor) of the weights with its patterns alone: --sparsity must lie in \(floor)…1, got \(sparsity)")
        }
    }

    /// The block shape weights pruned this way are stored in (CSR for unstructured and N:M).
    public var storageBlock: (rows: Int, columns: Int) {
        if case .block(let r, let c) = self { return (r, c) }
        return (1, 1)
    }
}

public enum Pruning {
    /// A copy of `weights` [rows N, columns K] with the least important groups set to zero:
    /// groups are ranked by the sum of `importance` over their members (|w| by default, or
    /// significance scores), and the lowest ⌊sparsity · groups⌉ removed. N:M ignores `sparsity`;
    /// hybrid needs it ≥ `minimumSparsity` (`HybridPruning` says how it chooses).
    public static func prune(_ weights: [Float], rows: Int, columns: Int, pattern: PruningPattern, sparsity: Double,
                             importance: [Float]? = nil) -> [Float] {
        precondition(weights.count == rows * columns && (0...1).contains(sparsity))
        let score = importance ?? weights.map { abs($0) }
        var pruned = weights
        switch pattern {
        case .hybrid(let r, let c, let e):
            return HybridPruning(rows: rows, columns: columns, blockRows: r, blockColumns: c, entries: e)
                .prune(weights, importance: score, sparsity: sparsity).pruned
        case .nOfM(let n, let m):
            for row in 0..<rows {
                for start in stride(from: 0, to: columns, by: m) {
                    let group = (start..<min(start + m, columns)).map { row * columns + $0 }
                    // Keep the n largest (earlier index first on ties), zero the rest.
                    for index in group.sorted(by: { (score[$0], -$0) > (score[$1], -$1) }).dropFirst(n) { pruned[index] = 0 }
                }
            }
        case .unstructured, .block:
            let (r, c) = pattern.storageBlock
            let blockColumns = (columns + c - 1) / c
            let groups = ((rows + r - 1) / r) * blockColumns
            func members(_ group: Int) -> [Int] {
                let (blockRow, blockColumn) = group.quotientAndRemainder(dividingBy: blockColumns)
                return (blockRow * r..<min((blockRow + 1) * r, rows)).flatMap { row in
                    (blockColumn * c..<min((blockColumn + 1) * c, columns)).map { row * columns + $0 }
                }
            }
            var groupScore = [Float](repeating: 0, count: groups)
            for group in 0..<groups { groupScore[group] = members(group).reduce(0) { $0 + score[$1] } }
            let removed = Int((sparsity * Double(groups)).rounded())
            for group in (0..<groups).sorted(by: { (groupScore[$0], $0) < (groupScore[$1], $1) }).prefix(removed) {
                for index in members(group) { pruned[index] = 0 }
            }
        }
        return pruned
    }
}
