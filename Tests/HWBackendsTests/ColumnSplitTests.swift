@testable import HWBackends
import Synchronization
import Testing

/// How the CPU kernels divide output columns (planes, pairs) between threads.
@Suite struct ColumnSplitTests {
    /// The ranges cover 0..<n exactly once, in order, each (but the last) a multiple of `granularity`.
    static func check(_ split: ColumnSplit, n: Int, granularity: Int) {
        #expect(split.ranges.first?.lowerBound == 0)
        #expect(split.ranges.last?.upperBound == n)
        for (a, b) in zip(split.ranges, split.ranges.dropFirst()) { #expect(a.upperBound == b.lowerBound) }
        for range in split.ranges {
            #expect(!range.isEmpty)
            #expect(range.lowerBound % granularity == 0)
        }
    }

    @Test func largeProductsUseEveryThreadOnWholePanels() {
        // MiniLM's 384→1536 int8 layer at 128 rows: 75 M multiply-adds.
        let split = ColumnSplit(columns: 1536, threads: 2, workPerColumn: 128 * 384, granularity: 16)
        #expect(split.ranges == [0..<768, 768..<1536])
        let ragged = ColumnSplit(columns: 37, threads: 3, workPerColumn: 1_000_000, granularity: 16)
        #expect(ragged.ranges.count == 3)  // three 16-column units: 0..<16, 16..<32, 32..<37
        Self.check(ragged, n: 37, granularity: 16)
    }

    @Test func smallProductsStayOnOneThread() {
        // 384×384 at M = 1: 147 k multiply-adds, less than one thread's minimum.
        #expect(ColumnSplit(columns: 384, threads: 2, workPerColumn: 384).ranges == [0..<384])
        // Just enough for two threads, not for eight.
        let two = ColumnSplit(columns: 100, threads: 8, workPerColumn: 2 * ColumnSplit.minimumWorkPerThread / 100)
        #expect(two.ranges.count == 2)
        Self.check(two, n: 100, granularity: 1)
    }

    @Test(arguments: [1, 2, 3, 5, 8])
    func neverMorePartsThanUnits(threads: Int) {
        for n in [1, 5, 16, 17, 100] {
            let split = ColumnSplit(columns: n, threads: threads, workPerColumn: 10_000_000, granularity: 16)
            #expect(split.ranges.count == min(threads, (n + 15) / 16))
            Self.check(split, n: n, granularity: 16)
        }
    }

    @Test func runCallsTheBodyOncePerRangeWithItsPart() {
        let split = ColumnSplit(columns: 64, threads: 4, workPerColumn: 10_000_000, granularity: 16)
        let seen = Mutex<[Int: Range<Int>]>([:])
        split.run { part, columns in seen.withLock { $0[part] = columns } }
        #expect(seen.withLock { $0 } == [0: 0..<16, 1: 16..<32, 2: 32..<48, 3: 48..<64])
    }
}
