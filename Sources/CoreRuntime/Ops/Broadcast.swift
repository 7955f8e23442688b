/// Walks an output of `shape` in contiguous runs along its innermost (coalesced) axis, giving
/// each run's offsets into the output and two broadcast operands. Adjacent axes that are
/// contiguous in all three are merged first, so same-shape operands become a single run and a
/// bias add becomes one run per row.
struct BroadcastWalk {
    let shape: [Int]
    let aStrides: [Int]
    let bStrides: [Int]

    init(shape: [Int], aShape: [Int], bShape: [Int]) {
        var dims: [(size: Int, a: Int, b: Int)] = []
        let a = Shape.broadcastStrides(aShape, to: shape)
        let b = Shape.broadcastStrides(bShape, to: shape)
        for axis in 0..<shape.count where shape[axis] != 1 {
            let dim = (size: shape[axis], a: a[axis], b: b[axis])
            if let last = dims.last, last.a == dim.a * dim.size, last.b == dim.b * dim.size {
                dims[dims.count - 1] = (size: last.size * dim.size, a: dim.a, b: dim.b)
            } else {
                dims.append(dim)
            }
        }
        if dims.isEmpty { dims = [(size: 1, a: 0, b: 0)] }
        self.shape = dims.map(\.size)
        self.aStrides = dims.map(\.a)
        self.bStrides = dims.map(\.b)
    }

    var runLength: Int { shape.last! }
    var aStep: Int { aStrides.last! }
    var bStep: Int { bStrides.last! }

    /// Calls `body(outputOffset, aOffset, bOffset)` for the start of every run.
    func forEachRun(_ body: (Int, Int, Int) -> Void) {
        let outer = shape.count - 1
        let runs = shape.dropLast().reduce(1, *)
        var index = [Int](repeating: 0, count: max(outer, 0))
        var aOffset = 0, bOffset = 0
        for run in 0..<runs {
            body(run * runLength, aOffset, bOffset)
            // Odometer increment over the outer axes, keeping operand offsets in step.
            var axis = outer - 1
            while axis >= 0 {
                index[axis] += 1
                aOffset += aStrides[axis]
                bOffset += bStrides[axis]
                if index[axis] < shape[axis] { break }
                aOffset -= aStrides[axis] * shape[axis]
                bOffset -= bStrides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
