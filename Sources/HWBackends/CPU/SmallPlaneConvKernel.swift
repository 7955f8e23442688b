import CKernels
import CoreRuntime

extension BLASKernels {
    /// A convolution with few output channels onto a small plane: what the direct tiles, the
    /// shallow blocks and the panels leave (they take 32+ output channels a group), where each
    /// image's whole unfolded input fits `smallPlaneScratchFloats`. The digits CNN's layers (1→8
    /// onto 8×8, 8→16 onto 4×4) are such; im2col and sgemm over a batch of them ran 5-8× slower
    /// than onnxruntime (conv_small_plane.c says why).
    static func takesSmallPlane(_ g: ConvOp.Geometry) -> Bool {
        guard g.outChannelsPerGroup < 32, g.inChannelsPerGroup > 0, g.outH > 0, g.outW > 0,
              let geometry = try? g.planeGeometry() else { return false }
        let scratch = withUnsafePointer(to: geometry) { swk_conv_small_plane_scratch_floats($0, Int64(g.inChannelsPerGroup)) }
        return scratch <= smallPlaneScratchFloats
    }

    /// The most floats one image's padded copy and unfolded input may take: 128 KiB, a quarter of
    /// this machine's L2, so W, U and the image's outputs stay near while the tiles run.
    static let smallPlaneScratchFloats = 32 << 10

    /// The convolution in CKernels (conv_small_plane.c), one (image, group) per call: the threads
    /// split the batch's (image, group) pairs, each with its own scratch; the table of offsets is
    /// made here, once per layer.
    static func smallPlaneConv(_ op: ConvOp, _ g: ConvOp.Geometry, threads: Int, addsResidual: Bool) throws -> PreparedKernel {
        let geometry = try g.planeGeometry()
        let (mg, cg) = (g.outChannelsPerGroup, g.inChannelsPerGroup)
        let table = withUnsafePointer(to: geometry) { geometry in
            [Int32](unsafeUninitializedCapacity: Int(swk_conv_small_plane_table_size(geometry))) { buffer, count in
                swk_conv_small_plane_table(geometry, buffer.baseAddress!)
                count = buffer.count
            }
        }
        let scratchFloats = withUnsafePointer(to: geometry) { Int(swk_conv_small_plane_scratch_floats($0, Int64(cg))) }
        // Whole multiples of 16 floats keep every thread's scratch 64-byte aligned.
        let scratchStride = (scratchFloats + 15) / 16 * 16
        let (inPlane, outPlane, clamp) = (g.height * g.width, g.outH * g.outW, op.clamp)
        let split = ColumnSplit(columns: g.batch * g.group, threads: threads, workPerColumn: mg * g.reduction * outPlane)
        return PreparedKernel(scratchBytes: split.ranges.count * scratchStride * MemoryLayout<Float>.size) { args in
            let x = args.input(0), w = args.input(1), bias = args.optionalInput(2), y = args.output(0)
            let z = addsResidual ? args.input(ConvOp.residualInput) : nil
            let scratch = args.scratch!.assumingMemoryBound(to: Float.self)
            split.run { part, units in
                for unit in units {
                    let (image, group) = unit.quotientAndRemainder(dividingBy: g.group)
                    let output = (image * g.outChannels + group * mg) * outPlane
                    withUnsafePointer(to: geometry) { geometry in
                        swk_conv_small_plane(geometry, table, x + (image * g.inChannels + group * cg) * inPlane, Int64(cg),
                                             w + group * mg * g.reduction, Int64(mg), bias.map { $0 + group * mg },
                                             z.map { $0 + output }, clamp.min, clamp.max, scratch + part * scratchStride,
                                             y + output)
                    }
                }
            }
        }
    }
}
