import CKernels
import CoreRuntime

extension BLASKernels {
    /// Whether a convolution takes `pointwiseConv`: 1×1, stride 1, unpadded, one group, and a
    /// shape where its register tiles beat sgemm + the epilogue pass. Measured on MobileNetV2's
    /// layers (bench/kernels/pointwise_timing.c, one thread): 1.1–1.5× faster for reductions of
    /// up to 192 channels on planes of 14×14 and more; 0.8–0.95× for reductions of 384–960 or on
    /// 7×7 planes, where sgemm's packed, blocked product won and a 16-column tile wastes a third
    /// (those now take `directConv` up to 196 positions, and sgemm past that).
    /// W must fit in about half the L2 (256 KB): every 16 positions read all of it, and a review
    /// measured 192→2048 on 56×56 at 0.79× sgemm.
    static func takesPointwise(_ g: ConvOp.Geometry) -> Bool {
        isPointwise(g) && g.group == 1 && g.inChannels <= 192 && g.outH * g.outW >= 196 && g.outChannels * g.inChannels <= 65_536
    }

    /// A 1×1, stride-1, unpadded, undilated convolution: its input is already the product's right
    /// operand, [C/group][plane] per image and group.
    static func isPointwise(_ g: ConvOp.Geometry) -> Bool {
        g.kernelH == 1 && g.kernelW == 1 && g.strides == [1, 1] && g.pads == [0, 0, 0, 0] && g.dilations == [1, 1]
    }

    /// A pointwise convolution in CKernels (pointwise_conv.c: Y = W·X per image, X read in place,
    /// bias, the residual with `addsResidual`, and clamp in registers). The threads split every
    /// image's positions laid end to end, so a batch of small planes still spreads over them, in
    /// one split per call — except on one image: a projection's input channels
    /// (ConvChannelSplit), an expansion's output channels (more of them than input ones). The
    /// depthwise layers between them split channels, so each thread reads what its own core
    /// wrote (MobileNetV2 at two threads, sixteenth measurement).
    static func pointwiseConv(_ op: ConvOp, _ g: ConvOp.Geometry, threads: Int, addsResidual: Bool) -> PreparedKernel {
        let plane = g.outH * g.outW  // ≥ 196: takesPointwise
        let (imageIn, imageOut, clamp) = (g.inChannels * plane, g.outChannels * plane, op.clamp)
        let work = g.outChannels * g.inChannels * g.batch * plane
        let split: PointwiseSplit =
            if let channels = ConvChannelSplit(g, threads: threads) {
                .inputChannels(channels)
            } else if g.batch == 1 && g.outChannels > g.inChannels {  // in multiples of the 6-row tiles
                .outputChannels(ColumnSplit(columns: g.outChannels, threads: threads, workPerColumn: work / g.outChannels,
                                            granularity: 6))
            } else {
                .positions(ColumnSplit(columns: g.batch * plane, threads: threads, workPerColumn: work / (g.batch * plane),
                                       granularity: 16))
            }
        let scratchFloats = if case .inputChannels(let channels) = split { channels.scratchFloats } else { 0 }
        return PreparedKernel(scratchBytes: scratchFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let (m, c) = (Int64(g.outChannels), Int64(g.inChannels))
            switch split {
            case .inputChannels(let split):
                let partials = args.scratch!.assumingMemoryBound(to: Float.self)
                split.channels.run { part, channels in
                    swk_pointwise_conv(w, m, c, Int64(channels.lowerBound), Int64(channels.upperBound), x, Int64(plane), 0,
                                       Int64(plane), nil, nil, -.infinity, .infinity,
                                       split.output(of: part, y: y, partials: partials))
                }
                split.finish(g, y: y, partials: partials, bias: bias, residual: z, clamp: clamp)
            case .outputChannels(let split):
                split.run { _, rows in
                    let first = rows.lowerBound
                    swk_pointwise_conv(w + first * g.inChannels, Int64(rows.count), c, 0, c, x, Int64(plane), 0, Int64(plane),
                                       bias.map { $0 + first }, z.map { $0 + first * plane }, clamp.min, clamp.max,
                                       y + first * plane)
                }
            case .positions(let split):
                split.run { _, columns in
                    for image in (columns.lowerBound / plane)..<((columns.upperBound + plane - 1) / plane) {
                        let first = max(columns.lowerBound - image * plane, 0)
                        let end = min(columns.upperBound - image * plane, plane)
                        swk_pointwise_conv(w, m, c, 0, c, x + image * imageIn, Int64(plane), Int64(first), Int64(end), bias,
                                           z.map { $0 + image * imageOut }, clamp.min, clamp.max, y + image * imageOut)
                    }
                }
            }
        }
    }
}

/// What the threads split in `pointwiseConv`.
private enum PointwiseSplit {
    /// A projection of one image: its input channels, each thread's sums finished after.
    case inputChannels(ConvChannelSplit)
    /// An expansion of one image: its output channels.
    case outputChannels(ColumnSplit)
    /// Otherwise every image's positions, laid end to end.
    case positions(ColumnSplit)
}
