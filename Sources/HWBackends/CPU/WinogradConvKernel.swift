import CKernels
import CoreRuntime

extension BLASKernels {
    /// Whether a convolution takes `winogradConv`: a constant f32 W, 3×3, stride 1, undilated, one
    /// group, at least 64 input and output channels, an output plane of at least 7×7, and one
    /// image's transformed input within `convolutionScratchFloats` (it is about 4 floats per
    /// output position and channel, and cannot be cut below an image; the direct tiles' padded
    /// copy is a quarter of that). On ResNet-18's 3×3 stride-1 layers (64–512 channels, 56×56
    /// down to 7×7) it took 0.62–0.81 of the direct tiles' time (bench/kernels/winograd_timing.c,
    /// docs/BENCHMARKS.md, thirteenth measurement); fewer channels or smaller planes were not
    /// measured and keep their paths.
    static func takesWinograd(_ g: ConvOp.Geometry, _ inputs: [TensorType?]) -> Bool {
        guard inputs[1]?.dtype == .f32, g.kernelH == 3, g.kernelW == 3, g.strides == [1, 1], g.dilations == [1, 1],
              g.group == 1, g.inChannels >= 64, g.outChannels >= 64, g.outH >= 7, g.outW >= 7,
              let geometry = try? g.planeGeometry() else { return false }
        let transformed = withUnsafePointer(to: geometry) { swk_winograd_transformed_floats($0, Int64(g.inChannels)) }
        return transformed <= convolutionScratchFloats
    }

    /// Output channels one call of swk_winograd_conv computes (the packed W's blocks): its
    /// products (16 points × this many channels × 16 tiles) stay in L2 for the output transform.
    static let winogradChannelBlock = Int(SWK_WINOGRAD_CHANNEL_BLOCK)

    /// A convolution by Winograd's F(2×2, 3×3) in CKernels (winograd_conv.c), a chunk of images at
    /// a time: the threads first transform the chunk's input (split by (image, channel)), then
    /// split the (image, panel of 16 tiles, block of output channels) units, each multiplying
    /// the panel's 16 transformed points by U and transforming the products back into y with the
    /// bias, Z (with `addsResidual`) and the clamp.
    static func winogradConv(_ op: ConvOp, _ g: ConvOp.Geometry, packed: PackedConvWeights, threads: Int,
                             addsResidual: Bool) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        guard g.batch > 0 else { return PreparedKernel { _ in } }
        let (panels, transformedFloats) = withUnsafePointer(to: geometry) {
            (Int(swk_winograd_panels($0)), Int(swk_winograd_transformed_floats($0, Int64(g.inChannels))))
        }
        let block = min(winogradChannelBlock, g.outChannels), blocks = (g.outChannels + block - 1) / block
        let productFloats = Int(swk_winograd_scratch_floats(Int64(block)))
        let chunk = max(1, min(g.batch, convolutionScratchFloats / transformedFloats))
        func splits(_ images: Int) -> (input: ColumnSplit, products: ColumnSplit) {
            (ColumnSplit(columns: images * g.inChannels, threads: threads, workPerColumn: transformedFloats / g.inChannels),
             ColumnSplit(columns: images * panels * blocks, threads: threads, workPerColumn: 16 * 16 * block * g.inChannels))
        }
        let (fullChunk, lastChunk) = (splits(chunk), splits(g.batch % chunk == 0 ? chunk : g.batch % chunk))
        let (inPlane, outPlane, clamp) = (g.height * g.width, g.outH * g.outW, op.clamp)
        let scratchFloats = chunk * transformedFloats + fullChunk.products.ranges.count * productFloats
        return PreparedKernel(scratchBytes: scratchFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let transformed = args.scratch!.assumingMemoryBound(to: Float.self), products = transformed + chunk * transformedFloats
            withUnsafePointer(to: geometry) { geometry in
                for firstImage in stride(from: 0, to: g.batch, by: chunk) {
                    let split = min(chunk, g.batch - firstImage) == chunk ? fullChunk : lastChunk
                    split.input.run { _, columns in  // (image, channel) pairs
                        ConvOp.Geometry.forEachOwner(in: columns, unitsEach: g.inChannels) { image, channels in
                            swk_winograd_input(geometry, x + (firstImage + image) * g.inChannels * inPlane, Int64(g.inChannels),
                                               Int64(channels.lowerBound), Int64(channels.upperBound),
                                               transformed + image * transformedFloats)
                        }
                    }
                    split.products.run { part, units in
                        for unit in units {
                            let (image, rest) = unit.quotientAndRemainder(dividingBy: panels * blocks)
                            let (panel, channelBlock) = rest.quotientAndRemainder(dividingBy: blocks)
                            let first = channelBlock * block, output = (firstImage + image) * g.outChannels * outPlane
                            swk_winograd_conv(geometry, transformed + image * transformedFloats, Int64(g.inChannels),
                                              packed.values, Int64(g.outChannels), Int64(panel), Int64(first),
                                              Int64(min(first + block, g.outChannels)), bias, z.map { $0 + output },
                                              clamp.min, clamp.max, products + part * productFloats, y + output)
                        }
                    }
                }
            }
        }
    }
}
