import CKernels
import CoreRuntime

/// A convolution's constant W [M, C/group, kH, kW] laid out once, group by group, for one of the
/// kernels that read it packed, for as long as the model (or session) that keeps it. As with
/// `PackedLinearWeights`, a `.swl` file's mapped pages of W are dropped after packing (anything
/// else that reads W reads them back from the file); an ONNX model's W stays.
///
/// `@unchecked Sendable`: the values are written only here, before any kernel can read them.
final class PackedConvWeights: @unchecked Sendable {
    /// The kernel the layout is for.
    enum Scheme: String, Sendable {
        /// conv_direct.c's panels of 16 output channels.
        case direct = "conv-direct-16"
        /// winograd_conv.c's U = G g Gᵀ, per point per tile of up to 6 output channels [C/group][rows]
        /// (3×3 kernels only).
        case winograd = "conv-winograd-f2x2-3x3"
        /// conv_shallow.c's panels of 4 output channels.
        case shallow = "conv-shallow-4"
    }

    /// The store's name for this layout; the group count is part of it, as it decides the layout.
    static func layout(_ scheme: Scheme, group: Int) -> String { "\(scheme.rawValue)/group-\(group)" }

    /// The packed floats, group after group.
    let values: UnsafeMutablePointer<Float>
    /// Floats of one group's layout.
    let groupFloats: Int

    init(_ w: ConstantTensor, group: Int, scheme: Scheme) {
        let perGroup = w.type.shape[0] / group, channels = w.type.shape[1], depth = w.type.shape.dropFirst().reduce(1, *)
        groupFloats = switch scheme {
        case .direct: Int(swk_conv_direct_packed_floats(Int64(perGroup), Int64(depth)))
        case .winograd: Int(swk_winograd_packed_floats(Int64(perGroup), Int64(channels)))
        case .shallow: Int(swk_conv_shallow_packed_floats(Int64(perGroup), Int64(depth)))
        }
        let count = max(1, group * groupFloats)
        values = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        if let weights = w.floats.baseAddress {
            for g in 0..<group {
                let source = weights + g * perGroup * depth, packed = values + g * groupFloats
                switch scheme {
                case .direct: swk_conv_direct_pack(source, Int64(perGroup), Int64(depth), packed)
                case .winograd: swk_winograd_pack(source, Int64(perGroup), Int64(channels), packed)
                case .shallow: swk_conv_shallow_pack(source, Int64(perGroup), Int64(depth), packed)
                }
            }
        }
        w.evictMappedPages()
    }

    deinit { values.deallocate() }
}
