/// A constant tensor's bytes: in the model's memory map, or owned (produced by a graph pass or
/// copied for alignment). `owner` keeps that memory alive as long as the tensor is.
public struct ConstantTensor: @unchecked Sendable {
    public let type: TensorType
    public let data: UnsafeRawPointer
    let owner: AnyObject

    init(type: TensorType, data: UnsafeRawPointer, owner: AnyObject) {
        self.type = type
        self.data = data
        self.owner = owner
    }

    /// A tensor owning a copy of `values`.
    public static func owning(_ type: TensorType, bytes: UnsafeRawBufferPointer) -> ConstantTensor {
        let storage = ModelBytes.copy(of: bytes)
        return ConstantTensor(type: type, data: storage.buffer.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!, owner: storage)
    }

    public static func owning(_ shape: [Int], floats: [Float]) -> ConstantTensor {
        floats.withUnsafeBytes { owning(TensorType(.f32, shape), bytes: $0) }
    }

    /// The same bytes under another shape (views of known values while planning).
    func reshaped(_ type: TensorType) -> ConstantTensor { ConstantTensor(type: type, data: data, owner: owner) }

    /// A copy as an owned tensor.
    var host: HostTensor {
        HostTensor(dtype: type.dtype, shape: type.shape, bytes: Array(UnsafeRawBufferPointer(start: data, count: type.byteCount)))
    }

    /// Lets the kernel drop this tensor's pages when they are a file's map (they are read from
    /// the file again if touched): for a backend that made its own copy and reads only that.
    public func evictMappedPages() {
        (owner as? ModelBytes)?.evict(UnsafeRawBufferPointer(start: data, count: type.byteCount))
    }

    public var floats: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: type.count)
    }
}
