import CSwiftlet
import CoreRuntime

@_cdecl("swl_model_load_file")
public func swl_model_load_file(_ path: UnsafePointer<CChar>?, _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> swl_status {
    reportingErrors("swl_model_load_file") {
        let out = try prepare(outModel, "out_model")
        let model = try Model(path: try string(path, "path"))
        out.pointee = Handles.make(model, kind: .model)
    }
}

@_cdecl("swl_model_load_memory")
public func swl_model_load_memory(_ data: UnsafeRawPointer?, _ size: Int, _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> swl_status {
    reportingErrors("swl_model_load_memory") {
        let out = try prepare(outModel, "out_model")
        guard data != nil || size == 0 else { throw SwiftletError.invalidArgument("data is NULL but size is \(size)") }
        guard size >= 0 else { throw SwiftletError.invalidArgument("size \(UInt(bitPattern: size)) is implausibly large") }
        let model = try Model(bytes: ModelBytes.copy(of: UnsafeRawBufferPointer(start: data, count: size)))
        out.pointee = Handles.make(model, kind: .model)
    }
}

@_cdecl("swl_model_free")
public func swl_model_free(_ model: OpaquePointer?) { Handles.free(model, .model) }
