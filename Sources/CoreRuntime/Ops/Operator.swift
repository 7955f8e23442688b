/// One operator type: attribute parsing (once, when the model opens), shape inference and
/// a cost model (once per input-shape signature), and the plain reference kernel that every
/// other backend is tested against.
///
/// Validation happens in `init` and `inferTypes` ("prepare"); kernels only compute ("eval").
public protocol Operator: Sendable {
    /// The op's name in the graph (`"Conv"`).
    static var type: String { get }
    static var inputArity: ClosedRange<Int> { get }
    static var outputArity: ClosedRange<Int> { get }

    /// Parses and range-checks attributes; throws `invalidModel` naming node and attribute.
    init(attributes: Attributes, inputCount: Int, outputCount: Int) throws

    /// Output types for concrete input types (nil = optional input absent). Throws
    /// `invalidArgument` describing the mismatch; the planner prefixes the node's name.
    func inferTypes(_ inputs: [TensorType?]) throws -> [TensorType]

    /// Floating-point operations for these types (multiply-add counts as 2).
    func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int

    /// Builds the reference kernel for these concrete types.
    func referenceKernel(_ inputs: [TensorType?], _ outputs: [TensorType]) throws -> Kernel

    /// True when output 0 is input 0's bytes under another shape: the planner then gives the
    /// output the input's memory and runs no kernel.
    var isView: Bool { get }

    /// Checks the operands whose types are known when the model opens (constant tensors; nil for
    /// the others), so a malformed weight is an invalid model, not a failure at the first run.
    /// Throws a message the caller prefixes with the node.
    func validateConstants(_ constants: [TensorType?]) throws

    /// Checks constant operands' *values* once when the model opens (sparse index arrays that
    /// kernels index with). Throws a message the caller prefixes with the node.
    func validateConstantValues(_ constants: [ConstantTensor?]) throws

    /// Output types when the inputs' values are known too (all of them, while planning). Ops
    /// whose output shape depends on values (Range) implement this; the default ignores them.
    func inferTypes(_ inputs: [TensorType?], values: [HostTensor?]) throws -> [TensorType]

    /// Integer-list attributes the op also accepts as tensor inputs, in input order from input 1
    /// on: a Reshape's "shape", a Slice's "starts", "ends", "axes", "steps". Their values must be
    /// known when a plan is made — constants, or arithmetic on input shapes.
    static var parameterInputs: [String] { get }
}

extension Operator {
    public var isView: Bool { false }
    public func validateConstants(_ constants: [TensorType?]) throws {}
    public func validateConstantValues(_ constants: [ConstantTensor?]) throws {}
    public static var parameterInputs: [String] { [] }
    public func inferTypes(_ inputs: [TensorType?], values: [HostTensor?]) throws -> [TensorType] { try inferTypes(inputs) }

    /// This op with tensor parameters (nil where absent) turned into its attributes, re-validated
    /// by the op's own `init`; the result takes only input 0.
    public func binding(_ parameters: [HostTensor?], attributes: Attributes, outputCount: Int) throws -> any Operator {
        var values = attributes.values
        for (name, tensor) in zip(Self.parameterInputs, parameters) {
            guard let tensor else { continue }
            guard tensor.dtype == .i64 || tensor.dtype == .i32, tensor.shape.count <= 1 else {
                throw SwiftletError.invalidArgument("parameter '\(name)' must be an I64 or I32 vector, got \(tensor.dtype.rawValue)\(tensor.shape)")
            }
            values[name] = .array(tensor.integers.map { .int($0) })
        }
        return try Self(attributes: Attributes(values, nodeName: attributes.nodeName), inputCount: 1, outputCount: outputCount)
    }
    public func flops(_ inputs: [TensorType?], _ outputs: [TensorType]) -> Int { 0 }
    public var type: String { Self.type }
}

/// A prepared kernel: types, strides and parameters are captured; calling it only computes.
/// Throws only for data-dependent failures (a Gather index out of range).
public typealias Kernel = @Sendable (KernelArguments) throws -> Void

/// A kernel and the scratch memory it needs while it runs (im2col columns, partial products).
/// The planner places scratch in the run's arena, alive for that one step only, so concurrent
/// runs never share it and nothing is allocated on the run path.
public struct PreparedKernel: Sendable {
    public let run: Kernel
    public let scratchBytes: Int

    public init(scratchBytes: Int = 0, _ run: @escaping Kernel) {
        self.run = run
        self.scratchBytes = scratchBytes
    }
}

/// The memory a kernel reads and writes in one run: pointers by value id.
public struct KernelArguments {
    let table: UnsafeBufferPointer<UnsafeMutableRawPointer?>
    let inputIDs: [Int]
    let outputIDs: [Int]
    /// `PreparedKernel.scratchBytes` of memory for this call only (nil when none was asked for).
    public let scratch: UnsafeMutableRawPointer?

