import Foundation
import Testing
@testable import CoreRuntime
import TestSupport

@Suite struct SessionTests {
    func session(_ spec: ModelSpec = smallMLP(), backend: any Backend = ReferenceBackend(), optimize: Bool = true) throws -> Session {
        var options = SessionOptions()
        options.optimizeGraph = optimize
        return try Session(model: try spec.model(), backend: backend, fallback: ReferenceBackend(), options: options)
    }

    func expectError(_ kind: SwiftletError.Kind, mentioning fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(kind)", sourceLocation: sourceLocation)
        } catch let error as SwiftletError {
            #expect(error.kind == kind, "\(error.message)", sourceLocation: sourceLocation)
            #expect(error.message.contains(fragment), "'\(error.message)' should mention '\(fragment)'", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func dynamicBatchSizesEachGetAPlanAndSoftmaxRowsSumToOne() throws {
        let s = try session()
        var random = Random(1)
        for batch in [1, 3, 17, 0] {
            let (outputs, report) = try s.run(["input": HostTensor(random.floats(batch * 4), shape: [batch, 4])])
            let probs = outputs["probs"]!
            #expect(probs.shape == [batch, 3])
            for row in 0..<batch {
                let sum = probs.floats[(row * 3)..<(row * 3 + 3)].reduce(0, +)
                #expect(abs(sum - 1) < 1e-6)
            }
            // Gemm, Gemm (the Relu fused into the first), Softmax; empty outputs run no kernel.
            #expect(report.nodeCount == (batch == 0 ? 0 : 3))
            #expect(report.flops >= 2 * batch * (4 * 5 + 5 * 3))
        }
    }

    @Test func badInputsAreRejectedWithTheirName() throws {
        let s = try session()
        let good = HostTensor([Float](repeating: 0, count: 8), shape: [2, 4])
        expectError(.notFound, mentioning: "'nope'") { _ = try s.run(["nope": good]) }
        expectError(.invalidArgument, mentioning: "rank 1") { _ = try s.run(["input": HostTensor([0, 0, 0, 0], shape: [4])]) }
        expectError(.invalidArgument, mentioning: "expected 4") { _ = try s.run(["input": HostTensor([0, 0, 0], shape: [1, 3])]) }
        expectError(.invalidArgument, mentioning: "must be F32") {
            _ = try s.run(["input": HostTensor(dtype: .i64, shape: [1, 4], bytes: [UInt8](repeating: 0, count: 32))])
        }
        var outputs: [OutputBinding] = []
        expectError(.invalidArgument, mentioning: "16 bytes given") {
            try good.bytes.withUnsafeBytes { raw in
                _ = try s.run(inputs: [InputBinding(name: "input", dtype: .f32, shape: [2, 4], data: raw.baseAddress, byteCount: 16)], outputs: &outputs)
            }
        }
        expectError(.invalidArgument, mentioning: "2 given") {
            try good.bytes.withUnsafeBytes { raw in
                let binding = InputBinding(name: "input", dtype: .f32, shape: [2, 4], data: raw.baseAddress, byteCount: 32)
                _ = try s.run(inputs: [binding, binding], outputs: &outputs)
            }
        }
        let twoInputs = try session(ModelSpec(inputs: [f32("a", [.fixed(2)]), f32("b", [.fixed(2)])], outputs: [f32("c", [.fixed(2)])],
                                              nodes: [("Add", ["a", "b"], ["c"], [:])]))
        expectError(.invalidArgument, mentioning: "'b' is given twice") {
            try [Float(1), 2].withUnsafeBytes { raw in
                let named = InputBinding(name: "b", dtype: .f32, shape: [2], data: raw.baseAddress, byteCount: 8)
                let positional = InputBinding(name: nil, dtype: .f32, shape: [2], data: raw.baseAddress, byteCount: 8)
                _ = try twoInputs.run(inputs: [named, positional], outputs: &outputs)
            }
        }
        expectError(.invalidArgument, mentioning: "'n' is 3 elsewhere") {
            let mixed = try session(ModelSpec(inputs: [f32("a", [.symbol("n")]), f32("b", [.symbol("n")])], outputs: [f32("c", [.symbol("n")])],
                                              nodes: [("Add", ["a", "b"], ["c"], [:])]))
            _ = try mixed.run(["a": HostTensor([1, 2, 3], shape: [3]), "b": HostTensor([1, 2], shape: [2])])
        }
    }

