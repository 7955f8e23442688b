import CKernels
import CoreRuntime

extension BLASKernels {
    /// MaxPool in CKernels (max_pool.c: each output row from one line of the window's rows,
    /// reduced in vector loops), planes (image, channel) split across the session's threads.
    static func maxPool(_ op: MaxPoolOp, _ inputs: [TensorType?], _ outputs: [TensorType], threads: Int) throws -> PreparedKernel {
        let (inShape, outShape, window) = (inputs[0]!.shape, outputs[0].shape, op.window)
        let planes = inShape[0] * inShape[1]
        guard planes > 0, outShape[2] > 0, outShape[3] > 0 else { return PreparedKernel { _ in } }
        let geometry = swk_pool_geometry(
            height: Int64(inShape[2]), width: Int64(inShape[3]), out_h: Int64(outShape[2]), out_w: Int64(outShape[3]),
            kernel_h: try int32(window.kernel[0], "MaxPool window size"), kernel_w: try int32(window.kernel[1], "MaxPool window size"),
            stride_h: try int32(window.strides[0], "MaxPool window size"), stride_w: try int32(window.strides[1], "MaxPool window size"),
            pad_top: try int32(window.pads[0], "MaxPool window size"), pad_left: try int32(window.pads[1], "MaxPool window size"))
        let scratchFloats = withUnsafePointer(to: geometry) { Int(swk_max_pool_scratch_floats($0)) }
        let split = ColumnSplit(columns: planes, threads: threads,
                                workPerColumn: outShape[2] * outShape[3] * window.kernel[0] * window.kernel[1])
        return PreparedKernel(scratchBytes: split.ranges.count * scratchFloats * MemoryLayout<Float>.size) { args in
            let x = args.input(0), y = args.output(0), scratch = args.scratch!.assumingMemoryBound(to: Float.self)
            split.run { part, range in
                withUnsafePointer(to: geometry) { geometry in
                    swk_max_pool(geometry, Int64(range.lowerBound), Int64(range.upperBound), x, scratch + part * scratchFloats, y)
                }
            }
        }
    }
}
