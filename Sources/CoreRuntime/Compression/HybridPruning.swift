/// RT3's hybrid pruning of a weight matrix [N, K]: block-structured pruning (BP) first, then
/// pattern pruning (PP) inside the blocks BP keeps. RT3 names the two steps; the published
/// abstract does not say how its pattern sets are found (it searches them by reinforcement
/// learning), so the set here is fitted to each layer, the way k-means fits centres:
///
/// 1. BP: the matrix is cut into R×C blocks (positions past a ragged edge count as importance 0);
///    blocks are removed, least summed importance first (lowest index first on ties), while the
///    weights the kept blocks can keep — E each, or all of an edge block's positions inside the
///    matrix when fewer — exceed ⌊(1 − S) · N·K⌋. At least S of the weights are gone.
/// 2. PP: a set of at most P patterns (E of a block's R·C positions each) is fitted to the kept
///    blocks. It starts as the P commonest "top-E" masks (each block's E most important
///    positions, the earlier position on ties; the earlier block's mask first on equal counts).
///    Then, until no block changes pattern (at most `maxRounds` rounds): each kept block takes
///    the pattern keeping the most of its importance (the first on ties), and each pattern in use
///    becomes the E positions with the largest importance summed over its blocks (the earlier
///    position on ties). Neither step can lower the kept importance, so the rounds settle.
/// 3. Each kept block keeps its pattern's positions; everything else is zero.
///
/// On interior blocks BP keeps ⌊⌊(1 − S)·N·K⌋ / E⌋ blocks, so a smaller E at a matching
/// higher S (E/(1 − S) the same) keeps the same blocks (up to that rounding): a sparser variant
/// on the same backbone, as RT3 prepares one pattern set per DVFS level.
public struct HybridPruning {
    public let rows: Int
    public let columns: Int
    public let blockRows: Int
    public let blockColumns: Int
    /// Positions a kept block keeps (E).
    public let entries: Int
    public static let maxPatterns = 8
    static let maxRounds = 50

    public init(rows: Int, columns: Int, blockRows: Int, blockColumns: Int, entries: Int) {
        precondition(blockRows * blockColumns <= 64 && (1...blockRows * blockColumns).contains(entries))
        (self.rows, self.columns, self.blockRows, self.blockColumns, self.entries) = (rows, columns, blockRows, blockColumns, entries)
    }

    /// The share of a kept block's weights its pattern removes: the least sparsity hybrid pruning reaches.
    public var patternSparsity: Double { PatternSparseWeight.patternSparsity(kernelSize: blockRows * blockColumns, entries: entries) }

    var blockRowCount: Int { (rows + blockRows - 1) / blockRows }
    var blockColumnCount: Int { (columns + blockColumns - 1) / blockColumns }

    /// Every block's importance at its R·C positions (i·C + j), blocks row by row, laid end to end
    /// (one array: a matrix of 1×1 blocks has millions); 0 past the matrix's edge.
    func blockScores(_ score: [Float]) -> [Float] {
        let size = blockRows * blockColumns
        var scores = [Float](repeating: 0, count: blockRowCount * blockColumnCount * size)
        for row in 0..<rows {
            let (blockRow, i) = row.quotientAndRemainder(dividingBy: blockRows)
            for column in 0..<columns {
                let (blockColumn, j) = column.quotientAndRemainder(dividingBy: blockColumns)
                scores[(blockRow * blockColumnCount + blockColumn) * size + i * blockColumns + j] = score[row * columns + column]
            }
        }
        return scores
    }

    /// The positions of block `block` that lie inside the matrix.
    func insidePositions(_ block: Int) -> Int {
        let (blockRow, blockColumn) = block.quotientAndRemainder(dividingBy: blockColumnCount)
        return min(blockRows, rows - blockRow * blockRows) * min(blockColumns, columns - blockColumn * blockColumns)
    }

    /// The E positions with the largest of `scores`, the earlier position on ties, as a bit mask.
    func topEntries(_ scores: ArraySlice<Float>) -> UInt64 {
        let base = scores.startIndex
        return scores.indices.sorted { (scores[$0], base - $0) > (scores[$1], base - $1) }.prefix(entries)
            .reduce(UInt64(0)) { $0 | 1 << UInt64($1 - base) }
    }

