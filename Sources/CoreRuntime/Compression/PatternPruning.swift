/// A convolution weight [M, C/group, kH, kW] pruned by patterns (PatDNN): every kept kernel
/// (output channel m, input channel c) keeps the taps of one pattern from a small set, and whole
/// kernels are removed (connectivity pruning). `kernelPointers[m] ..< kernelPointers[m+1]` index
/// output channel m's kept kernels; kept kernel s reads input channel `channels[s]` (within m's
/// group, increasing per m), keeps the taps `patterns[patternIDs[s]]` (positions i·kW + j,
/// increasing) with weights `values[s·E ..< (s+1)·E]`.
public struct PatternSparseWeight: Sendable {
    /// P patterns of E positions each, row-major [P, E].
    public let patterns: [Int32]
    public let entries: Int
    public var kernelPointers: [Int32] = [0]
    public var channels: [Int32] = []
    public var patternIDs: [UInt8] = []
    public var values: [Float] = []

    /// PatDNN's kind of set for 3×3 kernels: four taps, the centre always among them — the four
    /// 2×2 squares around the centre and the four T shapes (the centre and three of its four
    /// neighbours). Positions i·3 + j.
    public static let standardPatterns: [[Int]] = [
        [0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8],
        [1, 3, 4, 5], [1, 3, 4, 7], [1, 4, 5, 7], [3, 4, 5, 7],
    ]

    /// The fraction of a kernel's weights patterns of `entries` taps remove on their own.
    public static func patternSparsity(kernelSize: Int, entries: Int) -> Double { 1 - Double(entries) / Double(kernelSize) }

    /// Prunes `dense` ([M, C/group, kH, kW], `shape`): each kernel takes the pattern that keeps
    /// the most of its energy (Σ w², first pattern on ties), then the kernels keeping the least
    /// energy are removed (lowest index first on ties) until `sparsity` of all weights are gone.
    /// `sparsity` must be at least what the patterns remove alone.
    public init(pruning dense: [Float], shape: [Int], patterns: [[Int]], sparsity: Double) throws {
        precondition(shape.count == 4 && dense.count == shape.reduce(1, *) && (1...256).contains(patterns.count))
        let (m, cg, kernelSize) = (shape[0], shape[1], shape[2] * shape[3])
        let entries = patterns[0].count
        precondition(entries >= 1)
        precondition(patterns.allSatisfy { $0.count == entries && $0.allSatisfy { (0..<kernelSize).contains($0) } })
        let floor = Self.patternSparsity(kernelSize: kernelSize, entries: entries)
        guard sparsity >= floor - 1e-9, sparsity <= 1 else {
            let text = PruningPattern.sparsityText(floor)
            throw SwiftletError.invalidArgument("patterns of \(entries) of \(kernelSize) taps remove \(text) of the weights on their own: --sparsity must lie in \(text)…1, got \(sparsity)")
        }
        self.patterns = patterns.flatMap { $0.map(Int32.init) }
        self.entries = entries

        let kernels = m * cg
        var chosen = [Int](repeating: 0, count: kernels), energy = [Float](repeating: 0, count: kernels)
        for kernel in 0..<kernels {
            let taps = dense[(kernel * kernelSize)..<((kernel + 1) * kernelSize)]
            for (index, pattern) in patterns.enumerated() {
                let kept = pattern.reduce(Float(0)) { $0 + taps[taps.startIndex + $1] * taps[taps.startIndex + $1] }
                if index == 0 || kept > energy[kernel] { (chosen[kernel], energy[kernel]) = (index, kept) }
            }
        }
        // Connectivity: the share of kernels to remove so that kept taps / all weights = 1 − sparsity.
        let removedShare = max(0, (sparsity - floor) / (1 - floor))  // floor < 1: entries ≥ 1
        let removedCount = Int((removedShare * Double(kernels)).rounded())
        var removed = [Bool](repeating: false, count: kernels)
        for kernel in (0..<kernels).sorted(by: { (energy[$0], $0) < (energy[$1], $1) }).prefix(removedCount) { removed[kernel] = true }
        for output in 0..<m {
            for channel in 0..<cg where !removed[output * cg + channel] {
                let kernel = output * cg + channel
                channels.append(Int32(channel))
                patternIDs.append(UInt8(chosen[kernel]))
                values += patterns[chosen[kernel]].map { dense[kernel * kernelSize + $0] }
            }
            kernelPointers.append(Int32(channels.count))
        }
    }

    /// Checks the arrays (as read from a file) so kernels can trust them: patterns hold distinct
    /// increasing positions inside the kernel; kernel pointers start at 0, never decrease and end
    /// at the kept kernel count; each output channel's input channels are in range and
    /// increasing; pattern ids name a pattern. Throws a message naming the first fault.
    public static func validate(shape: [Int], patterns: UnsafeBufferPointer<Int32>, entries: Int,
                                kernelPointers: UnsafeBufferPointer<Int32>, channels: UnsafeBufferPointer<Int32>,
                                patternIDs: UnsafeBufferPointer<UInt8>) throws {
        let (m, cg, kernelSize) = (shape[0], shape[1], shape[2] * shape[3])
        let patternCount = patterns.count / entries  // entries ≥ 1: checked with the types
        for p in 0..<patternCount {
            var previous = -1
            for e in 0..<entries {
                let position = Int(patterns[p * entries + e])
                guard position > previous, position < kernelSize else {
                    throw SwiftletError.invalidModel("pattern \(p): position \(position) is out of range 0..<\(kernelSize) or not increasing")
                }
                previous = position
            }
        }
        guard kernelPointers.count == m + 1, kernelPointers.first == 0, Int(kernelPointers.last!) == channels.count else {
            throw SwiftletError.invalidModel("kernel pointers must be \(m + 1) entries running from 0 to the kernel count \(channels.count)")
        }
        for output in 0..<m {
            let start = Int(kernelPointers[output]), end = Int(kernelPointers[output + 1])
            guard start <= end, end <= channels.count else { throw SwiftletError.invalidModel("kernel pointers decrease at output channel \(output)") }
            var previous = -1
            for s in start..<end {
                let channel = Int(channels[s])
                guard channel > previous, channel < cg else {
                    throw SwiftletError.invalidModel("output channel \(output): input channel \(channel) is out of range 0..<\(cg) or not increasing")
                }
                guard Int(patternIDs[s]) < patternCount else {
                    throw SwiftletError.invalidModel("kernel \(s): pattern id \(patternIDs[s]) is out of range 0..<\(patternCount)")
                }
                previous = channel
            }
        }
    }

    /// The dense weight [M, C/group, kH, kW] (the reference kernels' view).
    public static func densify(shape: [Int], patterns: UnsafePointer<Int32>, entries: Int, kernelPointers: UnsafePointer<Int32>,
                               channels: UnsafePointer<Int32>, patternIDs: UnsafePointer<UInt8>, values: UnsafePointer<Float>,
                               into dense: UnsafeMutablePointer<Float>) {
        let (m, cg, kernelSize) = (shape[0], shape[1], shape[2] * shape[3])
        dense.update(repeating: 0, count: m * cg * kernelSize)
        for output in 0..<m {
            for s in Int(kernelPointers[output])..<Int(kernelPointers[output + 1]) {
                let kernel = dense + (output * cg + Int(channels[s])) * kernelSize
                for e in 0..<entries { kernel[Int(patterns[Int(patternIDs[s]) * entries + e])] = values[s * entries + e] }
            }
        }
    }
}
