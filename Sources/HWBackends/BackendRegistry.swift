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

extension Ensemble {
    /// The one way front ends create an ensemble. Each member is a model and the encoding its
    /// linear layers get in memory before it runs (`.dense`: as stored), so one file can make an
    /// EMPIR ensemble of itself at several precisions. With `options.threads` other than 1 the
    /// members run at once, one thread each; with 1 they run one after another on one thread.
    public convenience init(models: [(model: Model, encoding: LayerEncoding)], combiner: Combiner,
                            options: SessionOptions = SessionOptions()) throws {
        var memberOptions = options
        let parallel = options.threads != 1
        if parallel { memberOptions.threads = 1 }
        let sessions = try models.enumerated().map { index, member in
            do {
                var plan = Compressor.Plan()
                plan.defaultEncoding = member.encoding
                let model = member.encoding == .dense ? member.model
                    : try Compressor.compress(member.model, plan: plan).model(metadata: ["model.compression": "\(member.encoding)"]).model
                return try Session(model: model, options: memberOptions)
            } catch let error as SwiftletError {
                throw SwiftletError(error.kind, "ensemble member \(index): \(error.message)")
            }
        }
        try self.init(members: sessions, combiner: combiner, parallel: parallel)
    }
}
