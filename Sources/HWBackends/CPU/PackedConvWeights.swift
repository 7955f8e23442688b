import CKernels
import CoreRuntime

/// A convolution's constant W [M, C/group, kH, kW] laid out once, group by group, as
/// conv_direct.c's panels of 16 output channels, for as long as the model (or session) that keeps
/// it. As with `PackedLinearWeights`, a `.swl` file's mapped pages of W are dropped after packing
/// (anything else that reads W reads them back from the file); an ONNX model's W stays.
///
/// `@unchecked Sendable`: the panels are written only here, before any kernel can read them.
final class PackedConvWeights: @unchecked Sendable {
    /// The store's name for this layout; the group count is part of it, as it decides the layout.
    static func layout(group: Int) -> String { "conv-direct-16/group-\(group)" }

    let panels: UnsafeMutablePointer<Float>
    /// Floats of one group's panels.
    let groupFloats: Int

    init(_ w: ConstantTensor, group: Int) {
        let perGroup = w.type.shape[0] / group, depth = w.type.shape.dropFirst().reduce(1, *)
        groupFloats = Int(swk_conv_direct_packed_floats(Int64(perGroup), Int64(depth)))
        let count = max(1, group * groupFloats)
        panels = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        if let weights = w.floats.baseAddress {
            for g in 0..<group {
                swk_conv_direct_pack(weights + g * perGroup * depth, Int64(perGroup), Int64(depth), panels + g * groupFloats)
            }
        }
        w.evictMappedPages()
    }

    deinit { panels.deallocate() }
}
