import CoreRuntime
import Dispatch
import Foundation
import HWBackends
import Synchronization
import Testing

/// The bundled digits models, opened from the repository as a user would.
@Suite struct DigitsModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The test split's images, from the committed .npy file (float32 [360, 64], 128-byte header).
    static func images() throws -> [Float] {
        let data = try Data(contentsOf: root.appendingPathComponent("data/digits_test_x.npy"))
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        return data.subdata(in: (10 + headerLength)..<data.count).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    @Test(arguments: ["digits_mlp", "digits_cnn"])
    func eightThreadsOnOneSessionMatchOneThread(_ name: String) throws {
        let model = try Model(path: Self.root.appendingPathComponent("models/\(name).swl").path)
        let session = try Session(model: model, options: SessionOptions())
        let pixels = try Self.images()
        let perImage = name == "digits_mlp" ? [64] : [1, 8, 8]
        let batches = [1, 2, 5, 16].map { size in
            HostTensor(Array(pixels[(size * 64)..<(size * 2 * 64)]), shape: [size] + perImage)
        }
        let expected = try batches.map { try session.run(["input": $0]).outputs["logits"]! }
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<40 {
                let index = (thread * 3 + round) % batches.count
                if (try? session.run(["input": batches[index]]).outputs["logits"]) != expected[index] {
                    mismatches.withLock { $0 += 1 }
                }
            }
        }
        #expect(mismatches.withLock { $0 } == 0)
    }
}
