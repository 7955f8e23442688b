import CKernels
import CoreRuntime

extension BLASKernels {
    /// Whether a convolution that `winogradConv` and `directConv` leave (1×1 strided or padded
    /// ones onto more than 196 positions or of several groups, short reductions, a W known only
    /// at run time) takes `panelConv` rather than
    /// im2col + sgemm: one that needs unfolding (1×1 stride-1 unpadded ones multiply the input in place instead),
    /// with at least 32 output channels per group, whose panels split over two or more threads
    /// or whose plane has `panelsAlonePositions` outputs. Measured in ResNet-18 (`swiftlet bench … --profile`,
    /// each layer on the panels against im2col + sgemm; docs/BENCHMARKS.md, tenth measurement): on
    /// two threads every layer ran as fast or faster on the panels (the stem 2.4 against 3.4 ms,
    /// the layers on 7×7 planes 2.5 against 2.7), since each thread's sgemm copied all of W; on
    /// one thread the 112×112 stem (4.0 against 4.8 ms) and the 56×56 layers (3.5 against 3.7)
    /// did, while 28×28 and smaller ran 3–9% slower, where sgemm's packed copy of W serves few
    /// positions well. Fewer output channels leave the 6-row tiles idle: they go to the small-plane
    /// kernel where an image unfolds whole into its scratch (the digits CNN's 8 and 16), else to
    /// one sgemm over a chunk of images. No input channels (reduction 0):
    /// sgemm's path writes the clamped bias.
    static func takesPanels(_ g: ConvOp.Geometry, threads: Int) throws -> Bool {
        guard !isPointwise(g), g.outChannelsPerGroup >= 32, g.reduction > 0 else { return false }
        if g.outH * g.outW >= panelsAlonePositions { return true }
        return try panelSplit(g, threads: threads).split.ranges.count > 1
    }

    /// Output positions from which a single thread takes the panels (between 28×28 and 56×56).
    static let panelsAlonePositions = 2048

    /// The panels of one (image, group) and how the threads split all of them, laid end to end.
    private static func panelSplit(_ g: ConvOp.Geometry, threads: Int) throws -> (panels: Int, split: ColumnSplit) {
        let panels = withUnsafePointer(to: try g.planeGeometry()) { Int(swk_conv_panel_count($0)) }
        let units = g.batch * g.group * panels
        return (panels, ColumnSplit(columns: units, threads: threads, workPerColumn: 16 * g.outChannelsPerGroup * g.reduction))
    }

    /// A convolution on unfolded panels in CKernels (conv_panels.c): per image and group, the
    /// input is unfolded 16 output positions at a time into the thread's scratch and multiplied
    /// by W read in place, bias, the residual with `addsResidual`, and clamp in the tiles'
    /// epilogue. The threads split the panels of every (image, group) laid end to end, so a batch
    /// of small planes still spreads over them.
    static func panelConv(_ op: ConvOp, _ g: ConvOp.Geometry, threads: Int, addsResidual: Bool) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        let (mg, cg) = (g.outChannelsPerGroup, g.inChannelsPerGroup)
        let (panels, split) = try panelSplit(g, threads: threads)
        guard panels > 0, g.batch * g.group > 0, mg > 0 else { return PreparedKernel { _ in } }
        // One call covers at most one (image, group)'s panels and at most a thread's range.
        let longestCall = min(panels, split.ranges.map(\.count).max() ?? 0)
        let scratchFloats = withUnsafePointer(to: geometry) {
            Int(swk_conv_panels_scratch_floats($0, Int64(cg), Int64(longestCall)))
        }
        // Whole multiples of 16 floats keep every thread's scratch 64-byte aligned.
        let scratchStride = (scratchFloats + 15) / 16 * 16
        let (inPlane, outPlane, clamp) = (g.height * g.width, g.outH * g.outW, op.clamp)
        return PreparedKernel(scratchBytes: split.ranges.count * scratchStride * MemoryLayout<Float>.size) { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let scratch = args.scratch!.assumingMemoryBound(to: Float.self)
            split.run { part, units in
                g.forEachImageAndGroup(in: units, unitsEach: panels) { image, group, range in
                    let output = (image * g.outChannels + group * mg) * outPlane
                    withUnsafePointer(to: geometry) { geometry in
                        swk_conv_panels(geometry, x + (image * g.inChannels + group * cg) * inPlane, Int64(cg),
                                        w + group * mg * g.reduction, Int64(mg), Int64(range.lowerBound), Int64(range.upperBound),
                                        bias.map { $0 + group * mg }, z.map { $0 + output }, clamp.min, clamp.max,
                                        scratch + part * scratchStride, y + output)
                    }
                }
            }
        }
    }
}
