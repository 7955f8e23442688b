import CKernels
import CoreRuntime

extension BLASKernels {
    /// Whether a convolution takes `directConv`: a constant f32 W (packed once), a kernel larger
    /// than 1×1 (3×3 stride-1 ones `winogradConv` has not taken) or a 1×1 one of one group with at
    /// most 196 output positions (stride-1 ones which `pointwiseConv` has not taken), at least 32
    /// output channels per group and `directMinimumReduction` terms per sum. On ResNet-18's 3×3
    /// and 7×7 layers it took 0.79-1.00 of the panels' time, and the whole model 49-50 ms against
    /// 55-57 on the panels on one thread (docs/BENCHMARKS.md, eleventh measurement).
    /// MobileNetV2's 1×1 layers with 384-960 input channels or on 7×7 planes ran at 12-14
    /// GFLOP/s on sgemm in the model's profile and 30-33 on these tiles; alone they took
    /// 0.32-1.00 of sgemm's time (bench/kernels/pointwise_timing.c, thirteenth measurement). On
    /// 28×28 and 56×56 planes the tiles took 0.77-1.13 of sgemm's (stride 1), and 1×1 layers
    /// onto those keep their paths, strided or not. ResNet-18's strided 1×1 layers onto 14×14
    /// and 7×7 planes, which ran on im2col + sgemm on one thread and on the panels on two, took
    /// 0.94-1.03 of sgemm's time on one and 0.48 and 0.74 of the panels' on two (in the model;
    /// fourteenth measurement, where conv_panels_timing.c put them at 0.99 and 0.94 of sgemm's
    /// against the eleventh's 1.09-1.34). Grouped 1×1 ones were not measured and keep their paths. The
    /// 32-channel floor is the panels': the digits CNN's 8 and 16 channels do better in one sgemm
    /// over a chunk of images.
    static func takesDirect(_ g: ConvOp.Geometry, _ inputs: [TensorType?]) -> Bool {
        inputs[1]?.dtype == .f32 && (g.kernelH * g.kernelW > 1 || g.group == 1 && g.outH * g.outW <= 196)
            && g.outChannelsPerGroup >= 32 && g.reduction >= directMinimumReduction
    }

    /// Terms per output sum from which the direct tiles pay: each tile also works out its 6 window
    /// starts and scatters 96 sums, which a short reduction does not cover. MobileNetV2's stem
    /// (3 channels × 3×3 = 27) ran 6-21% slower on them than on the panels while the scatter was
    /// scalar; since it goes through transposes it runs at 0.82-0.91 of the panels' time
    /// (bench/kernels/conv_panels_timing.c, fifteenth measurement). ResNet-18's (3 × 7×7 = 147)
    /// ran faster on them throughout. Both now go to `shallowConv` (up to 4 input channels onto rows
    /// of 32+ outputs). Shorter reductions were not measured, nor other shapes that the floor of
    /// 27 moved here from 64 (1×1 strided layers with 27-63 input channels onto at most 196
    /// positions, kernels larger than 1×1 over 3-7 channels).
    static let directMinimumReduction = 27

