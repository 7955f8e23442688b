import CKernels
@testable import CoreRuntime
@testable import HWBackends
import Testing
import TestSupport

/// Which CPU kernel a convolution with a constant W takes, seen through the layout its W was
/// packed in (the Winograd and the direct kernels each keep their own in the model's store). The
/// numeric tests in python/tests compare outputs only, which any path would pass; these pin the
/// shapes BLASKernels.takesWinograd and takesDirect were measured on, and check each answer
/// against the reference backend.
@Suite struct ConvKernelChoiceTests {
    /// y = Conv(x, W) with W [outChannels, channels, kernel, kernel] a constant, `pads` on every side.
    static func convModel(_ random: inout Random, channels: Int, outChannels: Int, height: Int, width: Int, kernel: Int,
                          pads: Int, stride: Int = 1, group: Int = 1) throws -> (Model, [Int]) {
        let outH = (height + 2 * pads - kernel) / stride + 1, outW = (width + 2 * pads - kernel) / stride + 1
        let wShape = [outChannels, channels / group, kernel, kernel]
        let model = try ModelSpec(
            inputs: [f32("x", [.fixed(1), .fixed(channels), .fixed(height), .fixed(width)])],
            outputs: [f32("y", [.fixed(1), .fixed(outChannels), .fixed(outH), .fixed(outW)])],
            nodes: [("Conv", ["x", "w"], ["y"], ["pads": .array(Array(repeating: .int(pads), count: 4)), "group": .int(group),
                                                 "strides": .array([.int(stride), .int(stride)])])],
            tensors: ["w": HostTensor(random.floats(wShape.reduce(1, *)), shape: wShape)]
        ).model()
        return (model, wShape)
    }

    /// Whether the model's store held W packed for `scheme` before this look (which packs it if not).
    static func packed(_ model: Model, _ scheme: PackedConvWeights.Scheme, group: Int = 1, constant: String = "w") -> Bool {
        model.heldLayout(PackedConvWeights.layout(scheme, group: group), of: constant) {
            PackedConvWeights($0, group: group, scheme: scheme)
        }
    }

    /// Runs the model on the CPU backend (two threads) and checks y against the reference backend:
    /// sums of up to 64·9 products in fp32 against double, 1e-4 of y's scale.
    static func runAndCheck(_ model: Model, _ random: inout Random, _ xShape: [Int]) throws {
        let feeds = ["x": HostTensor(random.floats(xShape.reduce(1, *)), shape: xShape)]
        var options = SessionOptions()
        options.threads = 2
        let got = try Session(model: model, options: options).run(feeds).outputs["y"]!
        var reference = SessionOptions()
        try reference.setBackend("reference")
        let want = try Session(model: model, options: reference).run(feeds).outputs["y"]!
        let scale = max(1, want.floats.map(abs).max() ?? 0)
        #expect(got.shape == want.shape)
        #expect(zip(got.floats, want.floats).allSatisfy { abs($0 - $1) <= 1e-4 * scale })
    }

    /// A 1×1 expansion into `expanded` channels and a 3×3 depthwise layer as one ExpandDepthwiseConv
    /// node on a side × side plane, both weights constant.
    static func expandDepthwiseModel(_ random: inout Random, channels: Int, expanded: Int, side: Int) throws -> Model {
        try ModelSpec(
            inputs: [f32("x", [.fixed(1), .fixed(channels), .fixed(side), .fixed(side)])],
            outputs: [f32("y", [.fixed(1), .fixed(expanded), .fixed(side), .fixed(side)])],
            nodes: [("ExpandDepthwiseConv", ["x", "w1", "w2"], ["y"],
                     ["group": .int(expanded), "pads": .array(Array(repeating: .int(1), count: 4)),
                      "expansion_clip_min": .double(0), "expansion_clip_max": .double(6)])],
            tensors: ["w1": HostTensor(random.floats(expanded * channels), shape: [expanded, channels, 1, 1]),
                      "w2": HostTensor(random.floats(expanded * 9), shape: [expanded, 1, 3, 3])]
        ).model()
    }

    /// Up to 28×28 with AVX2 and 16k expanded channels: expand_depthwise.c, whose expansion reads W1
    /// packed in the direct tiles' panels. Past 28×28, or 24 channels: the expansion's own kernel,
    /// here the pointwise tiles, which read W1 as it is.
    @Test(arguments: [(14, 32, true), (28, 16, true), (29, 16, false), (14, 24, false)])
    func expandDepthwiseTakesTheFusedKernelOnSmallPlanes(side: Int, expanded: Int, fused: Bool) throws {
        var random = Random(24)
        let model = try Self.expandDepthwiseModel(&random, channels: 8, expanded: expanded, side: side)
        try Self.runAndCheck(model, &random, [1, 8, side, side])
        #expect(Self.packed(model, .direct, constant: "w1") == (fused && swk_has_avx2() != 0))
    }