    @Test func tooSmallOutputsReportTheirShapeAndAreLeftAlone() throws {
        let s = try session()
        let input = HostTensor([Float](repeating: 0.5, count: 12), shape: [3, 4])
        var sentinel = [Float](repeating: -7, count: 4)
        input.bytes.withUnsafeBytes { raw in
            sentinel.withUnsafeMutableBytes { out in
                var outputs = [OutputBinding(name: "probs", dtype: .f32, data: out.baseAddress, capacity: out.count)]
                expectError(.bufferTooSmall, mentioning: "'probs'") {
                    _ = try s.run(inputs: [InputBinding(name: nil, dtype: .f32, shape: [3, 4], data: raw.baseAddress, byteCount: 48)], outputs: &outputs)
                }
                #expect(outputs[0].shape == [3, 3])
            }
        }
        #expect(sentinel == [-7, -7, -7, -7])
    }

    /// A backend that takes only Relu, to see the planner route the rest to the fallback.
    struct ReluOnly: Backend {
        var name: String { "relu-only" }
        func supports(_ node: Node) -> Bool { node.opType == "Relu" }
        func prepare(_ node: Node, inputs: [TensorType?], outputs: [TensorType]) throws -> PreparedKernel {
            PreparedKernel(try node.op.referenceKernel(inputs, outputs))
        }
    }

    @Test func unsupportedNodesFallBackAndAreCounted() throws {
        // Without graph passes, so the Relu stays a node of its own.
        let s = try session(backend: ReluOnly(), optimize: false)
        let (_, report) = try s.run(["input": HostTensor([Float](repeating: 1, count: 4), shape: [1, 4])], profile: true)
        #expect(report.fallbackNodeCount == 3)
        #expect(report.nodes.map(\.backend) == ["reference", "relu-only", "reference", "reference"])
    }

