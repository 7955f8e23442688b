import CKernels
import Dispatch

/// How every CPU kernel uses the session's threads: each thread takes one contiguous range of
/// output columns (or planes, or (batch, head) pairs) — disjoint writes, shared read-only inputs,
/// no locks; OpenBLAS runs single-threaded inside each range (CPUBackend says why). Small
/// products stay on the calling thread: handing work to another core costs microseconds, more
/// than a small product takes. Products with fewer than 2 × `granularity` columns therefore run
/// on one thread whatever their rows (a known limit: such shapes are rare in the models we run).
struct ColumnSplit {
    /// A thread must get at least this many multiply-adds for the split to pay.
    static let minimumWorkPerThread = 250_000

    let ranges: [Range<Int>]

    /// Columns 0..<n in at most `threads` ranges, each a multiple of `granularity` columns
    /// (except the last), sized so every thread gets `minimumWorkPerThread` of `workPerColumn`.
    init(columns n: Int, threads: Int, workPerColumn: Int, granularity: Int = 1) {
        let units = (n + granularity - 1) / granularity
        let affordable = workPerColumn > 0 ? n * workPerColumn / Self.minimumWorkPerThread : 0
        let parts = max(1, min(threads, units, affordable))
        ranges = (0..<parts).map { part in
            let lower = units * part / parts * granularity, upper = min(units * (part + 1) / parts * granularity, n)
            return lower..<upper
        }
    }

    /// `body(part, columns)` once per range, on `ranges.count` threads (the caller's among them);
    /// returns when all are done. `part` (0..<ranges.count) picks the thread's own scratch.
    /// The threads are CKernels' pool (thread_pool.c: its workers stay awake between the kernels
    /// of a run); while the pool serves another call (another session's, or a split inside a
    /// split), Dispatch's threads run the parts instead.
    func run(_ body: (_ part: Int, _ columns: Range<Int>) -> Void) {
        if ranges.count == 1 { return body(0, ranges[0]) }
        withoutActuallyEscaping(body) { body in
            var job = SharedKernelBody(call: body, ranges: ranges)
            let pooled = withUnsafeMutablePointer(to: &job) { job in
                swk_pool_run(Int32(ranges.count), { context, part in
                    let job = context!.assumingMemoryBound(to: SharedKernelBody.self)
                    job.pointee.call(Int(part), job.pointee.ranges[Int(part)])
                }, job) != 0
            }
            if !pooled {
                let shared = job
                DispatchQueue.concurrentPerform(iterations: ranges.count) { shared.call($0, shared.ranges[$0]) }
            }
        }
    }
}

/// A kernel call over raw pointers and its ranges, handed to the split's threads. `@unchecked
/// Sendable` because the compiler cannot see what makes it safe: each thread writes only its own
/// output columns and the inputs are not written while the kernel runs.
private struct SharedKernelBody: @unchecked Sendable {
    let call: (Int, Range<Int>) -> Void
    let ranges: [Range<Int>]
}
