/// One dimension of a declared graph input or output: a fixed size or a named dynamic one.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case symbol(String)

    public var description: String {
        switch self {
        case .fixed(let size): String(size)
        case .symbol(let name): name
        }
    }
}

/// A declared graph input or output.
public struct ValueInfo: Hashable, Sendable {
    public var name: String
    public var dtype: DType
    public var dims: [Dim]

    public init(name: String, dtype: DType, dims: [Dim]) {
        self.name = name
        self.dtype = dtype
        self.dims = dims
    }

    /// The shape with -1 for dynamic dims (as the C API reports it).
    public var shapeWithDynamicAsMinusOne: [Int] {
        dims.map { if case .fixed(let size) = $0 { size } else { -1 } }
    }

    /// Checks `shape` against the declaration, binding symbols into `bindings` so one symbol means
    /// one size across all inputs and outputs of a run. Returns a problem description or nil.
    public func mismatch(_ shape: [Int], bindings: inout [String: Int]) -> String? {
        guard shape.count == dims.count else {
            return "'\(name)' has rank \(shape.count), expected \(dims.count) (shape \(dims))"
        }
        for (axis, (dim, size)) in zip(dims, shape).enumerated() {
            switch dim {
            case .fixed(let expected) where expected != size:
                return "'\(name)' has size \(size) in dim \(axis), expected \(expected) (shape \(dims))"
            case .symbol(let symbol):
                if let bound = bindings[symbol], bound != size {
                    return "'\(name)' has size \(size) in dim \(axis) ('\(symbol)'), but '\(symbol)' is \(bound) elsewhere in this run"
                }
                bindings[symbol] = size
            default:
                break
            }
        }
        return nil
    }
}
