import CBLAS
import CoreRuntime

/// The real CPU: OpenBLAS sgemm for Gemm, MatMul, MXLinear and Conv (and Linear with a W known
/// only at run time), our own kernels (CKernels) for Linear on a constant W (packed once, as is
/// the B of a Gemm of 2+ rows that is a linear layer),
/// Attention, Int8Linear, SparseLinear, depthwise Conv (and the expansion before it, fused), MaxPool, Erf,
/// (Skip)LayerNorm, and the GELU and softmax inside Linear and Attention; the reference
/// kernels (plain Swift, written so the compiler vectorizes their inner loops) for the rest.
///
/// Every kernel with enough work splits it across the session's threads (ColumnSplit; Erf and the
/// reference kernels run on the calling thread); OpenBLAS runs
/// single-threaded inside each share. Two thread pools on one small machine fight: OpenBLAS's
/// workers spin after each call, and on 2 cores that stole the core our threads needed
/// (MiniLM b1 s128 at 2 threads: Linear 34.3 ms with OpenBLAS threading its calls, 22.6 ms split
/// by our threads; `swiftlet bench … --profile`, docs/BENCHMARKS.md). It also makes a
/// session's thread count its own rather than process-wide.
public struct CPUBackend: Backend {
    public var name: String { "cpu" }

    /// Threads for every kernel (ColumnSplit), the session's setting with 0 resolved to one per core.
    let threads: Int

    public init(threads: Int) {
        self.threads = threads == 0 ? Int(openblas_get_num_procs()) : threads
        openblas_set_num_threads(1)
    }

    public func supports(_ node: Node) -> Bool { true }

    public func prepare(_ node: Node, inputs: [TensorType?], outputs: [TensorType]) throws -> PreparedKernel {
        try prepare(node, inputs: inputs, outputs: outputs, constants: .none(count: inputs.count))
    }

    public func prepare(_ node: Node, inputs: [TensorType?], outputs: [TensorType], constants: ConstantInputs) throws -> PreparedKernel {
        switch node.op {
        case let gemm as GemmOp: PreparedKernel(try BLASKernels.gemm(gemm, inputs, constants: constants, threads: threads))
        case is MatMulOp: PreparedKernel(try BLASKernels.matMul(inputs, threads: threads))
        case let conv as ConvOp: try BLASKernels.conv(conv, inputs, constants: constants, threads: threads)
        case let fused as ExpandDepthwiseConvOp: try BLASKernels.expandDepthwise(fused, inputs, constants: constants, threads: threads)
        case let linear as LinearOp: PreparedKernel(try BLASKernels.linear(linear, inputs, constants: constants, threads: threads))
        case let linear as Int8LinearOp: try BLASKernels.int8Linear(linear, inputs, threads: threads)
        case let linear as MXLinearOp: try BLASKernels.mxLinear(linear, inputs, threads: threads)
        case let linear as SparseLinearOp: try BLASKernels.sparseLinear(linear, inputs, threads: threads)
        case let linear as SparseInt8LinearOp: try BLASKernels.sparseLinear(linear, inputs, threads: threads)
        case let conv as PatternConvOp: try BLASKernels.patternConv(conv, inputs, threads: threads)
        case let attention as AttentionOp: try BLASKernels.attention(attention, inputs, threads: threads)
        case let pool as MaxPoolOp: try BLASKernels.maxPool(pool, inputs, outputs, threads: threads)
        case is ErfOp: PreparedKernel(BLASKernels.erf(outputs))
        case let norm as LayerNormalizationOp: PreparedKernel(try BLASKernels.layerNorm(norm, skipped: false, outputs, threads: threads))
        case let skipNorm as SkipLayerNormalizationOp where inputs[0]?.shape == outputs[0].shape && inputs[1]?.shape == outputs[0].shape:
            PreparedKernel(try BLASKernels.layerNorm(skipNorm.norm, skipped: true, outputs, threads: threads))
        default: PreparedKernel(try node.op.referenceKernel(inputs, outputs))
        }
    }
}
