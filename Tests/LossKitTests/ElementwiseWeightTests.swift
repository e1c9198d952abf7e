import LossKit
import Testing
import _TestSupport

/// Per-element weights: mmpose's target weights on the regression losses
/// (applied to prediction and target before L1 / MSE / Smooth L1 / Huber /
/// Wing / Adaptive Wing, multiplying the loss of focal regression and
/// shrinkage) and PyTorch's `weight` on BCE with logits. Golden values are in
/// GoldenElementwiseTests (weighted_elementwise.json).
@Suite("Weights: per-element target weights and BCE weight")
struct ElementwiseWeightTests {
    /// Every elementwise op that takes weights.
    static let cases = elementwiseCases.filter { if case .sigmoidFocal = $0.loss { return false } else { return true } }

    /// Visibility-like weights: zeros, ones and fractions, plus random ones.
    static func weights(count: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        let picks: [Float] = [0, 1, 0.5, 1.7]
        return (0..<count).map { i in i % 5 == 4 ? Float.random(in: 0...2, using: &rng) : picks[Int.random(in: 0..<4, using: &rng)] }
    }

    static func appliedToInputs(_ loss: ElementwiseLoss) -> Bool {
        switch loss {
        case .l1, .mse, .smoothL1, .huber, .wing, .adaptiveWing: return true
        default: return false
        }
    }

    @Test("C vs portable on random inputs, every size, reduction and ISA", arguments: cases)
    func differential(_ op: ElementwiseCase) throws {
        for (k, size) in [0, 1, 7, 31, 1000, 100_003].enumerated() {
            let n = size - size % op.countMultiple
            let (x, t) = op.inputs(count: n, seed: UInt64(40 + k))
            let w = Self.weights(count: n, seed: UInt64(k))
            for reduction in Reduction.allCases {
                let reference = try runElementwise(op.loss, x, t, weights: w, reduction: reduction, execution: Execution(backend: .portable))
                try forEachISA { isa in
                    let c = try runElementwise(op.loss, x, t, weights: w, reduction: reduction, execution: .default)
                    let label = "\(op) weighted n=\(n) \(reduction) \(isaName(isa))"
                    #expect(agree(c.0, reference.0, rtol: 2e-5, atol: 1e-6), "\(label): value \(c.0) vs \(reference.0)")
                    for i in c.1.indices where !agree(c.1[i], reference.1[i], rtol: 2e-5, atol: 1e-6) {
                        Issue.record("\(label): loss[\(i)] \(c.1[i]) vs \(reference.1[i])"); break
                    }
                    let scale = Float(reduction == .mean ? 1.0 / Double(max(n, 1)) : 1.0)
                    for i in c.2.indices where !agree(c.2[i], reference.2[i], rtol: 5e-5, atol: 1e-6 * scale) {
                        Issue.record("\(label): grad[\(i)] \(c.2[i]) vs \(reference.2[i]) at x=\(x[i]) t=\(t[i]) w=\(w[i])"); break
                    }
                }
            }
        }
    }

