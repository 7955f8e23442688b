import CKernels
import CoreRuntime

extension BLASKernels {
    /// PatternConv in CKernels (pattern_conv.c: each kept kernel's taps as contiguous multiply-adds
    /// over its input channel's stride phases). Per image, the input channels' phases are written
    /// by the session's threads into shared scratch, then the threads take ranges of output
    /// channels, each with its own scratch. A residual Z is added by a pass after it.
    static func patternConv(_ op: PatternConvOp, _ inputs: [TensorType?], threads: Int) throws -> PreparedKernel {
        let g = try op.geometry(inputs)
        if let residual = try op.residual(inputs, g) {
            return addingResidual(residual, to: try patternConv(op, g, inputs, clamp: .none, threads: threads))
        }
        return try patternConv(op, g, inputs, clamp: op.clamp, threads: threads)
    }

    private static func patternConv(_ op: PatternConvOp, _ g: ConvOp.Geometry, _ inputs: [TensorType?], clamp: FusedClamp,
                                    threads: Int) throws -> PreparedKernel {
        guard g.batch > 0, g.outChannels > 0, g.outH > 0, g.outW > 0 else { return PreparedKernel { _ in } }
        let geometry = try g.planeGeometry()
        let keptTaps = inputs[1]!.count, (patternCount, entries) = (Int32(inputs[2]!.shape[0]), Int32(inputs[2]!.shape[1]))
        let (outPerGroup, inPerGroup) = (Int64(g.outChannelsPerGroup), Int64(g.inChannelsPerGroup))
        let channelSplit = ColumnSplit(columns: g.inChannels, threads: threads, workPerColumn: g.height * g.width)
        let outputSplit = ColumnSplit(columns: g.outChannels, threads: threads,
                                      workPerColumn: g.outH * g.outW * keptTaps / g.outChannels)
        let phaseFloats = withUnsafePointer(to: geometry) { (Int(swk_pattern_phases_floats($0, Int64(g.inChannels))) + 15) / 16 * 16 }
        let largestRange = outputSplit.ranges.map(\.count).max() ?? 0
        let partFloats = withUnsafePointer(to: geometry) {
            Int(swk_pattern_conv_scratch_floats($0, Int64(patternCount) * Int64(entries), Int64(largestRange)))
        }
        let (imageIn, imageOut) = (g.inChannels * g.height * g.width, g.outChannels * g.outH * g.outW)
        let channels = Int64(g.inChannels)
        return PreparedKernel(scratchBytes: (phaseFloats + outputSplit.ranges.count * partFloats) * MemoryLayout<Float>.size) { args in
            let weights = swk_pattern_weights(
                values: args.input(1), patterns: args.input(2, as: Int32.self), pattern_ids: args.input(3, as: UInt8.self),
                channels: args.input(4, as: Int32.self), kernel_pointers: args.input(5, as: Int32.self), pattern_count: patternCount, entries: entries,
                out_per_group: outPerGroup, in_per_group: inPerGroup)
            let x = args.input(0), bias = args.optionalInput(PatternConvOp.encodingInputs), y = args.output(0)
            let phases = args.scratch!.assumingMemoryBound(to: Float.self), parts = phases + phaseFloats
            withUnsafePointer(to: geometry) { geometry in
                withUnsafePointer(to: weights) { weights in
                    for image in 0..<g.batch {
                        channelSplit.run { _, range in
                            swk_pattern_split(geometry, x + image * imageIn, channels, Int64(range.lowerBound), Int64(range.upperBound),
                                              phases)
                        }
                        outputSplit.run { part, range in
                            swk_pattern_conv(geometry, weights, Int64(range.lowerBound), Int64(range.upperBound), phases, bias,
                                             clamp.min, clamp.max, parts + part * partFloats, y + image * imageOut)
                        }
                    }
                }
            }
        }
    }
}
