@testable import CoreRuntime

extension Model {
    /// Whether the model's store already held `layout` of `constant` (a node's input 1, as the CPU
    /// backend asks for it), which tells which kernel prepared the node. Looking makes the
    /// layout with `make` if it was not there.
    func heldLayout<Layout: Sendable & AnyObject>(_ layout: String, of constant: String = "w",
                                                 make: (ConstantTensor) -> Layout) -> Bool {
        let constants = ConstantInputs(values: [nil, constants[constant]], stores: [nil, preparedLayouts], names: ["x", constant])
        var madeNow = false
        let value = constants.layout(of: 1, layout) { w in
            madeNow = true
            return make(w)
        }
        return value != nil && !madeNow
    }
}
