import CKernels
import CoreRuntime

extension BLASKernels {
    /// An expansion + depthwise pair (ExpandDepthwiseConvOp). Where expand_depthwise.c takes the
    /// depthwise geometry (planes up to 28×28, the lanes path's row runs, with AVX2) and W1 is a
    /// constant, that one kernel: each panel of 16 expanded channels goes straight into the
    /// depthwise layer's lanes, and no expanded tensor is written (MobileNetV2's 14×14 and 7×7
    /// blocks: 0.87–0.95 of the two layers' time in the model, one thread; docs/BENCHMARKS.md).
    /// The threads split (image, panel) pairs, so a thread's depthwise channels are the ones it
    /// expanded, as the two kernels' channel splits had it. Elsewhere (larger planes, the strided
    /// rows, portable kernels, a W1 known only at run time) the two convolutions' own kernels, the
    /// expanded tensor in scratch.
    static func expandDepthwise(_ op: ExpandDepthwiseConvOp, _ inputs: [TensorType?], constants: ConstantInputs,
                                threads: Int) throws -> PreparedKernel {
        let (e, d) = try op.geometries(inputs)
        let geometry = try d.planeGeometry()
        let (plane, outPlane) = (e.height * e.width, d.outH * d.outW)
        let panels = e.outChannels / Int(SWK_CONV_DIRECT_PANEL_CHANNELS)
        guard e.batch > 0, plane > 0, outPlane > 0,
              withUnsafePointer(to: geometry, { swk_expand_depthwise_takes($0, Int64(e.outChannels)) }) != 0,
              let packed = packedWeights(.direct, e, constants.selecting(ExpandDepthwiseConvOp.expansionInputIndices))
        else { return try expandThenDepthwise(op, inputs, constants: constants, threads: threads) }
        let scratchFloats = withUnsafePointer(to: geometry) { Int(swk_expand_depthwise_scratch_floats($0)) }
        let workPerPanel = Int(SWK_CONV_DIRECT_PANEL_CHANNELS) * (plane * e.inChannels + 4 * outPlane * d.kernelH * d.kernelW)
        let split = ColumnSplit(columns: e.batch * panels, threads: threads, workPerColumn: workPerPanel)
        let (channels, expansionClamp, depthwiseClamp) = (Int64(e.inChannels), op.expansion.clamp, op.depthwise.clamp)
        return PreparedKernel(scratchBytes: split.ranges.count * scratchFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), bias = args.optionalInput(3), w = args.input(2), wBias = args.optionalInput(4)
            let (y, scratch) = (args.output(0), args.scratch!.assumingMemoryBound(to: Float.self))
            split.run { part, units in
                ConvOp.Geometry.forEachOwner(in: units, unitsEach: panels) { image, range in
                    withUnsafePointer(to: geometry) { geometry in
                        swk_expand_depthwise(geometry, x + image * e.inChannels * plane, channels, packed.values, bias,
                                             expansionClamp.min, expansionClamp.max, w, wBias, depthwiseClamp.min,
                                             depthwiseClamp.max, Int64(range.lowerBound), Int64(range.upperBound),
                                             scratch + part * scratchFloats, y + image * e.outChannels * outPlane)
                    }
                }
            }
        }
    }

    /// The expansion's kernel into scratch, then the depthwise layer's from there: each the
    /// kernel a Conv node of its own would get.
    private static func expandThenDepthwise(_ op: ExpandDepthwiseConvOp, _ inputs: [TensorType?], constants: ConstantInputs,
                                            threads: Int) throws -> PreparedKernel {
        let expandedType = TensorType(.f32, try op.geometries(inputs).expansion.outputShape)
        let (expansionInputs, depthwiseInputs) = (ExpandDepthwiseConvOp.expansionInputIndices, ExpandDepthwiseConvOp.depthwiseInputIndices)
        let expansion = try conv(op.expansion, op.expansionInputs(inputs), constants: constants.selecting(expansionInputs),
                                 threads: threads)
        let depthwise = try conv(op.depthwise, op.depthwiseInputs(inputs, expanded: expandedType),
                                 constants: constants.selecting(depthwiseInputs), threads: threads)
        // The kernels' scratch after it 64-byte aligned; never none, so an empty batch runs too.
        let expandedBytes = max(64, (expandedType.count * MemoryLayout<Float>.size + 63) / 64 * 64)
        return PreparedKernel(scratchBytes: expandedBytes + max(expansion.scratchBytes, depthwise.scratchBytes)) { args in
            let expanded = args.scratch!, scratch = args.scratch! + expandedBytes
            try KernelArguments.composing(inputs: expansionInputs.map { $0.flatMap(args.rawInput) }, outputs: [expanded],
                                          scratch: scratch) { try expansion.run($0) }
            try KernelArguments.composing(inputs: [UnsafeRawPointer(expanded)] + depthwiseInputs.dropFirst().map { $0.flatMap(args.rawInput) },
                                          outputs: [args.rawOutput(0)], scratch: scratch) { try depthwise.run($0) }
        }
    }
}
