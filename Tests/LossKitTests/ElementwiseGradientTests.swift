import LossKit
import Testing
import _TestSupport

/// Analytic gradients against central finite differences of the per-element
/// (or per-row) losses, summed in Double, on both backends.
@Suite("Gradient check: finite differences")
struct ElementwiseGradientTests {
    /// Inputs well inside the smooth pieces: residuals at least 0.05 from every kink.
    static func smoothInputs(_ op: ElementwiseCase, count: Int) -> ([Float], [Float]) {
        var (x, t) = op.inputs(count: count * 3, seed: 99)
        var keepX: [Float] = [], keepT: [Float] = []
        for i in x.indices where keepX.count < count {
            let r = abs(x[i] - t[i])
            let nearKink = op.kinks.contains { abs(r - $0) < 0.05 } || (op.kinkAtZero && r < 0.05)
            if !nearKink { keepX.append(x[i]); keepT.append(t[i]) }
        }
        x = keepX; t = keepT
        return (x, t)
    }

    @Test("elementwise ops", arguments: elementwiseCases)
    func elementwise(_ op: ElementwiseCase) throws {
        let n = 24 - 24 % op.countMultiple
        let (x, t) = Self.smoothInputs(op, count: n)
        #expect(x.count == n)
        for execution in [Execution(backend: .portable), .default] {
            let analytic = try runElementwise(op.loss, x, t, reduction: .none, execution: execution).2
            let numeric = try finiteDifferenceGradient(at: x) { probe in
                try runElementwise(op.loss, probe, t, reduction: .none, gradient: false, execution: execution).1
            }
            for i in x.indices {
                #expect(isClose(Double(analytic[i]), numeric[i], rtol: 3e-3, atol: 3e-3),
                        "\(op) \(execution.backend): d/dx at x=\(x[i]) t=\(t[i]): analytic \(analytic[i]) vs numeric \(numeric[i])")
            }
            // the reduced forms scale that gradient: sum by 1, mean by 1/n
            let sum = try runElementwise(op.loss, x, t, reduction: .sum, execution: execution).2
            let mean = try runElementwise(op.loss, x, t, reduction: .mean, execution: execution).2
            for i in x.indices {
                #expect(sum[i] == analytic[i], "\(op): sum gradient differs from none at \(i)")
                #expect(isClose(Double(mean[i]), Double(analytic[i]) / Double(n), rtol: 1e-6, atol: 0), "\(op): mean gradient at \(i)")
            }
        }
    }

    @Test("sigmoid focal with a normalizer divides loss and gradient")
    func focalNormalizer() throws {
        let op = elementwiseCases.first { $0.name == "focal 0.25/2" }!
        let (x, t) = op.inputs(count: 50, seed: 3)
        let plain = try sigmoidFocalLoss(logits: x, targets: t, reduction: .sum)
        let normalized = try sigmoidFocalLoss(logits: x, targets: t, normalizer: 7, reduction: .sum)
        let portable = try sigmoidFocalLoss(logits: x, targets: t, normalizer: 7, reduction: .sum, execution: .portable)
        #expect(isClose(Double(normalized.value), Double(plain.value) / 7, rtol: 1e-6, atol: 0))
        #expect(isClose(Double(portable.value), Double(normalized.value), rtol: 1e-5, atol: 0))
        for i in x.indices {
            #expect(isClose(Double(normalized.gradient![i]), Double(plain.gradient![i]) / 7, rtol: 1e-6, atol: 1e-12))
        }
    }

    @Test("softmax cross-entropy and focal: weights, smoothing, ignored rows")
    func softmax() throws {
        var rng = SeededRandom(seed: 11)
        let rows = 6, classes = 7
        let logits = rng.normal(count: rows * classes, std: 2)
        let labels = [3, -100, 0, 6, 2, 3]
        let weights = rng.uniform(0.2...2, count: classes)
        let losses: [SoftmaxLoss] = [
            .crossEntropy(classWeights: nil, labelSmoothing: 0),
            .crossEntropy(classWeights: weights, labelSmoothing: 0),
            .crossEntropy(classWeights: weights, labelSmoothing: 0.15),
            .focal(alpha: 0.25, gamma: 2),
            .focal(alpha: 1, gamma: 1.5),
        ]
        for loss in losses {
            for execution in [Execution(backend: .portable), .default] {
                let analytic = try runSoftmax(loss, logits, labels, classes, .none, execution).2
                let numeric = try finiteDifferenceGradient(at: logits) { probe in
                    try runSoftmax(loss, probe, labels, classes, .none, execution).1
                }
                for i in logits.indices {
                    #expect(isClose(Double(analytic[i]), numeric[i], rtol: 3e-3, atol: 2e-3),
                            "\(loss) \(execution.backend): [\(i / classes), \(i % classes)] analytic \(analytic[i]) vs numeric \(numeric[i])")
                }
                #expect(analytic[classes..<2 * classes].allSatisfy { $0 == 0 }, "ignored row has no gradient")
                // weighted mean: divided by the sum of w_y over counted rows (PyTorch)
                let mean = try runSoftmax(loss, logits, labels, classes, .mean, execution)
                var denominator = 0.0
                for y in labels where y != -100 {
                    if case let .crossEntropy(w?, _) = loss { denominator += Double(w[y]) } else { denominator += 1 }
                }
                for i in logits.indices {
                    #expect(isClose(Double(mean.2[i]), Double(analytic[i]) / denominator, rtol: 1e-5, atol: 1e-9))
                }
            }
        }
    }
}
