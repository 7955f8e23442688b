/// Copies the elements of a strided view of `source` into `target`, densely, in row-major order
/// of `shape`. Transpose, Slice, Split and Concat are all this one loop with different strides.
func stridedCopy(from source: UnsafeRawPointer, offset: Int, strides: [Int], shape: [Int],
                 to target: UnsafeMutableRawPointer, elementSize: Int) {
    switch elementSize {
    case 8: stridedCopy(source.assumingMemoryBound(to: UInt64.self), offset, strides, shape, target.assumingMemoryBound(to: UInt64.self))
    case 4: stridedCopy(source.assumingMemoryBound(to: UInt32.self), offset, strides, shape, target.assumingMemoryBound(to: UInt32.self))
    case 2: stridedCopy(source.assumingMemoryBound(to: UInt16.self), offset, strides, shape, target.assumingMemoryBound(to: UInt16.self))
    default: stridedCopy(source.assumingMemoryBound(to: UInt8.self), offset, strides, shape, target.assumingMemoryBound(to: UInt8.self))
    }
}

private func stridedCopy<T>(_ source: UnsafePointer<T>, _ offset: Int, _ strides: [Int], _ shape: [Int],
                            _ target: UnsafeMutablePointer<T>) {
    let count = shape.reduce(1, *)
    guard count > 0 else { return }
    guard let inner = shape.last else { target[0] = source[offset]; return }
    let innerStride = strides.last!
    let outer = shape.count - 1
    var index = [Int](repeating: 0, count: outer)
    var from = offset
    var to = 0
    while to < count {
        if innerStride == 1 {
            target.advanced(by: to).update(from: source.advanced(by: from), count: inner)
        } else {
            for i in 0..<inner { target[to + i] = source[from + i * innerStride] }
        }
        to += inner
        var axis = outer - 1
        while axis >= 0 {
            index[axis] += 1
            from += strides[axis]
            if index[axis] < shape[axis] { break }
            from -= strides[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

/// Element types every data-movement op accepts.
func requireMovable(_ type: TensorType) throws {
    guard type.dtype.isActivationType else {
        throw SwiftletError.unsupported("data must be F32, I32 or I64, got \(type.dtype.rawValue)")
    }
}
