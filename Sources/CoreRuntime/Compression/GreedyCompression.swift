/// `swiftlet compress --auto`: AxFormer's greedy procedure. Candidate changes — a linear layer
/// moved to the aggressive encoding, a structure (attention head, FFN neuron group, block)
/// removed — are tried in order of rising significance (least significant first); each is made
/// on top of every change kept so far, the result is re-run on the data, and the change is kept
/// only if
///  - the model's loss stays within `maxLossIncrease` of the unmodified model's, and
///  - with labels, of the samples whose classification the change flips, most do no worse: no
///    more turn wrong than turn right (AxFormer's "most samples do no worse", read on the
///    samples the change affects — a small change nudges nearly every sample's loss a little
///    up or down, which says nothing). Without labels the divergence from the unmodified model
///    only grows with each change, so the budget alone decides.
/// A change that cannot be made on top of the kept ones (the last head of a node, a layer a kept
/// block removal took) is skipped with the reason; any other failure stops the search. The search stops once the original linear
/// weights average `targetBits` (`SignificanceAnalysis.evaluate`: removed weights count 0), if
/// given. Layers it does not move keep the base plan's encoding, so the result is mixed precision.
public enum GreedyCompression {
    /// A change the search may make.
    public enum Candidate: Sendable {
        /// This linear layer in the aggressive encoding.
        case layer(String)
        /// This structure removed.
        case structure(SignificanceAnalysis.StructuralComponent)

        public var name: String {
            switch self {
            case .layer(let name): name
            case .structure(let component): component.name
            }
        }
    }

    public struct Step: Sendable {
        public let component: String
        public let kept: Bool
        /// The loss and bits per weight with this change (whether kept or not; +∞ and the
        /// current bits when it could not be made).
        public let loss: Double
        public let bitsPerWeight: Double
        public let worseFraction: Double
        /// With labels: samples the change turned wrong and turned right.
        public let lost: Int
        public let gained: Int
        /// Why the change could not be made on top of the kept ones; nil when it was tried.
        public let refusal: String?
    }

    public struct Outcome: Sendable {
        /// The base plan with the kept changes: one rule per moved layer (those rules first),
        /// the removed structures in its removal.
        public let plan: Compressor.Plan
        public let steps: [Step]
        public let loss: Double
        public let bitsPerWeight: Double
        /// True when `targetBits` was given and reached.
        public let reachedTarget: Bool
    }

    /// `aggressive`: the encoding `.layer` candidates move to (nil when there are none).
    public static func run(_ analysis: SignificanceAnalysis, base: Compressor.Plan, aggressive: LayerEncoding?,
                           order: [Candidate], maxLossIncrease: Double, targetBits: Double?,
                           progress: (Step) -> Void = { _ in }) throws -> Outcome {
        var plan = base
        var (current, bits, _) = try analysis.evaluate(plan)
        var steps: [Step] = []
        if let targetBits, bits <= targetBits {
            return Outcome(plan: plan, steps: [], loss: current.loss, bitsPerWeight: bits, reachedTarget: true)
        }
        var movedLayers = 0
        for candidate in order {
            var trial = plan
            var refusal: String?
            switch candidate {
            case .layer(let layer):
                guard let aggressive else { preconditionFailure("a layer candidate needs the aggressive encoding") }
                trial.rules.insert((SignificanceAnalysis.exactPattern(layer), aggressive), at: movedLayers)
                if case .success(let graph) = try analysis.removing(plan.removal), !graph.nodes.contains(where: { $0.name == layer }) {
                    refusal = "a kept removal took this layer"
                }
            case .structure(let component):
                trial.removal = plan.removal.merged(with: component.removal)
                if case .failure(let error) = try analysis.removing(trial.removal) { refusal = error.message }
            }
            if let refusal {
                let step = Step(component: candidate.name, kept: false, loss: .infinity, bitsPerWeight: bits, worseFraction: 1,
                                lost: 0, gained: 0, refusal: refusal)
                steps.append(step)
                progress(step)
                continue
            }
            let evaluated = try analysis.evaluate(trial)
            let (lost, gained) = evaluated.evaluation.flips(from: current)
            let keep = evaluated.evaluation.loss - analysis.baseline.loss <= maxLossIncrease && lost <= gained
            let step = Step(component: candidate.name, kept: keep, loss: evaluated.evaluation.loss, bitsPerWeight: evaluated.bitsPerWeight,
                            worseFraction: evaluated.evaluation.worseFraction(than: current), lost: lost, gained: gained, refusal: nil)
            steps.append(step)
            progress(step)
            guard keep else { continue }
            plan = trial
            if case .layer = candidate { movedLayers += 1 }
            (current, bits) = (evaluated.evaluation, evaluated.bitsPerWeight)
            if let targetBits, bits <= targetBits {
                return Outcome(plan: plan, steps: steps, loss: current.loss, bitsPerWeight: bits, reachedTarget: true)
            }
        }
        return Outcome(plan: plan, steps: steps, loss: current.loss, bitsPerWeight: bits, reachedTarget: false)
    }
}
