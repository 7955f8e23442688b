/// Element types of stored tensors and activations. The raw value is the safetensors name.
public enum DType: String, Sendable, CaseIterable, Hashable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case i8 = "I8"
    /// Raw bytes of packed codes (MX elements and E8M0 scales); never an activation.
    case u8 = "U8"
    case i32 = "I32"
    case i64 = "I64"

    public var byteSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i8, .u8: 1
        case .i64: 8
        }
    }

    /// Types a graph input or output may have (activations).
    public var isActivationType: Bool { self == .f32 || self == .i32 || self == .i64 }
    public var isInteger: Bool { self == .i8 || self == .i32 || self == .i64 }
    /// Types a float operand may be stored in (F16/BF16 constants are widened per session).
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }
}
