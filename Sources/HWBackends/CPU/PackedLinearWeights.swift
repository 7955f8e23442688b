import CKernels
import CoreRuntime

/// A linear layer's constant W [K, N] (or Gemm's B stored as its transpose [N, K], with
/// `transposed`) laid out once as packed_linear.c's 16-column panels, for
/// as long as the model (or session) that keeps it. Made from a `.swl` file's map, it then lets
/// the kernel drop the mapped pages it read: while the panels are W's only reader, the weights
/// are resident once, not twice. Anything else that reads W (a plan of 512 rows or more, which
/// takes sgemm; another node; the reference backend) reads those pages back from the file, and
/// they then stay. An ONNX model's weights were copied out of its file and stay.
///
/// `@unchecked Sendable`: the panels are written only here, before any kernel can read them.
final class PackedLinearWeights: @unchecked Sendable {
    static func layout(transposed: Bool) -> String { transposed ? "linear-panels-16-from-transposed" : "linear-panels-16" }
    let panels: UnsafeMutablePointer<Float>

    init(_ w: ConstantTensor, transposed: Bool = false) {
        let (k, n) = transposed ? (w.type.shape[1], w.type.shape[0]) : (w.type.shape[0], w.type.shape[1])
        let count = max(1, Int(swk_linear_panels_count(Int64(k), Int64(n))))
        let storage = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
        panels = storage.bindMemory(to: Float.self, capacity: count)
        if let weights = w.floats.baseAddress {  // K or N may be 0
            swk_linear_pack(weights, Int64(k), Int64(n), transposed ? 1 : 0, panels)
        }
        w.evictMappedPages()
    }

    deinit { panels.deallocate() }
}
