#if canImport(Glibc)
import Glibc
#endif
import CKernels
import Testing

/// fast_math.c's vector exp/erf/GELU/softmax (on this machine's path, AVX2 or portable) against libm, over the ranges they meet (scores
/// after subtracting the row maximum, GELU inputs) and the edges (underflow, sign, ragged tails).
@Suite struct FastMathTests {
    /// 20 001 points evenly spread over [low, high].
    static func grid(_ low: Float, _ high: Float) -> [Float] {
        (0...20_000).map { low + (high - low) * Float($0) / 20_000 }
    }

    @Test func expIsWithinFourUlpOfLibm() {
        var values = Self.grid(-87, 88)
        let expected = values.map { expf($0) }
        values.withUnsafeMutableBufferPointer { swk_exp($0.baseAddress!, Int64($0.count)) }
        for (got, want) in zip(values, expected) {
            #expect(abs(got - want) <= 4 * want.ulp, "exp: got \(got), libm \(want)")
        }
    }

    @Test func expSaturatesBelowTheNormalRange() {
        var values: [Float] = [-88, -100, -1e30, -.greatestFiniteMagnitude, 0]
        values.withUnsafeMutableBufferPointer { swk_exp($0.baseAddress!, Int64($0.count)) }
        #expect(values[0..<4].allSatisfy { $0 >= 0 && $0 < 1.3e-38 })
        #expect(values[4] == 1)
    }

    @Test func erfIsWithinThreeTenMillionthsOfLibm() {
        let values = Self.grid(-6, 6)
        var got = values
        got.withUnsafeMutableBufferPointer { swk_erf($0.baseAddress!, Int64($0.count)) }
        for (got, want) in zip(got, values.map { erff($0) }) {
            #expect(abs(got - want) <= 3e-7, "erf: got \(got), libm \(want)")
        }
    }

    @Test func erfKeepsItsRelativeAccuracyNearZero() {
        let values: [Float] = [1e-30, 1e-8, -1e-6, 3e-4, 0.1, -0.3, 0.4999, 0.5, 0.7]
        var got = values
        got.withUnsafeMutableBufferPointer { swk_erf($0.baseAddress!, Int64($0.count)) }
        for (x, value) in zip(values, got) {
            #expect(abs(value - erff(x)) <= 3e-7 * abs(erff(x)), "erf(\(x)): got \(value), libm \(erff(x))")
        }
        var zero: [Float] = [-0.0]
        zero.withUnsafeMutableBufferPointer { swk_erf($0.baseAddress!, 1) }
        #expect(zero[0] == 0 && zero[0].sign == .minus)
    }

    @Test(arguments: [1, 7, 8, 9, 1000, 1003])
    func geluFormsMatchTheirFormulasOnRaggedLengths(_ count: Int) {
        let inputs = (0..<count).map { Float($0 % 97) * 0.125 - 6 }
        var exact = inputs, tanhForm = inputs
        exact.withUnsafeMutableBufferPointer { swk_gelu($0.baseAddress!, Int64(count)) }
        tanhForm.withUnsafeMutableBufferPointer { swk_gelu_tanh($0.baseAddress!, Int64(count)) }
        for (i, x) in inputs.enumerated() {
            let wantExact = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            let wantTanh = 0.5 * Double(x) * (1 + tanh((2 / Double.pi).squareRoot() * (Double(x) + 0.044715 * pow(Double(x), 3))))
            #expect(abs(Double(exact[i]) - wantExact) <= 1e-6 * max(1, abs(wantExact)), "gelu(\(x))")
            #expect(abs(Double(tanhForm[i]) - wantTanh) <= 1e-6 * max(1, abs(wantTanh)), "gelu_tanh(\(x))")
        }
    }

    @Test func softmaxSumsToOneAndMasksToZero() {
        var row: [Float] = (0..<13).map { Float($0) * 0.7 - 3 }
        row[4] = -.greatestFiniteMagnitude  // a padded key: the additive mask exporters write
        let expected = row.map { exp(Double($0) - Double(row.max()!)) }
        let total = expected.reduce(0, +)
        row.withUnsafeMutableBufferPointer { swk_softmax($0.baseAddress!, Int64($0.count)) }
        for (got, want) in zip(row, expected) { #expect(abs(Double(got) - want / total) <= 1e-6) }
        #expect(row[4] < 1e-30)

        var masked = [Float](repeating: -.infinity, count: 5)
        masked.withUnsafeMutableBufferPointer { swk_softmax($0.baseAddress!, Int64($0.count)) }
        #expect(masked == [0, 0, 0, 0, 0])
    }

    /// Rows of 19: two vectors of 8 and a tail of 3, so the AVX2 path's vector loop and its scalar
    /// tail both see each case.
    static func softmax(_ row: [Float]) -> [Float] {
        var row = row
        row.withUnsafeMutableBufferPointer { swk_softmax($0.baseAddress!, Int64($0.count)) }
        return row
    }

    @Test func softmaxRowsSpanningVectorsAndTail() {
        let width = 19
        // Every key masked: zeros, not 1/19 or NaN.
        #expect(Self.softmax([Float](repeating: -.infinity, count: width)) == [Float](repeating: 0, count: width))
        // −∞ in a vector lane and in the tail: exactly 0; the rest as numpy's softmax would give.
        var row = (0..<width).map { Float($0) * 0.25 - 2 }
        row[3] = -.infinity
        row[17] = -.infinity
        let finite = row.filter(\.isFinite).map(Double.init)
        let total = finite.map { exp($0 - finite.max()!) }.reduce(0, +)
        for (got, x) in zip(Self.softmax(row), row) {
            #expect(x.isFinite ? abs(Double(got) - exp(Double(x) - finite.max()!) / total) <= 1e-6 : got == 0)
        }
        // NaN anywhere, in a lane or only in the tail, makes the whole row NaN, −∞ entries included.
        for position in [5, 18] {
            var poisoned = [Float](repeating: -.infinity, count: width)
            poisoned[0] = 1
            poisoned[position] = .nan
            let weights = Self.softmax(poisoned)
            #expect(weights.allSatisfy { $0.isNaN }, "NaN at \(position)")
        }
        // Equal scores weigh the same wherever they sit: the vector exp and the tail's round alike.
        // (With the last step rounded differently, 4 of these 50 rows had unequal weights.)
        for trial in 0..<50 {
            var equal = [Float](repeating: -1.37 - 0.011 * Float(trial), count: width)
            equal[0] = 2.5
            let weights = Self.softmax(equal)
            #expect(Set(weights.dropFirst()).count == 1, "\(equal[1]): \(weights)")
        }
    }
}

