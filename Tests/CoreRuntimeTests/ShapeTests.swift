import Testing
@testable import CoreRuntime
import TestSupport

@Suite struct ShapeTests {
    @Test func byteCountsRejectOverflowAndNegativeDims() {
        #expect(Shape.checkedByteCount([2, 3], elementSize: 4) == 24)
        #expect(Shape.checkedByteCount([], elementSize: 8) == 8)
        #expect(Shape.checkedByteCount([1 << 32, 1 << 32], elementSize: 4) == nil)
        #expect(Shape.checkedByteCount([3, -1]) == nil)
    }

    @Test func broadcastingFollowsNumpy() {
        #expect(Shape.broadcast([2, 1, 4], [3, 1]) == [2, 3, 4])
        #expect(Shape.broadcast([], [5]) == [5])
        #expect(Shape.broadcast([2, 3], [3, 2]) == nil)
        #expect(Shape.broadcastStrides([3, 1], to: [2, 3, 4]) == [0, 1, 0])
    }

    @Test func broadcastWalkVisitsEveryElementOnce() {
        let walk = BroadcastWalk(shape: [2, 3, 4], aShape: [2, 3, 4], bShape: [3, 1])
        var visited: [Int] = []
        walk.forEachRun { o, a, b in
            for i in 0..<walk.runLength {
                visited.append(o + i)
                #expect(a + i * walk.aStep == o + i)
                #expect(b + i * walk.bStep == (o + i) / 4 % 3)
            }
        }
        #expect(visited == Array(0..<24))
    }
}
