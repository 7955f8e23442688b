/// Every failure Swiftlet reports. `kind` maps one-to-one onto the C API's `swl_status`; the
/// message names the file part, tensor, node or argument at fault.
public struct SwiftletError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidArgument
        case notFound
        case invalidModel
        case bufferTooSmall
        case unsupported
        case backendFailure
        case `internal`
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    public static func invalidArgument(_ message: String) -> SwiftletError { .init(.invalidArgument, message) }
    public static func notFound(_ message: String) -> SwiftletError { .init(.notFound, message) }
    public static func invalidModel(_ message: String) -> SwiftletError { .init(.invalidModel, message) }
    public static func unsupported(_ message: String) -> SwiftletError { .init(.unsupported, message) }
}
