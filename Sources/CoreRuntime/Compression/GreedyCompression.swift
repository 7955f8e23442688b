/// `swiftlet compress --auto`: AxFormer's greedy procedure. Layers are tried in order of rising
/// significance (least significant first); each is moved to the aggressive encoding on top of
/// every change kept so far, the result is re-run on the data, and the change is kept only if
///  - the model's loss stays within `maxLossIncrease` of the unmodified model's, and
///  - with labels, of the samples whose classification the change flips, most do no worse: no
///    more turn wrong than turn right (AxFormer's "most samples do no worse", read on the
///    samples the change affects — a small change nudges nearly every sample's loss a little
///    up or down, which says nothing). Without labels the divergence from the unmodified model
///    only grows with each change, so the budget alone decides.
/// The search stops once the layers' average bits per weight reach `targetBits`, if given.
/// Layers it does not move keep the base plan's encoding, so the result is mixed precision.
public enum GreedyCompression {
    public struct Step: Sendable {
        public let layer: String
        public let kept: Bool
        /// The loss and bits per weight with this change (whether kept or not).
        public let loss: Double
        public let bitsPerWeight: Double
        public let worseFraction: Double
        /// With labels: samples the change turned wrong and turned right.
        public let lost: Int
        public let gained: Int
    }

    public struct Outcome: Sendable {
        /// The base plan with one rule per kept change (those rules first).
        public let plan: Compressor.Plan
        public let steps: [Step]
        public let loss: Double
        public let bitsPerWeight: Double
        /// True when `targetBits` was given and reached.
        public let reachedTarget: Bool
    }

    public static func run(_ analysis: SignificanceAnalysis, base: Compressor.Plan, aggressive: LayerEncoding,
                           order: [String], maxLossIncrease: Double, targetBits: Double?,
                           progress: (Step) -> Void = { _ in }) throws -> Outcome {
        var plan = base
        var (current, bits, _) = try analysis.evaluate(plan)
        var steps: [Step] = []
        if let targetBits, bits <= targetBits {
            return Outcome(plan: plan, steps: [], loss: current.loss, bitsPerWeight: bits, reachedTarget: true)
        }
        var kept = 0
        for layer in order {
            var candidate = plan
            candidate.rules.insert((SignificanceAnalysis.exactPattern(layer), aggressive), at: kept)
            let (evaluation, candidateBits, _) = try analysis.evaluate(candidate)
            let (lost, gained) = evaluation.flips(from: current)
            let keep = evaluation.loss - analysis.baseline.loss <= maxLossIncrease && lost <= gained
            let step = Step(layer: layer, kept: keep, loss: evaluation.loss, bitsPerWeight: candidateBits,
                            worseFraction: evaluation.worseFraction(than: current), lost: lost, gained: gained)
            steps.append(step)
            progress(step)
            guard keep else { continue }
            plan = candidate
            kept += 1
            (current, bits) = (evaluation, candidateBits)
            if let targetBits, bits <= targetBits {
                return Outcome(plan: plan, steps: steps, loss: current.loss, bitsPerWeight: bits, reachedTarget: true)
            }
        }
        return Outcome(plan: plan, steps: steps, loss: current.loss, bitsPerWeight: bits, reachedTarget: false)
    }
}
