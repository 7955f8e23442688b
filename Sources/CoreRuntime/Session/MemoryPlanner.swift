/// Places activation buffers in one arena so that buffers whose lifetimes do not overlap share
/// memory. Greedy by size (as in TensorFlow Lite's arena planner): the largest buffer is placed
/// first at offset 0; each next one goes to the lowest offset free during its whole lifetime.
struct MemoryPlanner {
    struct Buffer {
        let size: Int
        /// Step that writes it, and last step that reads it (inclusive).
        let firstStep: Int
        let lastStep: Int
    }

    /// Every buffer starts at a multiple of this (a cache line: also enough for AVX loads).
    static let alignment = 64

    /// Offsets per buffer, and the arena size.
    static func place(_ buffers: [Buffer]) -> (offsets: [Int], arenaBytes: Int) {
        var offsets = [Int](repeating: 0, count: buffers.count)
        var placed: [Int] = []
        var arenaBytes = 0
        let order = buffers.indices.sorted { (buffers[$0].size, $1) > (buffers[$1].size, $0) }
        for index in order {
            let buffer = buffers[index]
            let size = (buffer.size + alignment - 1) / alignment * alignment
            // Intervals already taken by buffers alive at the same time, by offset.
            let conflicts = placed
                .filter { buffers[$0].firstStep <= buffer.lastStep && buffer.firstStep <= buffers[$0].lastStep }
                .map { (start: offsets[$0], end: offsets[$0] + buffers[$0].size) }
                .sorted { $0.start < $1.start }
            var candidate = 0
            for taken in conflicts {
                if candidate + size <= taken.start { break }
                candidate = max(candidate, (taken.end + alignment - 1) / alignment * alignment)
            }
            offsets[index] = candidate
            placed.append(index)
            arenaBytes = max(arenaBytes, candidate + buffer.size)
        }
        return (offsets, arenaBytes)
    }
}
