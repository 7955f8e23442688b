import CKernels
import CoreRuntime

/// A convolution of one image whose threads split its reduction, each summing its own range of
/// input channels over every output, rather than its outputs: the first range's sums go into Y,
/// the others' into partial outputs in scratch, then each thread finishes a share of the output
/// channels (partials, bias, Z, clamp: swk_conv_add_partials). For layers reading at least 3
/// times as many channels as they write — a MobileNetV2 block's projection, which reads the
/// depthwise layer's wide output. Split by outputs, every thread reads all of the input, half of
/// it from the other core's cache, and leaves those lines shared there, which made the next write
/// of them cost the depthwise layer 1.7× its time; split by input channels, each thread reads only
/// the channels its own core wrote (the depthwise layer, and expansions, split channels too), and
/// finishes channels that the next layer, split the same way, reads on the same core (a 14×14
/// block of MobileNetV2 at two threads: projection with the finish 0.28-0.30 ms against
/// 0.33-0.34, depthwise 0.10 against 0.135; bench/kernels/block_split_timing.c, docs/BENCHMARKS.md,
/// sixteenth measurement).
struct ConvChannelSplit {
    /// The input channels each thread sums.
    let channels: ColumnSplit
    /// The output channels each thread finishes: one range per part, however little the work,
    /// so each thread's share of Y stays on its core.
    let finishing: ColumnSplit
    /// Floats of one partial output (Y's size).
    let partialFloats: Int

    /// nil where the outputs split as before: more than one image or group, one thread, fewer
    /// than 3 input channels per output channel (the partial outputs' extra pass did not pay on
    /// MobileNetV2's 32→16 projection on 112×112: 0.36 ms against 0.30; ResNet-18's 3×3 stride-2
    /// layers, 64→128 to 256→512, ran alike either way), work for one thread only, fewer than 16
    /// channels a thread (a stem's 3 split 1 + 2: ResNet-18's at two threads took 5.0 ms against
    /// onnxruntime's 2.8), or partial outputs past `convolutionScratchFloats` (on many threads or
    /// a large plane they would go through memory, and the split is about cache).
    init?(_ g: ConvOp.Geometry, threads: Int) {
        guard threads > 1, g.batch == 1, g.group == 1, g.inChannels >= 3 * g.outChannels else { return nil }
        let outPlane = g.outH * g.outW
        let channels = ColumnSplit(columns: g.inChannels, threads: threads,
                                   workPerColumn: g.kernelH * g.kernelW * g.outChannels * outPlane)
        guard channels.ranges.count > 1, g.inChannels >= 16 * channels.ranges.count,
              (channels.ranges.count - 1) * g.outChannels * outPlane <= BLASKernels.convolutionScratchFloats
        else { return nil }
        self.channels = channels
        finishing = ColumnSplit(columns: g.outChannels, threads: channels.ranges.count,
                                workPerColumn: ColumnSplit.minimumWorkPerThread)
        partialFloats = g.outChannels * outPlane
    }

    /// Scratch floats the partial outputs take.
    var scratchFloats: Int { (channels.ranges.count - 1) * partialFloats }

    /// Where part `part` writes its sums: Y for the first, a partial output for the others.
    func output(of part: Int, y: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>)
        -> UnsafeMutablePointer<Float> {
        part == 0 ? y : partials + (part - 1) * partialFloats
    }

    /// Adds the partial outputs into Y with the bias, Z and clamp, on the threads.
    func finish(_ g: ConvOp.Geometry, y: UnsafeMutablePointer<Float>, partials: UnsafePointer<Float>,
                bias: UnsafePointer<Float>?, residual: UnsafePointer<Float>?, clamp: FusedClamp) {
        let (outPlane, outChannels, count) = (g.outH * g.outW, g.outChannels, channels.ranges.count - 1)
        finishing.run { _, range in
            swk_conv_add_partials(Int64(outPlane), Int64(outChannels), Int64(range.lowerBound), Int64(range.upperBound),
                                  partials, Int64(count), bias, residual, clamp.min, clamp.max, y)
        }
    }
}
