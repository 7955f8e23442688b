import CoreRuntime

extension BLASKernels {
    /// A convolution kernel computed with no clamp, then `ConvResidual.apply` adding Z and
    /// clamping: for the Z no epilogue takes (one that broadcasts, or a depthwise or pattern-sparse
    /// convolution's). The convolution is written in y itself, or, where Z broadcasts the output
    /// to a larger shape, in scratch after the kernel's own.
    static func addingResidual(_ residual: ConvResidual, to convolution: PreparedKernel) -> PreparedKernel {
        let separateFloats = residual.needsSeparateConvolution ? residual.convolutionShape.reduce(1, *) : 0
        let kernelScratch = (convolution.scratchBytes + 63) / 64 * 64  // the separate output 64-byte aligned
        let scratchBytes = separateFloats == 0 ? convolution.scratchBytes : kernelScratch + separateFloats * MemoryLayout<Float>.size
        return PreparedKernel(scratchBytes: scratchBytes) { args in
            let z = args.input(residual.input), y = args.output(0)
            guard separateFloats > 0 else {
                try convolution.run(args)
                return residual.apply(convolution: y, z: z, y: y)
            }
            let separate = args.scratch! + kernelScratch
            try args.redirectingOutput(to: separate) { try convolution.run($0) }
            residual.apply(convolution: separate.assumingMemoryBound(to: Float.self), z: z, y: y)
        }
    }
}
