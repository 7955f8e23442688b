import CoreRuntime
import Foundation

/// numpy's `.npy` files (format versions 1–3): little-endian F32, I32 or I64, C order.
struct NPYArray {
    var dtype: DType
    var shape: [Int]
    var data: Data

    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    private static let descriptors: [String: DType] = ["<f4": .f32, "<i4": .i32, "<i8": .i64]

    static func read(_ path: String) throws -> NPYArray {
        guard let file = FileManager.default.contents(atPath: path) else {
            throw SwiftletError.notFound("cannot read '\(path)'")
        }
        let bytes = [UInt8](file)
        func fail(_ problem: String) -> SwiftletError { .invalidArgument("'\(path)' is not a supported .npy file: \(problem)") }
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("bad magic") }
        let major = bytes[6]
        let (lengthBytes, headerStart): (Int, Int) = switch major {
        case 1: (2, 10)
        case 2, 3: (4, 12)
        default: (0, 0)
        }
        guard lengthBytes > 0, bytes.count >= headerStart else { throw fail("format version \(major)") }
        let headerLength = (0..<lengthBytes).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        guard headerStart + headerLength <= bytes.count,
              let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else { throw fail("truncated header") }

        func field(_ key: String) -> String? {
            guard let range = header.range(of: "'\(key)':") else { return nil }
            return String(header[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let descrField = field("descr"), let descr = descrField.split(separator: "'").first.map(String.init),
              let dtype = descriptors[descr]
        else { throw fail("dtype must be one of \(descriptors.keys.sorted()) ('\(header)')") }
        guard field("fortran_order")?.hasPrefix("False") == true else { throw fail("Fortran order is not supported") }
        guard let shapeField = field("shape"), shapeField.hasPrefix("("), let close = shapeField.firstIndex(of: ")") else {
            throw fail("no shape")
        }
        let shape = try shapeField[shapeField.index(after: shapeField.startIndex)..<close]
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .map { text -> Int in
                guard let dim = Int(text), dim >= 0 else { throw fail("bad shape entry '\(text)'") }
                return dim
            }
        let dataStart = headerStart + headerLength
        guard let byteCount = Shape.checkedByteCount(shape, elementSize: dtype.byteSize),
              bytes.count - dataStart == byteCount
        else { throw fail("holds \(bytes.count - dataStart) data bytes, shape \(shape) needs \(dtype.byteSize)-byte elements") }
        return NPYArray(dtype: dtype, shape: shape, data: file.subdata(in: dataStart..<file.count))
    }

    func write(_ path: String) throws {
        guard let descr = Self.descriptors.first(where: { $0.value == dtype })?.key else {
            throw SwiftletError.unsupported("cannot write \(dtype.rawValue) to .npy")
        }
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        // Version 1: the header (with its 10-byte preamble) pads to a multiple of 64 and ends in \n.
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        var file = Data(Self.magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        file.append(contentsOf: Array(header.utf8))
        file.append(data)
        guard FileManager.default.createFile(atPath: path, contents: file) else {
            throw SwiftletError.invalidArgument("cannot write '\(path)'")
        }
    }
}
