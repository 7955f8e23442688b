import CoreRuntime

/// String settings, as the C API's `swl_options_set` and the CLI pass them.
extension SessionOptions {
    public static let settingKeys = ["backend", "threads", "graph.optimize"]

    public mutating func set(_ key: String, _ value: String) throws {
        switch key {
        case "backend": try setBackend(value)
        case "threads":
            guard let count = Int(value) else { throw SwiftletError.invalidArgument("threads must be an integer, got '\(value)'") }
            try setThreads(count)
        case "graph.optimize":
            switch value {
            case "1", "true", "on": optimizeGraph = true
            case "0", "false", "off": optimizeGraph = false
            default: throw SwiftletError.invalidArgument("graph.optimize must be 1 or 0 (or true/false, on/off), got '\(value)'")
            }
        default:
            throw SwiftletError.notFound("unknown option '\(key)' (known: \(Self.settingKeys.joined(separator: ", ")))")
        }
    }

    public mutating func setBackend(_ name: String) throws {
        guard BackendRegistry.names.contains(name) else { throw BackendRegistry.unknown(name) }
        backend = name
    }

    public mutating func setThreads(_ count: Int) throws {
        guard count >= 0 else { throw SwiftletError.invalidArgument("threads must be ≥ 0 (0 = one per core), got \(count)") }
        threads = count
    }
}
