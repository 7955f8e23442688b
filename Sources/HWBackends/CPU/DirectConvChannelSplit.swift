import CKernels
import CoreRuntime

extension BLASKernels {
    /// The input channels each thread sums, where `directConv` splits a convolution's reduction
    /// instead of its output channels: one image and group, on more than one thread, reading at
    /// least as many channels (times taps) as it writes, so the input is the larger side — a
    /// MobileNetV2 block's projection, which reads the depthwise layer's wide output. Split by
    /// output channels every thread reads all of the input, half of it from the other core's
    /// cache, and leaves those lines shared there, which made the next write of them cost the
    /// depthwise layer 1.7× its time; split by input channels each thread reads only the channels
    /// the layer before it wrote on the same core (a 14×14 block of MobileNetV2 at two threads,
    /// projection 0.27 ms against 0.33, depthwise 0.09 against 0.13: docs/BENCHMARKS.md,
    /// sixteenth measurement). nil where the output channels split as before.
    static func directChannelSplit(_ g: ConvOp.Geometry, threads: Int) -> ColumnSplit? {
        guard threads > 1, g.batch == 1, g.group == 1, g.reduction >= g.outChannels else { return nil }
        let split = ColumnSplit(columns: g.inChannels, threads: threads,
                                workPerColumn: g.kernelH * g.kernelW * g.outChannels * g.outH * g.outW)
        // At least 16 channels a thread: a stem's 3 split 1 + 2 (ResNet-18's at two threads took
        // 5.0 ms against onnxruntime's 2.8).
        return split.ranges.count > 1 && g.inChannels >= 16 * split.ranges.count ? split : nil
    }

    /// `directConv` with each thread summing its range of input channels (`channels`, from
    /// `directChannelSplit`) over every output: the first range's sums go into Y, the others'
    /// into partial outputs in scratch; then each thread finishes its share of the output
    /// channels (partials, bias, Z, clamp: swk_conv_direct_add_partials), so the layer after this
    /// one, split the same way, again reads what this core wrote.
    static func directConv(_ op: ConvOp, _ g: ConvOp.Geometry, packed: PackedConvWeights, summingOver channels: ColumnSplit,
                           addsResidual: Bool) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        let (outChannels, outPlane, clamp) = (g.outChannels, g.outH * g.outW, op.clamp)
        let tiles = withUnsafePointer(to: geometry) { swk_conv_direct_tiles($0, Int64(outChannels)) }
        let paddedFloats = withUnsafePointer(to: geometry) { Int(swk_conv_direct_padded_floats($0, Int64(g.inChannels))) }
        let parts = channels.ranges.count, partialFloats = outChannels * outPlane
        // Every part finishes some output channels, however little the work, so each thread's
        // share of Y stays on its core.
        let finish = ColumnSplit(columns: outChannels, threads: parts, workPerColumn: ColumnSplit.minimumWorkPerThread)
        let taps = directTaps(geometry, g)
        return PreparedKernel(scratchBytes: (paddedFloats + (parts - 1) * partialFloats) * MemoryLayout<Float>.size) { args in
            let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let scratch = args.scratch!.assumingMemoryBound(to: Float.self)
            let partials = scratch + paddedFloats
            withUnsafePointer(to: geometry) { geometry in
                taps.withUnsafeBufferPointer { taps in
                    channels.run { part, range in
                        var input = x
                        if paddedFloats > 0 {
                            swk_conv_direct_pad(geometry, x, Int64(range.lowerBound), Int64(range.upperBound), scratch)
                            input = UnsafePointer(scratch)
                        }
                        swk_conv_direct(geometry, input, Int64(g.inChannels), Int64(range.lowerBound), Int64(range.upperBound),
                                        taps.baseAddress, packed.values, Int64(outChannels), 0, tiles, nil, nil, -.infinity,
                                        .infinity, part == 0 ? y : partials + (part - 1) * partialFloats)
                    }
                }
            }
            finish.run { _, range in
                swk_conv_direct_add_partials(Int64(outPlane), Int64(outChannels), Int64(range.lowerBound),
                                             Int64(range.upperBound), partials, Int64(parts - 1), bias, z, clamp.min,
                                             clamp.max, y)
            }
        }
    }
}
