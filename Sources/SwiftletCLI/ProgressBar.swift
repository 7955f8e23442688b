import Foundation

/// A one-line progress bar on standard error, drawn only when that is a terminal (so logs and
/// CI output stay clean).
struct ProgressBar: Sendable {
    static let standardError = ProgressBar(enabled: isatty(STDERR_FILENO) != 0)

    let enabled: Bool

    func update(_ done: Int, _ total: Int, _ label: String = "") {
        guard enabled else { return }
        let width = 30, filled = width * done / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total) \(label)\u{1B}[K".utf8))
    }

    /// Ends the bar's line.
    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
