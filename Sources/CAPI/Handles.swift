import CoreRuntime

/// What a C handle (`swl_model*`, `swl_session*`, `swl_options*`) points to: a tag saying which
/// kind of object it is, and the retained object. The tag lets every entry point answer
/// "wrong kind of handle" with a status instead of misreading memory; it is cleared on free, so
/// many use-after-free mistakes are caught the same way (best effort: freed memory may be reused).
struct HandleBox {
    var tag: UInt64
    var object: Unmanaged<AnyObject>
}

enum HandleKind: UInt64 {
    case model = 0x4C45_444F_4D4C_5753    // "SWLMODEL"
    case session = 0x4E4F_4953_534C_5753  // "SWLSSION"
    case options = 0x534E_4F49_544F_5753  // "SWOTIONS"

    var label: String {
        switch self {
        case .model: "model"
        case .session: "session"
        case .options: "options"
        }
    }
}

enum Handles {
    static func make(_ object: AnyObject, kind: HandleKind) -> OpaquePointer {
        let box = UnsafeMutablePointer<HandleBox>.allocate(capacity: 1)
        box.initialize(to: HandleBox(tag: kind.rawValue, object: .passRetained(object)))
        return OpaquePointer(box)
    }

    /// The object behind `handle`, or an `invalidArgument` error naming the parameter.
    static func object<T: AnyObject>(_ handle: OpaquePointer?, _ kind: HandleKind, as type: T.Type, parameter: String) throws -> T {
        guard let handle else { throw SwiftletError.invalidArgument("\(parameter) is NULL") }
        let box = UnsafeMutablePointer<HandleBox>(handle)
        guard box.pointee.tag == kind.rawValue, let object = box.pointee.object.takeUnretainedValue() as? T else {
            throw SwiftletError.invalidArgument("\(parameter) is not a live swl_\(kind.label) handle")
        }
        return object
    }

    /// Releases the object; NULL is a no-op, as with free(3).
    static func free(_ handle: OpaquePointer?, _ kind: HandleKind) {
        guard let handle else { return }
        let box = UnsafeMutablePointer<HandleBox>(handle)
        guard box.pointee.tag == kind.rawValue else {
            Log.logger.error("swl_\(kind.label)_free: the argument is not a live swl_\(kind.label) handle; ignored")
            return
        }
        box.pointee.tag = 0
        box.pointee.object.release()
        box.deallocate()
    }
}

/// A session as the C API sees it: a session or an ensemble, plus the C strings
/// `swl_session_io_info` hands out, which live exactly as long as the handle.
final class SessionHandle {
    let session: any Runnable
    let inputNames: [UnsafeMutablePointer<CChar>]
    let outputNames: [UnsafeMutablePointer<CChar>]

    init(_ session: any Runnable) {
        self.session = session
        inputNames = session.inputs.map { strdup($0.name)! }
        outputNames = session.outputs.map { strdup($0.name)! }
    }

    deinit {
        (inputNames + outputNames).forEach { Glibc.free($0) }
    }
}

/// `swl_options` is a mutable builder.
final class OptionsHandle {
    var options = SessionOptions()
}

#if canImport(Glibc)
import Glibc
#endif
