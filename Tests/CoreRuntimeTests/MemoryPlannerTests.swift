import Testing
@testable import CoreRuntime
import TestSupport

@Suite struct MemoryPlannerTests {
    @Test func buffersAliveTogetherNeverShareBytes() {
        var random = Random(3)
        for _ in 0..<200 {
            let buffers = (0..<random.int(1...12)).map { _ -> MemoryPlanner.Buffer in
                let first = random.int(0...10)
                return MemoryPlanner.Buffer(size: random.int(0...5000), firstStep: first, lastStep: first + random.int(0...5))
            }
            let (offsets, arena) = MemoryPlanner.place(buffers)
            for i in buffers.indices {
                #expect(offsets[i] % MemoryPlanner.alignment == 0)
                #expect(offsets[i] + buffers[i].size <= arena)
                for j in buffers.indices where j > i {
                    let liveTogether = buffers[i].firstStep <= buffers[j].lastStep && buffers[j].firstStep <= buffers[i].lastStep
                    let disjoint = offsets[i] + buffers[i].size <= offsets[j] || offsets[j] + buffers[j].size <= offsets[i]
                    #expect(!liveTogether || disjoint || buffers[i].size == 0 || buffers[j].size == 0)
                }
            }
        }
    }

    @Test func aChainReusesMemory() {
        // x0 → x1 → … → x9: only two neighbours are ever alive at once.
        let buffers = (0..<10).map { MemoryPlanner.Buffer(size: 1024, firstStep: $0, lastStep: $0 + 1) }
        #expect(MemoryPlanner.place(buffers).arenaBytes == 2048)
    }
}
