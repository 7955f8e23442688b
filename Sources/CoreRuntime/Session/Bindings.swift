/// Matching and checking caller buffers against a runnable's declared inputs and outputs. Shared
/// by `Session` and `Ensemble`, so both answer the same mistakes with the same messages.
enum Bindings {
    /// Maps caller entries (named, or positional when the name is nil) to declared indices.
    /// `exact`: every declared entry must be given (inputs); otherwise a subset may be (outputs).
    static func match(_ names: [String?], declared: [String], what: String, exact: Bool) throws -> [Int] {
        if exact ? names.count != declared.count : names.count > declared.count {
            throw SwiftletError.invalidArgument("the model has \(declared.count) \(what)s (\(declared.joined(separator: ", "))), \(names.count) given")
        }
        var taken = Set<Int>()
        return try names.enumerated().map { position, name in
            let index: Int
            if let name {
                guard let found = declared.firstIndex(of: name) else {
                    throw SwiftletError.notFound("the model has no \(what) named '\(name)' (it has \(declared.joined(separator: ", ")))")
                }
                index = found
            } else {
                index = position
            }
            guard taken.insert(index).inserted else {
                throw SwiftletError.invalidArgument("\(what) '\(declared[index])' is given twice")
            }
            return index
        }
    }

    /// Matches and checks the inputs (dtype, byte count, pointer, alignment); returns, per
    /// binding, its declared index, and the shapes in declared order. Shapes themselves are
    /// checked against the declaration when a plan is made for them.
    static func checkInputs(_ inputs: [InputBinding], declared: [ValueInfo]) throws -> (order: [Int], shapes: [[Int]]) {
        let order = try match(inputs.map(\.name), declared: declared.map(\.name), what: "input", exact: true)
        var shapes = [[Int]](repeating: [], count: declared.count)
        for (binding, index) in zip(inputs, order) {
            try check(binding, against: declared[index])
            shapes[index] = binding.shape
        }
        return (order, shapes)
    }

    private static func check(_ binding: InputBinding, against declared: ValueInfo) throws {
        guard binding.dtype == declared.dtype else {
            throw SwiftletError.invalidArgument("input '\(declared.name)' must be \(declared.dtype.rawValue), got \(binding.dtype.rawValue)")
        }
        guard let bytes = Shape.checkedByteCount(binding.shape, elementSize: binding.dtype.byteSize) else {
            throw SwiftletError.invalidArgument("input '\(declared.name)': shape \(binding.shape) is invalid or too large")
        }
        guard binding.byteCount == bytes else {
            throw SwiftletError.invalidArgument("input '\(declared.name)': \(binding.byteCount) bytes given, \(declared.dtype.rawValue)\(binding.shape) is \(bytes) bytes")
        }
        guard binding.data != nil || bytes == 0 else {
            throw SwiftletError.invalidArgument("input '\(declared.name)' has no data pointer")
        }
        if let data = binding.data, Int(bitPattern: data) % binding.dtype.byteSize != 0 {
            throw SwiftletError.invalidArgument("input '\(declared.name)': data must be aligned to \(binding.dtype.byteSize) bytes")
        }
    }

    /// Matches the output buffers to the declared outputs, writes each one's shape, and checks
    /// dtype, pointer and capacity against `types` (per declared output). Returns the declared
    /// index per buffer. Too small anywhere: `bufferTooSmall` listing all, with every shape set.
    static func checkOutputs(_ outputs: inout [OutputBinding], declared: [ValueInfo], types: [TensorType]) throws -> [Int] {
        let order = try match(outputs.map(\.name), declared: declared.map(\.name), what: "output", exact: false)
        var tooSmall: [String] = []
        for (position, index) in order.enumerated() {
            let type = types[index]
            let name = declared[index].name
            guard outputs[position].dtype == type.dtype else {
                throw SwiftletError.invalidArgument("output '\(name)' is \(type.dtype.rawValue), the buffer is for \(outputs[position].dtype.rawValue)")
            }
            outputs[position].shape = type.shape
            if outputs[position].capacity < type.byteCount {
                tooSmall.append("'\(name)' needs \(type.byteCount) bytes for \(type.shape), has \(outputs[position].capacity)")
            } else if outputs[position].data == nil && type.byteCount > 0 {
                throw SwiftletError.invalidArgument("output '\(name)' has no data pointer")
            }
        }
        if !tooSmall.isEmpty {
            throw SwiftletError(.bufferTooSmall, "output buffer too small: " + tooSmall.joined(separator: "; "))
        }
        return order
    }
}
