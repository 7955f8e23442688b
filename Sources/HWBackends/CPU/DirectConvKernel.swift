import CKernels
import CoreRuntime

extension BLASKernels {
    /// Whether a convolution takes `directConv`: a constant f32 W (packed once), a kernel larger
    /// than 1×1, at least 32 output channels per group and `directMinimumReduction` terms per
    /// sum. On ResNet-18's 3×3 and 7×7 layers it ran at 0.75-1.03 of the sgemm path's time on
    /// one thread, where the panels ran at 0.82-1.19, and the whole model took 49-50 ms against
    /// 55-57 on the panels; on 1×1 strided layers it lost to both (docs/BENCHMARKS.md, eleventh
    /// measurement), which keep their paths. Fewer output channels leave the 16-channel tiles
    /// partly idle (the digits CNN's 8 and 16).
    static func takesDirect(_ g: ConvOp.Geometry, _ inputs: [TensorType?]) -> Bool {
        inputs[1]?.dtype == .f32 && g.kernelH * g.kernelW > 1 && g.outChannelsPerGroup >= 32
            && g.reduction >= directMinimumReduction
    }

    /// Terms per output sum from which the direct tiles pay: each tile also works out its 6 window
    /// starts and scatters 96 sums, which a short reduction does not cover. MobileNetV2's stem
    /// (3 channels × 3×3 = 27) ran 3-10% slower on them than on the panels; ResNet-18's
    /// (3 × 7×7 = 147) ran faster.
    static let directMinimumReduction = 64

    /// A convolution in CKernels (conv_direct.c) that broadcasts input pixels against W's panels:
    /// per image, the threads first copy the input channels into zero-padded planes (when a tap
    /// can read padding), then split the tiles of 16 output channels × 6 positions of every group,
    /// laid end to end.
    static func directConv(_ op: ConvOp, _ g: ConvOp.Geometry, packed: PackedConvWeights, threads: Int) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        let (mg, cg) = (g.outChannelsPerGroup, g.inChannelsPerGroup)
        let tiles = withUnsafePointer(to: geometry) { Int(swk_conv_direct_tiles($0, Int64(mg))) }
        guard tiles > 0, g.batch > 0 else { return PreparedKernel { _ in } }
        let split = ColumnSplit(columns: g.group * tiles, threads: threads, workPerColumn: 6 * 16 * g.reduction)
        let padSplit = ColumnSplit(columns: g.inChannels, threads: threads, workPerColumn: g.height * g.width)
        let paddedFloats = withUnsafePointer(to: geometry) { Int(swk_conv_direct_padded_floats($0, Int64(g.inChannels))) }
        let taps = withUnsafePointer(to: geometry) { geometry in
            [Int64](unsafeUninitializedCapacity: g.kernelH * g.kernelW) { taps, count in
                swk_conv_direct_taps(geometry, taps.baseAddress!)
                count = taps.count
            }
        }
        let (inPlane, outPlane, clamp) = (g.height * g.width, g.outH * g.outW, op.clamp)
        let paddedPlane = paddedFloats / max(g.inChannels, 1)
        return PreparedKernel(scratchBytes: paddedFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), bias = args.optionalInput(2), y = args.output(0)
            withUnsafePointer(to: geometry) { geometry in
                for image in 0..<g.batch {
                    let xImage = x + image * g.inChannels * inPlane, yImage = y + image * g.outChannels * outPlane
                    var input = xImage
                    if paddedFloats > 0 {
                        let padded = args.scratch!.assumingMemoryBound(to: Float.self)
                        padSplit.run { _, channels in
                            swk_conv_direct_pad(geometry, xImage, Int64(channels.lowerBound), Int64(channels.upperBound), padded)
                        }
                        input = UnsafePointer(padded)
                    }
                    let (inputPlane, groupInput) = (paddedFloats > 0 ? paddedPlane : inPlane, input)
                    split.run { _, units in
                        var unit = units.lowerBound
                        while unit < units.upperBound {  // one call per group the range touches
                            let (group, first) = unit.quotientAndRemainder(dividingBy: tiles)
                            let end = min(tiles, first + units.upperBound - unit)
                            taps.withUnsafeBufferPointer { taps in
                                swk_conv_direct(geometry, groupInput + group * cg * inputPlane, Int64(cg), taps.baseAddress,
                                                packed.panels + group * packed.groupFloats, Int64(mg), Int64(first), Int64(end),
                                                bias.map { $0 + group * mg }, clamp.min, clamp.max, yImage + group * mg * outPlane)
                            }
                            unit += end - first
                        }
                    }
                }
            }
        }
    }
}
