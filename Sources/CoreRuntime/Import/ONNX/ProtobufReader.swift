/// Reads the protobuf wire format (https://protobuf.dev/programming-guides/encoding/) from
/// untrusted bytes: every length and offset is checked, so a malformed file is an error, never a
/// crash. Only what ONNX files use: varints, fixed 32/64-bit values, length-delimited fields, and
/// repeated scalars in both the packed and the unpacked encoding (onnx.proto is proto2, whose
/// writers may use either).
struct ProtobufReader {
    enum WireType: Int {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5
    }

    struct Malformed: Error {
        let message: String
    }

    private let bytes: UnsafeRawBufferPointer
    private var position: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        position = 0
    }

    var isAtEnd: Bool { position >= bytes.count }

    private func fail(_ problem: String) -> Malformed { Malformed(message: "\(problem) at byte \(position)") }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws(Malformed) -> (number: Int, wire: WireType)? {
        guard !isAtEnd else { return nil }
        let key = try varint()
        guard let wire = WireType(rawValue: Int(key & 7)) else { throw fail("unknown wire type \(key & 7)") }
        let number = key >> 3
        guard number >= 1, number <= 536_870_911 else { throw fail("invalid field number \(number)") }
        return (Int(number), wire)
    }

    mutating func varint() throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw fail("truncated varint") }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else { throw fail("varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A varint read as a signed 64-bit value (int64/int32 fields use two's complement).
    mutating func int64() throws(Malformed) -> Int64 { Int64(bitPattern: try varint()) }

    mutating func fixed32() throws(Malformed) -> UInt32 {
        guard bytes.count - position >= 4 else { throw fail("truncated fixed32") }
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    mutating func fixed64() throws(Malformed) -> UInt64 {
        guard bytes.count - position >= 8 else { throw fail("truncated fixed64") }
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    /// The payload of a length-delimited field (a view into the input, not a copy).
    mutating func lengthDelimited() throws(Malformed) -> UnsafeRawBufferPointer {
        let length = try varint()
        guard length <= UInt64(bytes.count - position) else { throw fail("length \(length) runs past the end") }
        let start = position
        position += Int(length)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<position])
    }

    mutating func string() throws(Malformed) -> String {
        let payload = try lengthDelimited()
        guard let text = String(validating: payload, as: UTF8.self) else { throw fail("string is not UTF-8") }
        return text
    }

    mutating func skip(_ wire: WireType) throws(Malformed) {
        switch wire {
        case .varint: _ = try varint()
        case .fixed64: _ = try fixed64()
        case .fixed32: _ = try fixed32()
        case .lengthDelimited: _ = try lengthDelimited()
        case .startGroup, .endGroup: throw fail("groups are not used by ONNX")
        }
    }

    /// Appends a repeated varint field's values, packed or not.
    mutating func repeatedVarints(_ wire: WireType, into values: inout [Int64]) throws(Malformed) {
        switch wire {
        case .varint: values.append(try int64())
        case .lengthDelimited:
            var packed = ProtobufReader(try lengthDelimited())
            while !packed.isAtEnd { values.append(try packed.int64()) }
        default: throw fail("repeated integer field has wire type \(wire)")
        }
    }

    /// Appends a repeated float field's values, packed or not.
    mutating func repeatedFloats(_ wire: WireType, into values: inout [Float]) throws(Malformed) {
        try repeatedFixed(wire, single: .fixed32, size: 4, into: &values) { reader throws(Malformed) in
            Float(bitPattern: try reader.fixed32())
        }
    }

    /// Appends a repeated double field's values, packed or not.
    mutating func repeatedDoubles(_ wire: WireType, into values: inout [Double]) throws(Malformed) {
        try repeatedFixed(wire, single: .fixed64, size: 8, into: &values) { reader throws(Malformed) in
            Double(bitPattern: try reader.fixed64())
        }
    }

    /// A repeated fixed-width field: one value with wire type `single`, or packed `size`-byte values.
    private mutating func repeatedFixed<T>(_ wire: WireType, single: WireType, size: Int, into values: inout [T],
                                           _ read: (inout ProtobufReader) throws(Malformed) -> T) throws(Malformed) {
        if wire == single {
            values.append(try read(&self))
            return
        }
        guard wire == .lengthDelimited else { throw fail("repeated fixed-width field has wire type \(wire)") }
        let payload = try lengthDelimited()
        guard payload.count % size == 0 else { throw fail("packed \(size)-byte values in \(payload.count) bytes") }
        var packed = ProtobufReader(payload)
        while !packed.isAtEnd { values.append(try read(&packed)) }
    }
}
