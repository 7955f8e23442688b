@testable import CoreRuntime
@testable import HWBackends
import Testing
import TestSupport

/// A constant linear weight is packed once per model: every session of the model, and every
/// plan (input shape) of each, multiplies by the same panels, and gets the reference backend's
/// answers.
@Suite struct PackedLinearTests {
    /// Y [rows, 24] = X [rows, 40] · W + b, W and b constants of the model.
    static func linearModel(_ random: inout Random) throws -> Model {
        try ModelSpec(
            inputs: [f32("x", [.symbol("rows"), .fixed(40)])],
            outputs: [f32("y", [.symbol("rows"), .fixed(24)])],
            nodes: [("Linear", ["x", "w", "b"], ["y"], [:])],
            tensors: ["w": HostTensor(random.floats(40 * 24), shape: [40, 24]), "b": HostTensor(random.floats(24), shape: [24])]
        ).model()
    }

    /// Whether the model's store already holds W's panels (looking makes them if not).
    static func panelsWereMade(_ model: Model) -> Bool {
        model.heldLayout(PackedLinearWeights.layout(transposed: false)) { PackedLinearWeights($0) }
    }

    /// The reference backend's y for these inputs.
    static func reference(_ model: Model, _ feeds: [String: HostTensor]) throws -> HostTensor {
        var options = SessionOptions()
        try options.setBackend("reference")
        return try Session(model: model, options: options).run(feeds).outputs["y"]!
    }

    /// fp32 sums of 40 products against the reference's double: 1e-5 of the scale passes them
    /// and fails any misplaced column, row or bias.
    static func agree(_ got: HostTensor, _ want: HostTensor) -> Bool {
        let scale = max(1, want.floats.map(abs).max() ?? 0)
        return got.shape == want.shape && zip(got.floats, want.floats).allSatisfy { abs($0 - $1) <= 1e-5 * scale }
    }

    @Test func sessionsOfOneModelShareOnePacking() throws {
        var random = Random(11)
        let model = try Self.linearModel(&random)
        let inputs = [3, 7].map { rows in ["x": HostTensor(random.floats(rows * 40), shape: [rows, 40])] }
        let expected = try inputs.map { try Self.reference(model, $0) }
        for threads in [1, 2] {
            var options = SessionOptions()
            options.threads = threads
            let session = try Session(model: model, options: options)
            for (feeds, want) in zip(inputs, expected) {
                #expect(Self.agree(try session.run(feeds).outputs["y"]!, want), "threads \(threads)")
            }
        }

        // Asking the model's store again finds the panels the sessions made: nothing new is made.
        #expect(Self.panelsWereMade(model))
    }

    /// From `packedRowsLimit` rows on, the layer takes sgemm on the model's own W and packs nothing.
    @Test func manyRowsTakeSgemmAndPackNothing() throws {
        var random = Random(12)
        let model = try Self.linearModel(&random)
        let rows = BLASKernels.packedRowsLimit
        let feeds = ["x": HostTensor(random.floats(rows * 40), shape: [rows, 40])]
        let got = try Session(model: model, options: SessionOptions()).run(feeds).outputs["y"]!
        #expect(Self.agree(got, try Self.reference(model, feeds)))
        #expect(!Self.panelsWereMade(model))
    }
}
