import CSwiftlet
import CoreRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Per-thread storage for `swl_last_error`: a malloc'd C string, freed when replaced or when
/// the thread exits.
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

private let emptyMessage: StaticString = ""

func setLastError(_ message: String) {
    let previous = pthread_getspecific(lastErrorKey)
    pthread_setspecific(lastErrorKey, strdup(message))
    free(previous)
}

func lastErrorPointer() -> UnsafePointer<CChar> {
    if let message = pthread_getspecific(lastErrorKey) { return UnsafePointer(message.assumingMemoryBound(to: CChar.self)) }
    return UnsafeRawPointer(emptyMessage.utf8Start).assumingMemoryBound(to: CChar.self)
}

extension SwiftletError.Kind {
    var status: swl_status {
        switch self {
        case .invalidArgument: SWL_STATUS_INVALID_ARGUMENT
        case .notFound: SWL_STATUS_NOT_FOUND
        case .invalidModel: SWL_STATUS_INVALID_MODEL
        case .bufferTooSmall: SWL_STATUS_BUFFER_TOO_SMALL
        case .unsupported: SWL_STATUS_UNSUPPORTED
        case .backendFailure: SWL_STATUS_BACKEND_FAILURE
        case .internal: SWL_STATUS_INTERNAL
        }
    }
}

/// Runs the body of a C entry point: errors become a status and this thread's last error.
/// `function` prefixes the message so a log line says which call failed.
func reportingErrors(_ function: String, _ body: () throws -> Void) -> swl_status {
    do {
        try body()
        return SWL_STATUS_OK
    } catch let error as SwiftletError {
        setLastError("\(function): \(error.message)")
        return error.kind.status
    } catch {
        setLastError("\(function): internal error: \(error)")
        return SWL_STATUS_INTERNAL
    }
}

/// Reads a C string argument, failing with a message that names the parameter.
func string(_ pointer: UnsafePointer<CChar>?, _ parameter: String) throws -> String {
    guard let pointer else { throw SwiftletError.invalidArgument("\(parameter) is NULL") }
    return String(cString: pointer)
}

/// Checks an out-parameter and clears it, so it is NULL on every failure path.
func prepare<T>(_ out: UnsafeMutablePointer<T?>?, _ parameter: String) throws -> UnsafeMutablePointer<T?> {
    guard let out else { throw SwiftletError.invalidArgument("\(parameter) is NULL") }
    out.pointee = nil
    return out
}
