#if canImport(Glibc)
import Glibc
#endif

/// The bytes of a model file: a read-only memory map of the file, or a private copy of a
/// caller's buffer. A `.swl` model's weights are used in place from here, never copied per
/// session; an ONNX model's are copied out (protobuf does not align them) and evicted. A backend
/// that lays a weight out its own way (the CPU's packed linear panels) may evict its pages too
/// (`evict`): they read back from the file if anything touches them again.
///
/// `@unchecked Sendable`: the memory is immutable from construction to `deinit`.
public final class ModelBytes: @unchecked Sendable {
    public let buffer: UnsafeRawBufferPointer
    private let isMapped: Bool

    private init(buffer: UnsafeRawBufferPointer, isMapped: Bool) {
        self.buffer = buffer
        self.isMapped = isMapped
    }

    deinit {
        guard let base = buffer.baseAddress else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), buffer.count)
        } else {
            base.deallocate()
        }
    }

    /// Copies `bytes` into memory aligned for any element type.
    public static func copy(of bytes: UnsafeRawBufferPointer) -> ModelBytes {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        if let source = bytes.baseAddress, bytes.count > 0 {
            storage.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
        }
        return ModelBytes(buffer: UnsafeRawBufferPointer(rebasing: storage[0..<bytes.count]), isMapped: false)
    }

    /// Lets the kernel drop the pages wholly inside `part` (a part of this buffer): they are read
    /// from the file again if touched. An import copies each weight out of the map and then evicts
    /// it, so a model's weights are resident once while it opens, not twice. A no-op on a copy.
    public func evict(_ part: UnsafeRawBufferPointer) {
        guard isMapped, let start = part.baseAddress, part.count > 0, let base = buffer.baseAddress else { return }
        precondition(start >= base && start + part.count <= base + buffer.count, "evict: not a part of this map")
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + part.count) / page * page
        guard end > first, let pages = UnsafeMutableRawPointer(bitPattern: first) else { return }
        madvise(pages, end - first, MADV_DONTNEED)
    }

    /// Maps the file at `path` read-only.
    public static func map(path: String) throws -> ModelBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            let reason = String(cString: strerror(code))
            if code == ENOENT || code == ENOTDIR {
                throw SwiftletError.notFound("cannot open '\(path)': \(reason)")
            }
            throw SwiftletError.invalidArgument("cannot open '\(path)': \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw SwiftletError.invalidArgument("cannot stat '\(path)': \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SwiftletError.invalidArgument("'\(path)' is not a regular file")
        }
        let size = Int(info.st_size)
        // mmap rejects length 0; an empty file is simply a copy of nothing (and fails validation).
        guard size > 0 else { return copy(of: UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw SwiftletError.invalidArgument("cannot map '\(path)': \(String(cString: strerror(errno)))")
        }
        return ModelBytes(buffer: UnsafeRawBufferPointer(start: base, count: size), isMapped: true)
    }
}
