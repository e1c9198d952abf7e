import LossKit
import Testing

/// The README's quick start, verbatim, with its numbers checked by hand.
@Suite("README quick start")
struct ReadmeExampleTests {
    @Test func quickStart() throws {
        let logits: [Float] = [2.5, -1.0, 0.3, 4.0]      // one score per anchor and class
        let targets: [Float] = [1, 0, 0, 1]
        let focal = try sigmoidFocalLoss(logits: logits, targets: targets, alpha: 0.25, gamma: 2,
                                         normalizer: 2, reduction: .sum)   // RetinaNet: sum / #positives
        print(focal.value, focal.gradient!)               // loss and d loss / d logits

        let landmarks = try wingLoss(predictions: [0.1, 3.2], targets: [0, 2], w: 10, epsilon: 2)
        let ce = try softmaxCrossEntropy(logits: [1, 2, 3, 1, 0, 0], labels: [2, -100], classes: 3,
                                         labelSmoothing: 0.1)              // row 2 is ignored
        let reference = try wingLoss(predictions: [0.1, 3.2], targets: [0, 2],
                                     execution: Execution(backend: .portable, threads: 1))

        // by hand: focal terms alpha_t (1-p_t)^2 BCE, summed, / 2
        func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        var expected = 0.0
        for (x, t) in zip(logits.map(Double.init), targets.map(Double.init)) {
            let p = sigmoid(x), pt = t == 1 ? p : 1 - p, at = t == 1 ? 0.25 : 0.75
            expected += at * pow(1 - pt, 2) * -log(pt)
        }
        #expect(abs(Double(focal.value) - expected / 2) < 1e-6)
        // wing: mean of 10 ln(1 + 0.1/2) and 10 ln(1 + 1.2/2)
        #expect(abs(Double(landmarks.value) - (10 * log(1.05) + 10 * log(1.6)) / 2) < 1e-5)
        #expect(landmarks.value == reference.value || abs(landmarks.value - reference.value) < 1e-6)
        // ce: one counted row, labels [2]; smoothing 0.1 over 3 classes
        let lse = log(exp(1.0) + exp(2.0) + exp(3.0))
        let row = 0.9 * (lse - 3) + 0.1 / 3 * ((lse - 1) + (lse - 2) + (lse - 3))
        #expect(abs(Double(ce.value) - row) < 1e-5)
        #expect(ce.gradient![3...].allSatisfy { $0 == 0 })
    }
}

#if canImport(Glibc)
import Glibc
#endif