    @Test("edge values with weights 0, 1, fractions, NaN; weight 0 gives zero loss and gradient", arguments: cases)
    func edges(_ op: ElementwiseCase) throws {
        let (x, t) = op.edgeInputs()
        let pattern: [Float] = [0, 1, 0.5, 1.7, 0, 2]
        var w = x.indices.map { pattern[$0 % pattern.count] }
        w[w.count - 2] = .nan
        let reference = try runElementwise(op.loss, x, t, weights: w, reduction: .none, execution: Execution(backend: .portable))
        for i in x.indices where w[i].isNaN || x[i].isNaN || t[i].isNaN {
            #expect(reference.1[i].isNaN && reference.2[i].isNaN, "\(op) portable: NaN input \(i) gave \(reference.1[i]), \(reference.2[i])")
        }
        try forEachISA { isa in
            let c = try runElementwise(op.loss, x, t, weights: w, reduction: .none, execution: .default)
            let plain = try runElementwise(op.loss, x, t, reduction: .none, execution: .default)
            for i in x.indices {
                #expect(agree(c.1[i], reference.1[i], rtol: 5e-5, atol: 1e-6) && agree(c.2[i], reference.2[i], rtol: 5e-5, atol: 1e-6),
                        "\(op) \(isaName(isa)) w=\(w[i]) x=\(x[i]) t=\(t[i]): C \(c.1[i]), \(c.2[i]) vs portable \(reference.1[i]), \(reference.2[i])")
                // (the DSLT weight normalises by a maximum over all targets: a NaN target makes every loss NaN)
                if w[i] == 0, x[i].isFinite, t[i].isFinite, plain.1[i].isFinite {
                    #expect(c.1[i] == 0 && c.2[i] == 0, "\(op) \(isaName(isa)): weight 0 at x=\(x[i]) t=\(t[i]) gave \(c.1[i]), \(c.2[i])")
                }
            }
        }
    }

    @Test("finite differences of the weighted losses; mean divides by n", arguments: cases)
    func gradient(_ op: ElementwiseCase) throws {
        let count = 30 - 30 % op.countMultiple
        let (x0, t0) = op.inputs(count: count * 4, seed: 77)
        let w0 = Self.weights(count: count * 4, seed: 5)
        // keep elements whose (weighted) residual is 0.05 away from every kink
        var x: [Float] = [], t: [Float] = [], w: [Float] = []
        for i in x0.indices where x.count < count {
            let r = abs(x0[i] - t0[i]) * (Self.appliedToInputs(op.loss) ? w0[i] : 1)
            let nearKink = op.kinks.contains { abs(r - $0) < 0.05 } || (op.kinkAtZero && r < 0.05 && w0[i] != 0)
            if !nearKink { x.append(x0[i]); t.append(t0[i]); w.append(w0[i]) }
        }
        #expect(x.count == count && w.contains(0))
        for execution in [Execution(backend: .portable), .default] {
            let analytic = try runElementwise(op.loss, x, t, weights: w, reduction: .none, execution: execution)
            let numeric = try finiteDifferenceGradient(at: x) { probe in
                try runElementwise(op.loss, probe, t, weights: w, reduction: .none, gradient: false, execution: execution).1
            }
            for i in x.indices {
                #expect(isClose(Double(analytic.2[i]), numeric[i], rtol: 3e-3, atol: 3e-3),
                        "\(op) \(execution.backend): d/dx at x=\(x[i]) t=\(t[i]) w=\(w[i]): \(analytic.2[i]) vs \(numeric[i])")
                if w[i] == 0 { #expect(analytic.2[i] == 0) }
            }
            let mean = try runElementwise(op.loss, x, t, weights: w, reduction: .mean, execution: execution)
            let sum = analytic.1.reduce(0.0) { $0 + Double($1) }
            #expect(isClose(Double(mean.0), sum / Double(x.count), rtol: 1e-5, atol: 1e-7), "\(op): mean divides by n")
            // unit weights are the unweighted loss, bit for bit
            let ones = try runElementwise(op.loss, x, t, weights: [Float](repeating: 1, count: x.count), reduction: .none, execution: execution)
            let plain = try runElementwise(op.loss, x, t, reduction: .none, execution: execution)
            #expect(sameBits(ones.1, plain.1) && sameBits(ones.2, plain.2), "\(op) \(execution.backend): weights of 1 change the result")
        }
    }

    @Test("mmpose semantics: the weight scales prediction and target (L1 .. Adaptive Wing) or the loss")
    func semantics() throws {
        let x: [Float] = [3, -1.5, 0.25], t: [Float] = [1, 0.5, 0], w: [Float] = [0.5, 2, 0]
        for exec in [Execution(backend: .portable), .default] {
            // MSE on (w x, w t) is w^2 r^2 (mmpose MSELoss), not w r^2
            let mse = try mseLoss(predictions: x, targets: t, targetWeights: w, reduction: .none, execution: exec)
            #expect(mse.unreduced! == [1, 16, 0] && mse.gradient! == [1, -16, 0], "\(mse)")
            // Adaptive Wing's exponent alpha - y sees the weighted target too
            let aw = try adaptiveWingLoss(predictions: [0.3], targets: [0.8], targetWeights: [0.5], reduction: .none, execution: exec)
            let direct = try adaptiveWingLoss(predictions: [0.15], targets: [0.4], reduction: .none, execution: exec)
            #expect(aw.unreduced! == direct.unreduced! && aw.gradient![0] == 0.5 * direct.gradient![0])
            // focal regression multiplies the loss
            let fr = try focalRegressionLoss(predictions: x, targets: t, targetWeights: w, reduction: .none, execution: exec)
            #expect(fr.unreduced! == [4, 2 * 8, 0] && fr.gradient! == [0.5 * 12, -2 * 12, 0])
            // BCE: PyTorch's weight multiplies each element's loss; mean divides by n
            let bce = try binaryCrossEntropyWithLogits(logits: [0, 0], targets: [1, 0], weight: [2, 0], reduction: .mean, execution: exec)
            #expect(abs(bce.value - 0.6931472) < 1e-6 && bce.gradient! == [-0.5, 0])
        }
    }
}