    /// A convolution in CKernels (conv_direct.c) that broadcasts input pixels against W's panels,
    /// a chunk of images at a time: the threads first copy the chunk's input channels into
    /// zero-padded planes (when a tap can read padding) or, for a 1×1 layer onto at most 64
    /// positions, into each tile's pixels side by side (a chunk's copies fit in
    /// `convolutionScratchFloats`), then split the tiles of 16 output channels × up to 6 positions
    /// of every (image, group) of the chunk, laid end to end, so a batch of small planes still
    /// spreads over the threads. With `addsResidual` the tiles add Z as they are scattered. One
    /// image whose input channels the threads split instead (ConvChannelSplit) goes to the
    /// version in DirectConvChannelSplit.swift.
    static func directConv(_ op: ConvOp, _ g: ConvOp.Geometry, packed: PackedConvWeights, threads: Int,
                           addsResidual: Bool) throws -> PreparedKernel {
        if let split = ConvChannelSplit(g, threads: threads) {
            return try directConv(op, g, packed: packed, splitting: split, addsResidual: addsResidual)
        }
        let geometry = try g.planeGeometry()
        let (mg, cg) = (g.outChannelsPerGroup, g.inChannelsPerGroup)
        let tiles = withUnsafePointer(to: geometry) { Int(swk_conv_direct_tiles($0, Int64(mg))) }
        guard tiles > 0, g.batch > 0 else { return PreparedKernel { _ in } }
        // Floats of one image's padded copy (0: the kernel reads the input in place).
        let paddedFloats = withUnsafePointer(to: geometry) { Int(swk_conv_direct_padded_floats($0, Int64(g.inChannels))) }
        let chunk = paddedFloats == 0 ? g.batch : max(1, min(g.batch, convolutionScratchFloats / paddedFloats))
        func splits(_ images: Int) -> (pad: ColumnSplit, tiles: ColumnSplit) {
            (ColumnSplit(columns: images * g.inChannels, threads: threads, workPerColumn: g.height * g.width),
             ColumnSplit(columns: images * g.group * tiles, threads: threads, workPerColumn: 6 * 16 * g.reduction))
        }
        let (fullChunk, lastChunk) = (splits(chunk), splits(g.batch % chunk == 0 ? chunk : g.batch % chunk))
        let taps = directTaps(geometry, g)
        let (inPlane, outPlane, clamp) = (g.height * g.width, g.outH * g.outW, op.clamp)
        // Floats from one input channel to the next, and from one image to the next, where the
        // kernel reads (the padded copies, or the input itself).
        let (channelStride, imageStride) = paddedFloats > 0
            ? (paddedFloats / g.inChannels, paddedFloats) : (inPlane, g.inChannels * inPlane)
        return PreparedKernel(scratchBytes: chunk * paddedFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let padded = paddedFloats > 0 ? args.scratch!.assumingMemoryBound(to: Float.self) : nil
            withUnsafePointer(to: geometry) { geometry in
                for firstImage in stride(from: 0, to: g.batch, by: chunk) {
                    let images = min(chunk, g.batch - firstImage), split = images == chunk ? fullChunk : lastChunk
                    let xChunk = x + firstImage * g.inChannels * inPlane, yChunk = y + firstImage * g.outChannels * outPlane
                    let zChunk = z.map { $0 + firstImage * g.outChannels * outPlane }
                    var input = xChunk
                    if let padded {
                        split.pad.run { _, columns in  // (image, channel) pairs
                            ConvOp.Geometry.forEachOwner(in: columns, unitsEach: g.inChannels) { image, channels in
                                swk_conv_direct_pad(geometry, xChunk + image * g.inChannels * inPlane, Int64(g.inChannels),
                                                    Int64(channels.lowerBound), Int64(channels.upperBound),
                                                    padded + image * paddedFloats)
                            }
                        }
                        input = UnsafePointer(padded)
                    }
                    split.tiles.run { _, units in
                        g.forEachImageAndGroup(in: units, unitsEach: tiles) { image, group, range in
                            let output = (image * g.outChannels + group * mg) * outPlane
                            taps.withUnsafeBufferPointer { taps in
                                swk_conv_direct(geometry, input + image * imageStride + group * cg * channelStride, Int64(cg),
                                                0, Int64(cg), taps.baseAddress, packed.values + group * packed.groupFloats, Int64(mg),
                                                Int64(range.lowerBound), Int64(range.upperBound), bias.map { $0 + group * mg },
                                                zChunk.map { $0 + output }, clamp.min, clamp.max, yChunk + output)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Where each tap reads, from a position's window start (swk_conv_direct_taps).
    static func directTaps(_ geometry: swk_conv_geometry, _ g: ConvOp.Geometry) -> [Int64] {
        withUnsafePointer(to: geometry) { geometry in
            [Int64](unsafeUninitializedCapacity: g.kernelH * g.kernelW) { taps, count in
                swk_conv_direct_taps(geometry, taps.baseAddress!)
                count = taps.count
            }
        }
    }
}