    @Test func resnetShaped3x3TakesWinograd() throws {
        var random = Random(21)
        let (model, _) = try Self.convModel(&random, channels: 64, outChannels: 64, height: 9, width: 11, kernel: 3, pads: 1)
        try Self.runAndCheck(model, &random, [1, 64, 9, 11])
        #expect(Self.packed(model, .winograd))
        #expect(!Self.packed(model, .direct))
    }

    /// Fewer than 64 channels, two groups, or an output plane under 7×7: the direct tiles.
    @Test(arguments: [(32, 64, 9, 1), (64, 64, 9, 2), (64, 64, 6, 1)])
    func other3x3TakeTheDirectTiles(channels: Int, outChannels: Int, side: Int, group: Int) throws {
        var random = Random(22)
        let (model, _) = try Self.convModel(&random, channels: channels, outChannels: outChannels, height: side, width: side,
                                            kernel: 3, pads: 0, group: group)
        try Self.runAndCheck(model, &random, [1, channels, side, side])
        #expect(Self.packed(model, .direct, group: group))
        #expect(!Self.packed(model, .winograd, group: group))
    }

    /// A plane so large that one image's transformed input would pass the scratch cap
    /// (`convolutionScratchFloats`): the direct tiles, whose padded copy is a quarter of that.
    /// Planned only (which prepares the kernels): a run would take half a billion multiply-adds.
    @Test(arguments: [(64, false), (66, true)])
    func planeWhoseTransformPassesTheScratchCapTakesTheDirectTiles(side: Int, passesTheCap: Bool) throws {
        var random = Random(23)
        // 256 channels: 65,536 floats a panel of 16 tiles, so 64 panels (1024 tiles, 64×64
        // outputs) fill the cap exactly; 66×66 outputs make 1089 tiles in 69 panels.
        let (model, _) = try Self.convModel(&random, channels: 256, outChannels: 64, height: side, width: side, kernel: 3,
                                            pads: 1)
        _ = try Session(model: model, options: SessionOptions()).outputTypes(inputShapes: [[1, 256, side, side]])
        #expect(Self.packed(model, .direct) == passesTheCap)
        #expect(Self.packed(model, .winograd) == !passesTheCap)
    }

    /// 1×1 stride 1 on a 7×7 plane with more input channels than the pointwise tiles take: the
    /// direct tiles; the same on a 28×28 plane keeps sgemm, which packs nothing.
    @Test(arguments: [(7, true), (28, false)])
    func pointwiseShapesPastThePointwiseTiles(side: Int, direct: Bool) throws {
        var random = Random(24)
        let (model, _) = try Self.convModel(&random, channels: 256, outChannels: 40, height: side, width: side, kernel: 1, pads: 0)
        try Self.runAndCheck(model, &random, [1, 256, side, side])
        #expect(Self.packed(model, .direct) == direct)
    }

    /// 1×1 stride 2 onto a 7×7 plane: the direct tiles; onto a 28×28 plane it keeps its path (on
    /// these two threads the panels, which pack nothing into the store).
    @Test(arguments: [(14, true), (56, false)])
    func strided1x1OntoSmallPlanesTakeTheDirectTiles(side: Int, direct: Bool) throws {
        var random = Random(25)
        let (model, _) = try Self.convModel(&random, channels: 128, outChannels: 64, height: side, width: side, kernel: 1, pads: 0,
                                            stride: 2)
        try Self.runAndCheck(model, &random, [1, 128, side, side])
        #expect(Self.packed(model, .direct) == direct)
    }

    /// MobileNetV2's stem, 3 channels × 3×3 at stride 2 (27 terms a sum): the direct tiles; with
    /// 2 channels (18 terms) it keeps its path.
    @Test(arguments: [(3, true), (2, false)])
    func stemShapedTakeTheDirectTilesFrom27Terms(channels: Int, direct: Bool) throws {
        var random = Random(26)
        let (model, _) = try Self.convModel(&random, channels: channels, outChannels: 32, height: 23, width: 23, kernel: 3,
                                            pads: 1, stride: 2)
        try Self.runAndCheck(model, &random, [1, channels, 23, 23])
        #expect(Self.packed(model, .direct) == direct)
    }
}