    @Test func batchNormFoldsIntoConvWithTheSameResult() throws {
        var random = Random(5)
        let spec = ModelSpec(
            inputs: [f32("x", [.symbol("n"), .fixed(3), .fixed(6), .fixed(5)])],
            outputs: [f32("y", [.symbol("n"), .fixed(4), .fixed(3), .fixed(2)])],
            nodes: [
                ("Conv", ["x", "w"], ["c"], ["strides": .array([.int(2), .int(2)]), "pads": .array([.int(1), .int(1), .int(1), .int(0)])]),
                ("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["y"], ["epsilon": .double(1e-3)]),
            ],
            tensors: [
                "w": HostTensor(random.floats(4 * 3 * 3 * 3), shape: [4, 3, 3, 3]), "scale": HostTensor(random.floats(4), shape: [4]),
                "bias": HostTensor(random.floats(4), shape: [4]), "mean": HostTensor(random.floats(4), shape: [4]),
                "var": HostTensor(random.floats(4).map { $0 + 1.5 }, shape: [4]),
            ])
        let x = HostTensor(random.floats(2 * 3 * 6 * 5), shape: [2, 3, 6, 5])
        let (folded, foldedReport) = try session(spec, optimize: true).run(["x": x])
        let (plain, plainReport) = try session(spec, optimize: false).run(["x": x])
        #expect(foldedReport.nodeCount == 1)
        #expect(plainReport.nodeCount == 2)
        for (a, b) in zip(folded["y"]!.floats, plain["y"]!.floats) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
    }

    /// Attribute values at the edges of Int must give an answer or an error, never a trap.
    @Test func extremeSliceAndSplitAttributesAreSafe() throws {
        let slice = ModelSpec(inputs: [f32("x", [.fixed(4)])], outputs: [f32("y", [.fixed(1)])],
                              nodes: [("Slice", ["x"], ["y"], ["starts": .array([.int(3)]), "ends": .array([.int(Int.min)]),
                                                              "steps": .array([.int(Int.min)])])])
        #expect(try session(slice).run(["x": HostTensor([1, 2, 3, 4], shape: [4])]).outputs["y"]!.floats == [4])
        let split = ModelSpec(inputs: [f32("x", [.fixed(4)])], outputs: [f32("a", [.fixed(2)]), f32("b", [.fixed(2)])],
                              nodes: [("Split", ["x"], ["a", "b"], ["split": .array([.int(1 << 62), .int(1 << 62)])])])
        expectError(.invalidArgument, mentioning: "does not add up") { _ = try session(split).run(["x": HostTensor([1, 2, 3, 4], shape: [4])]) }
    }

    /// Zero-element tensors may carry huge dims that enter shape arithmetic and loops: bounded
    /// at the door, and steps whose outputs are all empty are neither prepared nor run.
    @Test func emptyTensorsWithHugeDimsAreBoundedOrSkipped() throws {
        let softmax = ModelSpec(inputs: [f32("x", [.symbol("a"), .symbol("b")])], outputs: [f32("y", [.symbol("a"), .symbol("b")])],
                                nodes: [("Softmax", ["x"], ["y"], [:])])
        let s = try session(softmax)
        expectError(.invalidArgument, mentioning: "outside 0...2147483647") {
            _ = try s.run(["x": HostTensor([], shape: [1 << 40, 0])])
        }
        // Within the bounds: an empty output, computed instantly (the old kernel looped 2³¹ times).
        let (outputs, report) = try s.run(["x": HostTensor([], shape: [Shape.maxDim, 0])])
        #expect(outputs["y"]!.shape == [Shape.maxDim, 0])
        #expect(report.nodeCount == 0)
    }

    @Test func emptyProductsAreZerosNotLeftoverMemory() throws {
        let gemm = ModelSpec(inputs: [f32("a", [.fixed(2), .symbol("k")]), f32("b", [.symbol("k"), .fixed(2)])],
                             outputs: [f32("y", [.fixed(2), .fixed(2)])], nodes: [("Gemm", ["a", "b"], ["y"], [:])])
        let s = try session(gemm)
        // A first run leaves NaN in the arena; the K = 0 run must not read it back.
        _ = try s.run(["a": HostTensor([.nan, .nan], shape: [2, 1]), "b": HostTensor([1, 1], shape: [1, 2])])
        #expect(try s.run(["a": HostTensor([], shape: [2, 0]), "b": HostTensor([], shape: [0, 2])]).outputs["y"]!.floats == [0, 0, 0, 0])
    }

    /// Parameters given as tensors are computed when the run is planned, from input shapes:
    /// here y = Reshape(x, [batch · 2, -1]) with the target built from Shape(x).
    @Test func parameterInputsAreComputedFromInputShapesWhenPlanning() throws {
        func i64(_ values: [Int64], _ shape: [Int]) -> HostTensor {
            HostTensor(dtype: .i64, shape: shape, bytes: values.withUnsafeBytes { Array($0) })
        }
        let spec = ModelSpec(
            inputs: [f32("x", [.symbol("n"), .fixed(4)])],
            outputs: [f32("y", [.symbol("m"), .fixed(2)])],
            nodes: [
                ("Shape", ["x"], ["s"], ["end": .int(1)]),
                ("Mul", ["s", "two"], ["rows"], [:]),
                ("Concat", ["rows", "minus1"], ["target"], ["axis": .int(0)]),
                ("Reshape", ["x", "target"], ["y"], [:]),
            ],
            tensors: ["two": i64([2], [1]), "minus1": i64([-1], [1])])
        let s = try session(spec)
        for batch in [3, 1, 3] {
            let x = HostTensor((0..<(batch * 4)).map(Float.init), shape: [batch, 4])
            let (outputs, report) = try s.run(["x": x])
            #expect(outputs["y"]!.shape == [batch * 2, 2])
            #expect(outputs["y"]!.floats == x.floats)
            #expect(report.nodeCount == 0)  // shape arithmetic at planning time; Reshape is a view
        }
        // A parameter read from tensor data cannot be planned for.
        var dataDependent = spec
        dataDependent.inputs.append(ValueInfo(name: "t", dtype: .i64, dims: [.fixed(2)]))
        dataDependent.nodes[3].inputs = ["x", "t"]
        expectError(.unsupported, mentioning: "must be computable when the plan is made") {
            _ = try session(dataDependent).run(["x": HostTensor([0, 0, 0, 0], shape: [1, 4]), "t": i64([2, 2], [2])])
        }
    }

    @Test func reluLetsNaNThrough() throws {
        let relu = ModelSpec(inputs: [f32("x", [.fixed(3)])], outputs: [f32("y", [.fixed(3)])], nodes: [("Relu", ["x"], ["y"], [:])])
        let y = try session(relu).run(["x": HostTensor([.nan, -1, 2], shape: [3])]).outputs["y"]!.floats
        #expect(y[0].isNaN && y[1] == 0 && y[2] == 2)
    }

    /// Relu/Clip after Conv/Gemm become the producer's clamp: the same numbers, fewer nodes;
    /// not when the producer's output is read elsewhere.
    @Test func activationsFuseIntoTheirProducer() throws {
        var random = Random(11)
        let spec = ModelSpec(
            inputs: [f32("x", [.symbol("n"), .fixed(2), .fixed(5), .fixed(5)])],
            outputs: [f32("y", [.symbol("n"), .fixed(3)]), f32("raw", [.symbol("n"), .fixed(3)])],
            nodes: [
                ("Conv", ["x", "w"], ["c"], ["pads": .array([.int(1), .int(1), .int(1), .int(1)])]),
                ("Relu", ["c"], ["r"], [:]),
                ("Flatten", ["r"], ["f"], [:]),
                ("Gemm", ["f", "fc", "fb"], ["raw"], ["transB": .int(1)]),
                ("Clip", ["raw"], ["y"], ["min": .double(-0.5), "max": .double(0.25)]),
            ],
            tensors: ["w": HostTensor(random.floats(4 * 2 * 9), shape: [4, 2, 3, 3]),
                      "fc": HostTensor(random.floats(3 * 100), shape: [3, 100]), "fb": HostTensor(random.floats(3), shape: [3])])
        let x = HostTensor(random.floats(2 * 2 * 25), shape: [2, 2, 5, 5])
        let (fused, fusedReport) = try session(spec, optimize: true).run(["x": x])
        let (plain, plainReport) = try session(spec, optimize: false).run(["x": x])
        // Relu fuses into the Conv; the Clip cannot, because the Gemm's output is also a graph output.
        #expect(fusedReport.nodeCount == 3)
        #expect(plainReport.nodeCount == 4)
        #expect(fused["y"] == plain["y"])
        #expect(fused["raw"] == plain["raw"])
        #expect(fused["y"]!.floats.allSatisfy { (-0.5...0.25).contains($0) })
    }

    @Test func viewsShareMemoryAndGraphOutputsCanBeViews() throws {
        let spec = ModelSpec(
            inputs: [f32("x", [.symbol("n"), .fixed(6)])],
            outputs: [f32("flat", [.symbol("n"), .fixed(2), .fixed(3)]), f32("t", [.fixed(3), .fixed(2), .symbol("n")])],
            nodes: [
                ("Relu", ["x"], ["r"], [:]),
                ("Reshape", ["r"], ["flat"], ["shape": .array([.int(0), .int(2), .int(-1)])]),
                ("Transpose", ["flat"], ["t"], [:]),
            ])
        let (outputs, report) = try session(spec).run(["x": HostTensor([1, -2, 3, -4, 5, -6], shape: [1, 6])])
        #expect(outputs["flat"]!.floats == [1, 0, 3, 0, 5, 0])
        #expect(outputs["t"]!.floats == [1, 0, 0, 5, 3, 0])
        #expect(report.nodeCount == 2)  // the Reshape runs no kernel
    }

    @Test func eightThreadsShareOneSessionAndAgreeWithOneThread() throws {
        let s = try session()
        var random = Random(9)
        let inputs = (1...8).map { batch in HostTensor(random.floats(batch * 4), shape: [batch, 4]) }
        let expected = try inputs.map { try s.run(["input": $0]).outputs["probs"]! }
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<50 {
                let index = (thread + round) % inputs.count
                let result = try? s.run(["input": inputs[index]]).outputs["probs"]
                if result != expected[index] { mismatches.withLock { $0 += 1 } }
            }
        }
        #expect(mismatches.withLock { $0 } == 0)
    }
}

import Synchronization
