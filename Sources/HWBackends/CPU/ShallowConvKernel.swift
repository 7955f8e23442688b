import CKernels
import CoreRuntime

extension BLASKernels {
    /// Whether a convolution takes `shallowConv`: a constant f32 W, one group, a kernel larger than
    /// 1×1, 32+ output channels, at most `shallowMaximumChannels` input channels (an image's own:
    /// a stem) and output rows of 32 or more. From 27 terms per sum the direct tiles would take it
    /// otherwise, and it was measured against them: alone it took 0.76-0.79 of their time on
    /// MobileNetV2-like stems (3 × 3×3 = 27 terms) onto 112×112, 0.86-0.91 with 5×5 taps, 0.94 and
    /// 1.00 on ResNet-18's stem (3 × 7×7 = 147 terms) onto 112×112 and 56×56, 0.96-1.04 on 4×4
    /// stride-4 patches; with 16 input channels 1.11-1.19, and on rows of 15 outputs 1.19-1.23
    /// (bench/kernels/conv_shallow_timing.c, seventeenth measurement). Under 27 terms (a grey
    /// image's 3×3 stem) it takes them from the panels or im2col + sgemm, against which it was not
    /// measured. 1×1 ones keep their paths (strided, this kernel would write every stride phase and
    /// read one), and so do those with fewer output channels (not measured either).
    static func takesShallow(_ g: ConvOp.Geometry, _ inputs: [TensorType?]) -> Bool {
        inputs[1]?.dtype == .f32 && g.group == 1 && g.kernelH * g.kernelW > 1 && g.outChannels >= 32
            && g.inChannels <= shallowMaximumChannels && g.outW >= 32
    }

    /// Input channels up to which a convolution's blocks of 4 output channels × 16 positions pay: an
    /// RGB(A) or grey image's.
    static let shallowMaximumChannels = 4

    /// Output channels of one of conv_shallow.c's blocks: the threads split whole blocks.
    static let shallowBlockChannels = Int(SWK_SHALLOW_BLOCK_CHANNELS)

    /// A convolution in CKernels (conv_shallow.c) with output positions in vector lanes, a chunk of
    /// images at a time: the threads first write the chunk's input channels' stride phases (a
    /// chunk's phases fit in `convolutionScratchFloats`), then split the blocks of 4 output
    /// channels of every image, laid end to end: on one image each thread writes its own channels,
    /// which the depthwise layer after a stem then reads on the same core. With `addsResidual` the
    /// blocks add Z before the clamp.
    static func shallowConv(_ op: ConvOp, _ g: ConvOp.Geometry, packed: PackedConvWeights, threads: Int,
                            addsResidual: Bool) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        guard g.batch > 0, g.outChannels > 0, g.outH > 0, g.outW > 0 else { return PreparedKernel { _ in } }
        let phasesFloats = withUnsafePointer(to: geometry) { Int(swk_conv_shallow_phases_floats($0, Int64(g.inChannels))) }
        let chunk = max(1, min(g.batch, convolutionScratchFloats / phasesFloats))
        let blocks = (g.outChannels + shallowBlockChannels - 1) / shallowBlockChannels
        let (inPlane, outPlane, clamp) = (g.height * g.width, g.outH * g.outW, op.clamp)
        func splits(_ images: Int) -> (phases: ColumnSplit, blocks: ColumnSplit) {
            (ColumnSplit(columns: images * g.inChannels, threads: threads, workPerColumn: phasesFloats / g.inChannels),
             ColumnSplit(columns: images * blocks, threads: threads, workPerColumn: shallowBlockChannels * outPlane * g.reduction))
        }
        let (fullChunk, lastChunk) = (splits(chunk), splits(g.batch % chunk == 0 ? chunk : g.batch % chunk))
        let steps = withUnsafePointer(to: geometry) { geometry in
            [Int64](unsafeUninitializedCapacity: g.reduction) { steps, count in
                swk_conv_shallow_steps(geometry, Int64(g.inChannels), steps.baseAddress!)
                count = steps.count
            }
        }
        return PreparedKernel(scratchBytes: chunk * phasesFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let phases = args.scratch!.assumingMemoryBound(to: Float.self)
            withUnsafePointer(to: geometry) { geometry in
                for firstImage in stride(from: 0, to: g.batch, by: chunk) {
                    let images = min(chunk, g.batch - firstImage), split = images == chunk ? fullChunk : lastChunk
                    let xChunk = x + firstImage * g.inChannels * inPlane, yChunk = y + firstImage * g.outChannels * outPlane
                    let zChunk = z.map { $0 + firstImage * g.outChannels * outPlane }
                    split.phases.run { _, columns in  // (image, channel) pairs
                        ConvOp.Geometry.forEachOwner(in: columns, unitsEach: g.inChannels) { image, channels in
                            swk_conv_shallow_phases(geometry, xChunk + image * g.inChannels * inPlane, Int64(g.inChannels),
                                                    Int64(channels.lowerBound), Int64(channels.upperBound),
                                                    phases + image * phasesFloats)
                        }
                    }
                    split.blocks.run { _, units in  // (image, block of 4 output channels) pairs
                        ConvOp.Geometry.forEachOwner(in: units, unitsEach: blocks) { image, range in
                            let output = image * g.outChannels * outPlane
                            steps.withUnsafeBufferPointer { steps in
                                swk_conv_shallow(geometry, phases + image * phasesFloats, Int64(g.inChannels), steps.baseAddress,
                                                 packed.values, Int64(range.lowerBound * shallowBlockChannels),
                                                 Int64(min(g.outChannels, range.upperBound * shallowBlockChannels)), bias,
                                                 zChunk.map { $0 + output }, clamp.min, clamp.max, yChunk + output)
                            }
                        }
                    }
                }
            }
        }
    }
}
