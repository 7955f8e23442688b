/// A node's attributes, read with the op's defaults. Every read checks the JSON type, so a
/// malformed attribute is an `invalidModel` error that names the node and the attribute.
public struct Attributes: Sendable, Equatable {
    public private(set) var values: [String: JSONValue]
    let nodeName: String

    public init(_ values: [String: JSONValue], nodeName: String) {
        self.values = values
        self.nodeName = nodeName
    }

    public func error(_ attribute: String, _ problem: String) -> SwiftletError {
        .invalidModel("node '\(nodeName)': attribute '\(attribute)' \(problem)")
    }

    /// Rejects attributes the op does not define: ignoring one (say, a pooling `dilations`)
    /// would silently compute something else.
    public func allowOnly(_ names: Set<String>, op: String) throws {
        if let unknown = values.keys.sorted().first(where: { !names.contains($0) }) {
            throw SwiftletError.invalidModel("node '\(nodeName)': \(op) has no attribute '\(unknown)'")
        }
    }

    public func int(_ name: String, default fallback: Int) throws -> Int {
        guard let value = values[name] else { return fallback }
        guard let int = value.int else { throw error(name, "must be an integer") }
        return int
    }

    public func requiredInt(_ name: String) throws -> Int {
        guard values[name] != nil else { throw error(name, "is required") }
        return try int(name, default: 0)
    }

    public func float(_ name: String, default fallback: Float) throws -> Float {
        guard let value = values[name] else { return fallback }
        if let text = value.string {  // JSON has no literal for infinities
            switch text {
            case "Infinity", "inf": return .infinity
            case "-Infinity", "-inf": return -.infinity
            default: throw error(name, "must be a number")
            }
        }
        guard let double = value.double, !double.isNaN else { throw error(name, "must be a number") }
        return Float(double)
    }

    public func string(_ name: String, default fallback: String) throws -> String {
        guard let value = values[name] else { return fallback }
        guard let text = value.string else { throw error(name, "must be a string") }
        return text
    }

    public func ints(_ name: String) throws -> [Int]? {
        guard let value = values[name] else { return nil }
        guard let items = value.array else { throw error(name, "must be a list of integers") }
        return try items.map {
            guard let int = $0.int else { throw error(name, "must be a list of integers") }
            return int
        }
    }

    public func ints(_ name: String, count: Int, default fallback: [Int]) throws -> [Int] {
        guard let list = try ints(name) else { return fallback }
        guard list.count == count else { throw error(name, "must have \(count) entries, has \(list.count)") }
        return list
    }

    /// Sizes (strides, pads, dilations, kernel extents) must lie in `range`. The upper bound keeps
    /// shape arithmetic far from overflow: no real window, stride or pad comes near 2³¹.
    public func sizes(_ name: String, count: Int, default fallback: [Int], in range: ClosedRange<Int>) throws -> [Int] {
        let list = try ints(name, count: count, default: fallback)
        guard list.allSatisfy(range.contains) else {
            throw error(name, "entries must be in \(range.lowerBound)...\(range.upperBound), got \(list)")
        }
        return list
    }

    /// The largest size `sizes` accepts.
    public static let maxSize = Int(Int32.max)

    public mutating func set(_ name: String, _ value: JSONValue) { values[name] = value }
}
