import CSwiftlet
import CoreRuntime
import HWBackends

@_cdecl("swl_options_create")
public func swl_options_create(_ outOptions: UnsafeMutablePointer<OpaquePointer?>?) -> swl_status {
    reportingErrors("swl_options_create") {
        try prepare(outOptions, "out_options").pointee = Handles.make(OptionsHandle(), kind: .options)
    }
}

@_cdecl("swl_options_set_backend")
public func swl_options_set_backend(_ options: OpaquePointer?, _ backendName: UnsafePointer<CChar>?) -> swl_status {
    reportingErrors("swl_options_set_backend") {
        let handle = try Handles.object(options, .options, as: OptionsHandle.self, parameter: "options")
        try handle.options.setBackend(try string(backendName, "backend_name"))
    }
}

@_cdecl("swl_options_set_threads")
public func swl_options_set_threads(_ options: OpaquePointer?, _ threads: Int32) -> swl_status {
    reportingErrors("swl_options_set_threads") {
        let handle = try Handles.object(options, .options, as: OptionsHandle.self, parameter: "options")
        try handle.options.setThreads(Int(threads))
    }
}

@_cdecl("swl_options_set")
public func swl_options_set(_ options: OpaquePointer?, _ key: UnsafePointer<CChar>?, _ value: UnsafePointer<CChar>?) -> swl_status {
    reportingErrors("swl_options_set") {
        let handle = try Handles.object(options, .options, as: OptionsHandle.self, parameter: "options")
        try handle.options.set(try string(key, "key"), try string(value, "value"))
    }
}

@_cdecl("swl_options_free")
public func swl_options_free(_ options: OpaquePointer?) { Handles.free(options, .options) }
