/// A concrete tensor type: element type and shape (row-major). Shapes of activations are known
/// only once a run's input shapes are; `TensorType` is what shape inference produces.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: [Int]

    public init(_ dtype: DType, _ shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }

    public var rank: Int { shape.count }
    /// Element count; shapes reaching a `TensorType` were checked with `Shape.checkedCount`.
    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { count * dtype.byteSize }
    public var description: String { "\(dtype.rawValue)\(shape)" }
}

/// Shape arithmetic shared by the file validator, shape inference and kernels.
public enum Shape {
    /// Elements in `shape` times `elementSize`, or nil when a dim is negative or the product
    /// overflows: file headers and callers can send any integers.
    public static func checkedByteCount(_ shape: [Int], elementSize: Int = 1) -> Int? {
        var total = elementSize
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dim)
            if overflow { return nil }
            total = product
        }
        return total
    }

    /// Every dim of every tensor is at most this (OpenBLAS takes 32-bit sizes, too).
    public static let maxDim = Int(Int32.max)
    /// The product of max(dim, 1) over a shape is at most this. A tensor with a zero dim holds
    /// nothing, but its other dims still enter shape arithmetic and loops: bounding them keeps
    /// every product of dims (with attributes below 2³¹) far from overflow.
    public static let maxExtent = 1 << 48

    /// Why `shape` is out of bounds, or nil when it is within them.
    public static func boundsProblem(_ shape: [Int]) -> String? {
        guard shape.allSatisfy({ $0 >= 0 && $0 <= maxDim }) else {
            return "shape \(shape) has a dim outside 0...\(maxDim)"
        }
        var extent = 1
        for dim in shape {
            let (product, overflow) = extent.multipliedReportingOverflow(by: max(dim, 1))
            guard !overflow, product <= maxExtent else { return "shape \(shape) is too large" }
            extent = product
        }
        return nil
    }

    /// A product that saturates at Int.max instead of trapping (cost estimates such as FLOPs).
    public static func saturatingProduct(_ factors: Int...) -> Int {
        var result = 1
        for factor in factors {
            let (product, overflow) = result.multipliedReportingOverflow(by: factor)
            if overflow { return Int.max }
            result = product
        }
        return result
    }

    /// Row-major strides in elements.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// numpy broadcasting of two shapes.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            guard da == db || da == 1 || db == 1 else { return nil }
            result[i] = da == 1 ? db : da
        }
        return result
    }

    /// Strides (in elements) that read a tensor of `shape` as if it had `target`'s shape:
    /// 0 along broadcast dims. `shape` must broadcast to `target`.
    public static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let offset = target.count - shape.count
        return (0..<target.count).map { axis in
            axis < offset || shape[axis - offset] == 1 ? 0 : own[axis - offset]
        }
    }

    /// Normalizes an axis in [-rank, rank) — or [-rank, rank] when `inclusiveEnd` (Flatten) —
    /// to a non-negative one; nil when out of range.
    public static func axis(_ axis: Int, rank: Int, inclusiveEnd: Bool = false) -> Int? {
        let normalized = axis < 0 ? axis + rank : axis
        return normalized >= 0 && (normalized < rank || (inclusiveEnd && normalized == rank)) ? normalized : nil
    }
}
