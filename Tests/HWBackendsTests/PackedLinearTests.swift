@testable import CoreRuntime
@testable import HWBackends
import Testing
import TestSupport

/// A constant linear weight is packed once per model: every session of the model, and every
/// plan (input shape) of each, multiplies by the same panels, and gets the reference backend's
/// answers.
@Suite struct PackedLinearTests {
    @Test func sessionsOfOneModelShareOnePacking() throws {
        var random = Random(11)
        let spec = ModelSpec(
            inputs: [f32("x", [.symbol("rows"), .fixed(40)])],
            outputs: [f32("y", [.symbol("rows"), .fixed(24)])],
            nodes: [("Linear", ["x", "w", "b"], ["y"], [:])],
            tensors: ["w": HostTensor(random.floats(40 * 24), shape: [40, 24]), "b": HostTensor(random.floats(24), shape: [24])])
        let model = try spec.model()
        let inputs = [3, 7].map { rows in ["x": HostTensor(random.floats(rows * 40), shape: [rows, 40])] }
        var reference = SessionOptions()
        try reference.setBackend("reference")
        let expected = try inputs.map { try Session(model: model, options: reference).run($0).outputs["y"]! }
        for threads in [1, 2] {
            var options = SessionOptions()
            options.threads = threads
            let session = try Session(model: model, options: options)
            for (feeds, want) in zip(inputs, expected) {
                let got = try session.run(feeds).outputs["y"]!
                #expect(got.shape == want.shape)
                // fp32 sums of 40 products against the reference's double: 1e-5 of the scale
                // passes them and fails any misplaced column, row or bias.
                let scale = max(1, want.floats.map(abs).max() ?? 0)
                #expect(zip(got.floats, want.floats).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "threads \(threads)")
            }
        }

        // Asking the model's store again finds the panels the sessions made: nothing new is made.
        let constants = ConstantInputs(values: [nil, model.constants["w"]], stores: [nil, model.preparedLayouts], names: ["x", "w"])
        var madeAgain = false
        let packed = constants.layout(of: 1, PackedLinearWeights.layout) { w in
            madeAgain = true
            return PackedLinearWeights(w)
        }
        #expect(packed != nil)
        #expect(!madeAgain)
    }
}
