/// `Linear` with MX-encoded weights (weight-only: activations stay F32):
/// inputs X [… , K] F32, codes [N, ⌈K·bits/8⌉] U8, scales [N, ⌈K/32⌉] U8 (E8M0), bias? [N] F32;
/// attribute `format` (mxfp8-e4m3, mxfp8-e5m2, mxfp6-e2m3, mxfp6-e3m2, mxfp4, mxint8).
/// W[n, k] = element(codes, n, k) · 2^(scales[n, k/32] − 127) (`MXMatrix.decode`).
public struct MXLinearOp: EncodedLinearOp {
    public static let type = "MXLinear"
    public static let encodingInputs = 3
    public let activation: FusedActivation
    public let format: MXFormat
    /// The element values by code, computed once.
    public let decodeTable: [Float]

    public init(attributes: Attributes, inputCount: Int, outputCount: Int) throws {
        try attributes.allowOnly(["activation", "format"], op: Self.type)
        activation = try Self.parseActivation(attributes)
        let name = try attributes.string("format", default: "")
        guard let format = MXFormat(rawValue: name) else {
            throw attributes.error("format", "must be one of \(MXFormat.allCases.map(\.rawValue)), not \"\(name)\"")
        }
        self.format = format
        decodeTable = format.decodeTable
    }

    public func validateConstants(_ constants: [TensorType?]) throws {
        try requireConstantEncoding(constants)
        let codes = constants[1]!, scales = constants[2]!
        guard codes.dtype == .u8, codes.rank == 2 else { throw shapeError("codes must be a U8 matrix [N, bytes], got \(codes)") }
        guard scales.dtype == .u8, scales.rank == 2, scales.shape[0] == codes.shape[0] else {
            throw shapeError("scales must be a U8 matrix [\(codes.shape[0]), blocks], got \(scales)")
        }
    }

    /// K is X's last dim; the codes and scales must have exactly the bytes and blocks it needs.
    public func weightShape(_ inputs: [TensorType?]) throws -> (n: Int, k: Int) {
        let codes = inputs[1]!, scales = inputs[2]!
        let k = inputs[0]!.shape.last ?? 0
        guard codes.shape[1] == MXMatrix.rowBytes(format, columns: k), scales.shape[1] == MXMatrix.blocksPerRow(columns: k) else {
            throw shapeError("\(format.rawValue) weights for K = \(k) need codes [N, \(MXMatrix.rowBytes(format, columns: k))] and scales [N, \(MXMatrix.blocksPerRow(columns: k))], got \(codes.shape) and \(scales.shape)")
        }
        return (codes.shape[0], k)
    }

    public func decodeWeight(_ args: KernelArguments, _ inputs: [TensorType?], n: Int, k: Int, into dense: UnsafeMutablePointer<Float>) {
        MXMatrix.decode(format, rows: n, columns: k, codes: args.input(1, as: UInt8.self), scales: args.input(2, as: UInt8.self),
                        into: dense, table: decodeTable)
    }
}