    public init(table: UnsafeBufferPointer<UnsafeMutableRawPointer?>, inputIDs: [Int], outputIDs: [Int],
                scratch: UnsafeMutableRawPointer?) {
        self.table = table
        self.inputIDs = inputIDs
        self.outputIDs = outputIDs
        self.scratch = scratch
    }

    public func rawInput(_ index: Int) -> UnsafeRawPointer? {
        guard index < inputIDs.count, inputIDs[index] >= 0 else { return nil }
        return UnsafeRawPointer(table[inputIDs[index]])
    }

    public func input<T>(_ index: Int, as type: T.Type = Float.self) -> UnsafePointer<T> {
        rawInput(index)!.assumingMemoryBound(to: T.self)
    }

    public func optionalInput<T>(_ index: Int, as type: T.Type = Float.self) -> UnsafePointer<T>? {
        rawInput(index)?.assumingMemoryBound(to: T.self)
    }

    public func rawOutput(_ index: Int) -> UnsafeMutableRawPointer { table[outputIDs[index]]! }

    public func output<T>(_ index: Int, as type: T.Type = Float.self) -> UnsafeMutablePointer<T> {
        rawOutput(index).assumingMemoryBound(to: T.self)
    }

    /// Arguments for a kernel run as one part of this node's (a fused node running its parts'
    /// kernels): `inputs` (nil: absent) and `outputs` where that kernel finds them, and `scratch`.
    public static func composing(inputs: [UnsafeRawPointer?], outputs: [UnsafeMutableRawPointer],
                                 scratch: UnsafeMutableRawPointer?, _ body: (KernelArguments) throws -> Void) rethrows {
        try withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: inputs.count + outputs.count) { table in
            for (slot, input) in inputs.enumerated() { table[slot] = input.map(UnsafeMutableRawPointer.init(mutating:)) }
            for (index, output) in outputs.enumerated() { table[inputs.count + index] = output }
            try body(KernelArguments(table: UnsafeBufferPointer(table), inputIDs: inputs.indices.map { inputs[$0] == nil ? -1 : $0 },
                                     outputIDs: outputs.indices.map { inputs.count + $0 }, scratch: scratch))
        }
    }

    /// Runs `body` with these arguments but output 0 at `output`: a kernel whose result a second
    /// pass reads before writing the real output (a convolution that Z broadcasts to a larger shape).
    public func redirectingOutput(to output: UnsafeMutableRawPointer, _ body: (KernelArguments) throws -> Void) rethrows {
        try withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: table.count + 1) { pointers in
            _ = pointers.initialize(from: table)
            pointers[table.count] = output
            try body(KernelArguments(table: UnsafeBufferPointer(pointers), inputIDs: inputIDs,
                                     outputIDs: [table.count] + outputIDs.dropFirst(), scratch: scratch))
        }
    }
}

/// Shape-inference failures, phrased for the planner to prefix with the node.
func shapeError(_ problem: String) -> SwiftletError { .invalidArgument(problem) }

/// Requires `type` to be F32 (arithmetic ops' operands).
func requireFloat(_ type: TensorType, _ role: String) throws {
    guard type.dtype == .f32 else { throw SwiftletError.unsupported("\(role) must be F32, got \(type.dtype.rawValue)") }
}

/// The registry of operator types, by name.
extension Array {
    /// self[index] for each of `indices`, `absent` where an index is nil or past the end: what one
    /// part of a fused node sees of the node's inputs (ExpandDepthwiseConvOp, ConstantInputs.selecting).
    func picking(_ indices: [Int?], absent: Element) -> [Element] {
        indices.map { $0.map { $0 < count ? self[$0] : absent } ?? absent }
    }
}

public enum Operators {
    public static let all: [any Operator.Type] = [
        ShapeOp.self, CastOp.self, RangeOp.self, ErfOp.self, SqrtOp.self, PowOp.self,
        ReduceMeanOp.self, ReduceSumOp.self, LinearOp.self, Int8LinearOp.self, MXLinearOp.self, SparseLinearOp.self, SparseInt8LinearOp.self, PatternConvOp.self, AttentionOp.self, SkipLayerNormalizationOp.self,
        GemmOp.self, MatMulOp.self, ConvOp.self, ExpandDepthwiseConvOp.self, MaxPoolOp.self, AveragePoolOp.self,
        GlobalAveragePoolOp.self, BatchNormalizationOp.self,
        ReluOp.self, SigmoidOp.self, TanhOp.self, ClipOp.self, GeluOp.self,
        AddOp.self, SubOp.self, MulOp.self, DivOp.self,
        SoftmaxOp.self, LayerNormalizationOp.self, GatherOp.self,
        ReshapeOp.self, FlattenOp.self, SqueezeOp.self, UnsqueezeOp.self, IdentityOp.self,
        TransposeOp.self, SplitOp.self, ConcatOp.self, SliceOp.self,
    ]
    public static let byType: [String: any Operator.Type] =
        Dictionary(uniqueKeysWithValues: all.map { ($0.type, $0) })
}