    static func kept(_ scores: ArraySlice<Float>, _ mask: UInt64) -> Float {
        scores.indices.reduce(Float(0)) { mask >> UInt64($1 - scores.startIndex) & 1 == 1 ? $0 + scores[$1] : $0 }
    }

    /// `weights` with BP's removed blocks and PP's removed positions zeroed, and the pattern set.
    /// `sparsity` must lie in `patternSparsity`…1; at least `sparsity` of the weights are removed.
    public func prune(_ weights: [Float], importance score: [Float], sparsity: Double) -> (pruned: [Float], patterns: [UInt64]) {
        precondition(weights.count == rows * columns && score.count == weights.count)
        precondition(sparsity >= patternSparsity - 1e-9 && sparsity <= 1)
        let size = blockRows * blockColumns, blocks = blockRowCount * blockColumnCount
        let scores = blockScores(score)
        func block(_ b: Int) -> ArraySlice<Float> { scores[(b * size)..<((b + 1) * size)] }
        // BP: the least important blocks go until what the kept ones can keep — E each, or all of
        // a block on the matrix's edge with fewer positions inside — is at most the target.
        let target = Int(((1 - sparsity) * Double(rows * columns)).rounded(.down))
        let capacity = (0..<blocks).map { min(entries, insidePositions($0)) }
        var keptWeights = capacity.reduce(0, +)
        let total = (0..<blocks).map { block($0).reduce(0, +) }
        var removed = [Bool](repeating: false, count: blocks)
        for b in (0..<blocks).sorted(by: { (total[$0], $0) < (total[$1], $1) }) {
            guard keptWeights > target else { break }
            removed[b] = true
            keptWeights -= capacity[b]
        }
        let keptBlocks = (0..<blocks).filter { !removed[$0] }
        // PP: the commonest top-E masks, then alternate assignment and refit.
        var counts: [UInt64: (count: Int, first: Int)] = [:]
        for (order, b) in keptBlocks.enumerated() {
            counts[topEntries(block(b)), default: (0, order)].count += 1
        }
        var patterns = counts.sorted { ($0.value.count, -$0.value.first) > ($1.value.count, -$1.value.first) }
            .prefix(Self.maxPatterns).map(\.key)
        var chosen = [Int](repeating: -1, count: keptBlocks.count)
        for round in 0..<Self.maxRounds {
            var changed = false
            for (order, b) in keptBlocks.enumerated() {
                var best = 0, bestKept = -Float.infinity
                for (index, pattern) in patterns.enumerated() {
                    let kept = Self.kept(block(b), pattern)
                    if kept > bestKept { (best, bestKept) = (index, kept) }
                }
                if chosen[order] != best { (chosen[order], changed) = (best, true) }
            }
            // The last step is always an assignment, so every block has its best pattern of the set.
            guard changed, round < Self.maxRounds - 1 else { break }
            for index in patterns.indices {
                var summed = [Float](repeating: 0, count: size)
                var used = false
                for (order, b) in keptBlocks.enumerated() where chosen[order] == index {
                    for (position, value) in block(b).enumerated() { summed[position] += value }
                    used = true
                }
                if used { patterns[index] = topEntries(summed[...]) }
            }
        }
        var pruned = [Float](repeating: 0, count: weights.count)
        for (order, b) in keptBlocks.enumerated() {
            let (blockRow, blockColumn) = b.quotientAndRemainder(dividingBy: blockColumnCount)
            let mask = patterns[chosen[order]]
            for i in 0..<blockRows where blockRow * blockRows + i < rows {
                for j in 0..<blockColumns where blockColumn * blockColumns + j < columns && mask >> UInt64(i * blockColumns + j) & 1 == 1 {
                    let index = (blockRow * blockRows + i) * columns + blockColumn * blockColumns + j
                    pruned[index] = weights[index]
                }
            }
        }
        return (pruned, patterns)
    }
}
