#if canImport(Glibc)
import Glibc
#endif

/// The bytes of a model file: a read-only memory map of the file, or a private copy of a
/// caller's buffer. Weights are used in place from here, never copied per session.
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
