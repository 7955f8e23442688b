import CKernels
import CoreRuntime

extension BLASKernels {
    /// `directConv` with the threads splitting the input channels (ConvChannelSplit): each copies
    /// its channels where the tiles read a copy (padded planes, or tile by tile), then sums them
    /// over every tile.
    static func directConv(_ op: ConvOp, _ g: ConvOp.Geometry, packed: PackedConvWeights, splitting split: ConvChannelSplit,
                           addsResidual: Bool) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        let tiles = withUnsafePointer(to: geometry) { swk_conv_direct_tiles($0, Int64(g.outChannels)) }
        let paddedFloats = withUnsafePointer(to: geometry) { Int(swk_conv_direct_padded_floats($0, Int64(g.inChannels))) }
        let taps = directTaps(geometry, g)
        return PreparedKernel(scratchBytes: (paddedFloats + split.scratchFloats) * MemoryLayout<Float>.size) { args in
            let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let scratch = args.scratch!.assumingMemoryBound(to: Float.self)
            let partials = scratch + paddedFloats
            withUnsafePointer(to: geometry) { geometry in
                taps.withUnsafeBufferPointer { taps in
                    split.channels.run { part, channels in
                        var input = x
                        if paddedFloats > 0 {
                            swk_conv_direct_pad(geometry, x, Int64(g.inChannels), Int64(channels.lowerBound), Int64(channels.upperBound),
                                                scratch)
                            input = UnsafePointer(scratch)
                        }
                        swk_conv_direct(geometry, input, Int64(g.inChannels), Int64(channels.lowerBound),
                                        Int64(channels.upperBound), taps.baseAddress, packed.values, Int64(g.outChannels), 0,
                                        tiles, nil, nil, -.infinity, .infinity,
                                        split.output(of: part, y: y, partials: partials))
                    }
                }
            }
            split.finish(g, y: y, partials: partials, bias: bias, residual: z, clamp: op.clamp)
        }
    }
}
