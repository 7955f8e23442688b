import Logging
import Synchronization

/// Swiftlet's logger. Messages go to one process-wide sink (stderr at `.warning` and above by
/// default); the C API's `swl_set_log_callback` replaces it. Built with a factory rather than
/// `LoggingSystem.bootstrap`, so a host that bootstraps swift-log itself is not disturbed.
public enum Log {
    public typealias Sink = @Sendable (Logger.Level, String) -> Void

    private static let sink = Mutex<(minimum: Logger.Level, write: Sink)>((.warning, Log.standardError))

    public static let logger = Logger(label: "swiftlet") { _ in SinkHandler() }

    /// Replaces the sink; nil restores stderr at `.warning`.
    public static func setSink(minimum: Logger.Level, _ write: Sink?) {
        sink.withLock { $0 = write.map { (minimum, $0) } ?? (.warning, Log.standardError) }
    }

    @Sendable static func standardError(_ level: Logger.Level, _ message: String) {
        var stream = StandardErrorStream()
        print("swiftlet [\(level)]: \(message)", to: &stream)
    }

    fileprivate static func emit(_ level: Logger.Level, _ message: String) {
        let current = sink.withLock { $0 }
        if level >= current.minimum { current.write(level, message) }
    }

    private struct SinkHandler: LogHandler {
        var metadata: Logger.Metadata = [:]
        // Filtering happens at the sink, which can change while this handler lives.
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { Log.emit(event.level, "\(event.message)") }
    }
}

struct StandardErrorStream: TextOutputStream {
    mutating func write(_ string: String) {
        // File descriptor 2 directly: the C `stderr` FILE* is shared mutable state to Swift 6.
        var text = string
        text.withUTF8 { bytes in _ = Glibc.write(2, bytes.baseAddress, bytes.count) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
