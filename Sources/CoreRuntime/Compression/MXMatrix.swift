/// A weight matrix [N, K] in an MX format: row n's K values, in blocks of 32 along K, each block
/// sharing one E8M0 scale. `codes` holds each row's elements packed LSB-first (element i of a
/// row occupies bits i·b … i·b+b−1 of the row's bytes; a row starts on a byte boundary);
/// `scales` holds ⌈K/32⌉ E8M0 codes per row (the last block may be short).
public struct MXMatrix: Sendable {
    public let format: MXFormat
    public let rows: Int
    public let columns: Int
    public var codes: [UInt8]
    public var scales: [UInt8]

    public static func rowBytes(_ format: MXFormat, columns: Int) -> Int { (columns * format.bits + 7) / 8 }
    public static func blocksPerRow(columns: Int) -> Int { (columns + MXFormat.blockSize - 1) / MXFormat.blockSize }

    public var rowBytes: Int { Self.rowBytes(format, columns: columns) }
    public var blocksPerRow: Int { Self.blocksPerRow(columns: columns) }

    /// Quantizes `values` (row-major [rows, columns]) as OCP MX v1.0 §6.3 says: per block,
    /// shared exponent = ⌊log₂ amax⌋ − emax_elem, read from amax's exponent bits and clamped to
    /// E8M0's range (an all-zero block gets the smallest scale, 2⁻¹²⁷); each element is
    /// value / scale rounded to the element format (saturating). A NaN or ±Inf in a block makes
    /// its scale NaN.
    public init(_ format: MXFormat, rows: Int, columns: Int, values: UnsafeBufferPointer<Float>,
                rounding: MXFormat.Rounding = .nearestEven) {
        precondition(values.count == rows * columns)
        self.format = format
        self.rows = rows
        self.columns = columns
        let rowBytes = Self.rowBytes(format, columns: columns), blocks = Self.blocksPerRow(columns: columns)
        var codes = [UInt8](repeating: 0, count: rows * rowBytes)
        var scales = [UInt8](repeating: 0, count: rows * blocks)
        var elements = [UInt8](repeating: 0, count: columns)
        for row in 0..<rows {
            for block in 0..<blocks {
                let start = block * MXFormat.blockSize, end = Swift.min(start + MXFormat.blockSize, columns)
                let slice = UnsafeBufferPointer(rebasing: values[(row * columns + start)..<(row * columns + end)])
                let scale = Self.sharedScale(slice, format)
                scales[row * blocks + block] = scale
                for i in start..<end {
                    elements[i] = scale == MXFormat.nanScale
                        ? 0 : format.encode(Double(slice[i - start]) * Double(sign: .plus, exponent: 127 - Int(scale), significand: 1), rounding: rounding)
                }
            }
            Self.pack(elements, bits: format.bits, into: &codes[(row * rowBytes)..<((row + 1) * rowBytes)])
        }
        self.codes = codes
        self.scales = scales
    }

    public init(format: MXFormat, rows: Int, columns: Int, codes: [UInt8], scales: [UInt8]) {
        precondition(codes.count == rows * Self.rowBytes(format, columns: columns))
        precondition(scales.count == rows * Self.blocksPerRow(columns: columns))
        self.format = format
        self.rows = rows
        self.columns = columns
        self.codes = codes
        self.scales = scales
    }

    /// The E8M0 code of a block's shared scale.
    static func sharedScale(_ block: UnsafeBufferPointer<Float>, _ format: MXFormat) -> UInt8 {
        var amaxBits: UInt32 = 0
        for value in block {
            let bits = value.bitPattern & 0x7FFF_FFFF
            if bits >= 0x7F80_0000 { return MXFormat.nanScale }  // NaN or ±Inf
            amaxBits = Swift.max(amaxBits, bits)  // for non-negative floats, bit order is value order
        }
        guard amaxBits != 0 else { return 0 }
        let biased = Int(amaxBits >> 23)
        // ⌊log₂ amax⌋: the unbiased exponent; for a subnormal, the position of its top mantissa bit.
        let floorLog2 = biased != 0 ? biased - 127 : (31 - amaxBits.leadingZeroBitCount) - 149
        let shared = Swift.min(Swift.max(floorLog2 - format.maxExponent, -127), 127)
        return UInt8(shared + 127)
    }

    /// Packs `elements` (each < 2^bits) LSB-first into `bytes`.
    static func pack(_ elements: [UInt8], bits: Int, into bytes: inout ArraySlice<UInt8>) {
        let base = bytes.startIndex
        for (i, element) in elements.enumerated() {
            let bit = i * bits
            bytes[base + bit / 8] |= UInt8(truncatingIfNeeded: Int(element) << (bit % 8))
            if bit % 8 + bits > 8 { bytes[base + bit / 8 + 1] |= UInt8(truncatingIfNeeded: Int(element) >> (8 - bit % 8)) }
        }
    }

    /// Element i of a row's packed bytes.
    @inline(__always)
    static func element(_ row: UnsafePointer<UInt8>, _ i: Int, bits: Int) -> Int {
        let bit = i * bits
        let word = Int(row[bit / 8]) | (bit % 8 + bits > 8 ? Int(row[bit / 8 + 1]) << 8 : 0)
        return (word >> (bit % 8)) & ((1 << bits) - 1)
    }

    /// Decodes rows of packed codes into floats [rows, columns]: element × 2^(scale − 127), NaN
    /// for a block whose scale is NaN. The one definition every MX kernel is tested against.
    public static func decode(_ format: MXFormat, rows: Int, columns: Int, codes: UnsafePointer<UInt8>,
                              scales: UnsafePointer<UInt8>, into output: UnsafeMutablePointer<Float>, table: [Float]) {
        let rowBytes = Self.rowBytes(format, columns: columns), blocks = Self.blocksPerRow(columns: columns)
        for row in 0..<rows {
            let packed = codes + row * rowBytes
            for block in 0..<blocks {
                let scaleCode = scales[row * blocks + block]
                let scale: Float = scaleCode == MXFormat.nanScale ? .nan : Float(sign: .plus, exponent: Int(scaleCode) - 127, significand: 1)
                for i in (block * MXFormat.blockSize)..<Swift.min((block + 1) * MXFormat.blockSize, columns) {
                    output[row * columns + i] = table[element(packed, i, bits: format.bits)] * scale
                }
            }
        }
    }
}
