import CSwiftlet
import CoreRuntime
import HWBackends
import Logging
#if canImport(Glibc)
import Glibc
#endif

// Library-wide functions of include/swiftlet.h. Static strings are StaticStrings: their bytes
// live in the binary, NUL-terminated, for the process's lifetime.

private let version: StaticString = "1.0.0"

/// Backend names as C strings, made once from the registry and kept for the process's lifetime.
private struct StaticCStrings: @unchecked Sendable {
    let pointers: [UnsafePointer<CChar>]
    init(_ strings: [String]) { pointers = strings.map { UnsafePointer(strdup($0)!) } }
}
private let backendNames = StaticCStrings(BackendRegistry.names)

@_cdecl("swl_version")
public func swl_version() -> UnsafePointer<CChar> {
    UnsafeRawPointer(version.utf8Start).assumingMemoryBound(to: CChar.self)
}

@_cdecl("swl_abi_version")
public func swl_abi_version() -> UInt32 { UInt32(SWL_ABI_VERSION) }

@_cdecl("swl_last_error")
public func swl_last_error() -> UnsafePointer<CChar> { lastErrorPointer() }

@_cdecl("swl_status_name")
public func swl_status_name(_ status: swl_status) -> UnsafePointer<CChar> {
    let name: StaticString = switch status {
    case SWL_STATUS_OK: "SWL_STATUS_OK"
    case SWL_STATUS_INVALID_ARGUMENT: "SWL_STATUS_INVALID_ARGUMENT"
    case SWL_STATUS_NOT_FOUND: "SWL_STATUS_NOT_FOUND"
    case SWL_STATUS_INVALID_MODEL: "SWL_STATUS_INVALID_MODEL"
    case SWL_STATUS_BUFFER_TOO_SMALL: "SWL_STATUS_BUFFER_TOO_SMALL"
    case SWL_STATUS_UNSUPPORTED: "SWL_STATUS_UNSUPPORTED"
    case SWL_STATUS_BACKEND_FAILURE: "SWL_STATUS_BACKEND_FAILURE"
    case SWL_STATUS_INTERNAL: "SWL_STATUS_INTERNAL"
    default: "SWL_STATUS_UNKNOWN"
    }
    return UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// The callback and its user data, carried into the log sink. The C contract makes the caller
/// responsible for the callback being thread-safe and user_data staying valid.
private struct CallbackTarget: @unchecked Sendable {
    let function: swl_log_fn
    let userData: UnsafeMutableRawPointer?
}

@_cdecl("swl_set_log_callback")
public func swl_set_log_callback(_ fn: swl_log_fn?, _ userData: UnsafeMutableRawPointer?, _ minLevel: swl_log_level) {
    guard let fn else {
        Log.setSink(minimum: .warning, nil)
        return
    }
    let minimum: Logger.Level = switch minLevel {
    case SWL_LOG_LEVEL_DEBUG: .trace
    case SWL_LOG_LEVEL_INFO: .info
    case SWL_LOG_LEVEL_WARN: .warning
    default: .error
    }
    let target = CallbackTarget(function: fn, userData: userData)
    Log.setSink(minimum: minimum) { level, message in
        let cLevel: swl_log_level = switch level {
        case .trace, .debug: SWL_LOG_LEVEL_DEBUG
        case .info, .notice: SWL_LOG_LEVEL_INFO
        case .warning: SWL_LOG_LEVEL_WARN
        case .error, .critical: SWL_LOG_LEVEL_ERROR
        }
        message.withCString { target.function(cLevel, $0, target.userData) }
    }
}

@_cdecl("swl_backend_count")
public func swl_backend_count() -> Int32 { Int32(backendNames.pointers.count) }

@_cdecl("swl_backend_name")
public func swl_backend_name(_ index: Int32) -> UnsafePointer<CChar>? {
    guard index >= 0, Int(index) < backendNames.pointers.count else { return nil }
    return backendNames.pointers[Int(index)]
}
