import Synchronization

/// A backend's own layouts of constant tensors (the CPU's linear weights packed into panels),
/// each made once and then shared: by every plan of a session, and by every session of a model
/// when the constant is the model's own. Entries live as long as the store.
public final class PreparedLayouts: Sendable {
    /// One key's layout, made under its own lock: a session waits only for the layout it needs,
    /// not while another constant is packed.
    private final class Entry: Sendable {
        let layout = Mutex<(any Sendable & AnyObject)?>(nil)
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// The entry under `key`, made by `make` the first time (two sessions preparing it at once
    /// make it once).
    func value<Layout: Sendable & AnyObject>(_ key: String, make: () -> Layout) -> Layout {
        let entry = entries.withLock { entries in
            if let existing = entries[key] { return existing }
            let created = Entry()
            entries[key] = created
            return created
        }
        return entry.layout.withLock { layout in
            if let existing = layout as? Layout { return existing }
            let made = make()
            layout = made
            return made
        }
    }
}

/// What a backend may know of a node's constant inputs while it prepares a kernel: their values,
/// and where a layout of one it makes is kept (see `PreparedLayouts`).
public struct ConstantInputs: Sendable {
    /// Per node input: its value when it is a constant, else nil.
    public let values: [ConstantTensor?]
    /// Per node input: the store for its layouts — the model's for the model's own constants,
    /// the session's for constants the session's graph passes made.
    let stores: [PreparedLayouts?]
    let names: [String]

    init(values: [ConstantTensor?], stores: [PreparedLayouts?], names: [String]) {
        self.values = values
        self.stores = stores
        self.names = names
    }

    /// None known: what `prepare(_:inputs:outputs:)` sees.
    public static func none(count: Int) -> ConstantInputs {
        ConstantInputs(values: Array(repeating: nil, count: count), stores: Array(repeating: nil, count: count),
                       names: Array(repeating: "", count: count))
    }

    /// What a kernel run as part of this node knows of its inputs: entry i is this node's input
    /// indices[i], or none where that is nil (a value the node computes inside itself).
    public func selecting(_ indices: [Int?]) -> ConstantInputs {
        ConstantInputs(values: values.picking(indices, absent: nil), stores: stores.picking(indices, absent: nil),
                       names: names.picking(indices, absent: ""))
    }

    /// Input `index`'s layout called `layout`, made from its value by `make` once per store; nil
    /// when the input is not a constant.
    public func layout<Layout: Sendable & AnyObject>(of index: Int, _ layout: String,
                                                    make: (ConstantTensor) -> Layout) -> Layout? {
        guard index < values.count, let value = values[index], let store = stores[index] else { return nil }
        // The shape is part of the key: a session's passes may view a model constant under another.
        return store.value("\(layout)/\(names[index])/\(value.type.shape)") { make(value) }
    }
}
