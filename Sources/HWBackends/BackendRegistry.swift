import CoreRuntime

/// Finds a backend by name. One entry per folder of this module; the simulated targets
/// (SparCE, Systolic, IMC) register here as they arrive.
public enum BackendRegistry {
    public static let names = ["cpu", "reference"]

    public static func make(_ name: String, options: SessionOptions) throws -> any Backend {
        switch name {
        case "cpu": return CPUBackend(threads: options.threads)
        case "reference": return ReferenceBackend()
        default: throw unknown(name)
        }
    }

    static func unknown(_ name: String) -> SwiftletError {
        .notFound("no backend named '\(name)' (available: \(names.joined(separator: ", ")))")
    }
}

extension Session {
    /// The one way every front end (C API, CLI) creates a session: the requested backend, with
    /// the CPU taking whatever it does not support.
    public convenience init(model: Model, options: SessionOptions = SessionOptions()) throws {
        let backend = try BackendRegistry.make(options.backend, options: options)
        let fallback = options.backend == "cpu" ? backend : try BackendRegistry.make("cpu", options: options)
        try self.init(model: model, backend: backend, fallback: fallback, options: options)
    }
}
