import LossKit

/// Fixed storage for one elementwise workload (no allocation while timing).
final class ElementwiseInputs {
    var x: [Float], t: [Float], grad: [Float]
    init(x: [Float], t: [Float]) {
        self.x = x
        self.t = t
        grad = [Float](repeating: 0, count: x.count)
    }
    func run(_ loss: ElementwiseLoss, _ reduction: Reduction, _ execution: Execution) throws {
        try x.withUnsafeBufferPointer { x in
            try t.withUnsafeBufferPointer { t in
                try grad.withUnsafeMutableBufferPointer { g in
                    _ = try elementwiseLoss(loss, predictions: x, targets: t, reduction: reduction,
                                            gradient: g, execution: execution)
                }
            }
        }
    }
}

/// An elementwise loss + gradient over n values: reads two arrays, writes one.
func elementwiseWorkload(_ name: String, n: Int, shape: String, loss: ElementwiseLoss, reduction: Reduction,
                         inputs: @escaping (Int, inout BenchRandom) -> ([Float], [Float])) -> Workload {
    Workload(name: name, shape: shape) { quick in
        let count = quick ? n / 16 : n
        var rng = BenchRandom(state: 42)
        let (x, t) = inputs(count, &rng)
        let data = ElementwiseInputs(x: x, t: t)
        return PreparedWorkload(work: Double(count), unit: "Gelem/s",
                                ceiling: .bandwidth(bytes: Double(3 * 4 * count))) { execution in
            try data.run(loss, reduction, execution)
        }
    }
}

let elementwiseWorkloads: [Workload] = [
    elementwiseWorkload("focal_8M", n: 8_000_000, shape: "8,000,000 logits, ~1% positives",
                        loss: .sigmoidFocal(alpha: 0.25, gamma: 2, normalizer: nil), reduction: .sum) { n, rng in
        (rng.normal(n, std: 3), (0..<n).map { _ in Float.random(in: 0..<1, using: &rng) < 0.01 ? 1 : 0 })
    },
    elementwiseWorkload("smooth_l1_4M", n: 4_000_000, shape: "4,000,000", loss: .smoothL1(beta: 1), reduction: .mean) { n, rng in
        (rng.normal(n, std: 2), rng.normal(n, std: 2))
    },
    elementwiseWorkload("wing_4M", n: 4_000_000, shape: "4,000,000, residuals ~N(0, 8^2)",
                        loss: .wing(w: 10, epsilon: 2), reduction: .mean) { n, rng in
        (rng.normal(n, std: 8), [Float](repeating: 0, count: n))
    },
    elementwiseWorkload("shrinkage_4M", n: 4_000_000, shape: "4,000,000 in [0, 1]",
                        loss: .shrinkage(a: 10, c: 0.2, weight: .exponentialTarget), reduction: .mean) { n, rng in
        (rng.uniform(n, 0...1), rng.uniform(n, 0...1))
    },
    softmaxWorkload("softmax_ce_279k_x21", shape: "279,424 x 21 (SSD300 batch 32)", softTargets: false),
    // soft labels (mixup, distillation): the same shape, a dense target matrix read beside the logits
    softmaxWorkload("softmax_ce_soft_279k_x21", shape: "279,424 x 21 (SSD300 batch 32), probability targets",
                    softTargets: true),
]

/// Softmax CE + gradient over SSD300's conf logits, with class-index labels
/// or with a [rows, classes] matrix of probability targets.
func softmaxWorkload(_ name: String, shape: String, softTargets: Bool) -> Workload {
    Workload(name: name, shape: shape) { quick in
        let rows = quick ? 279_424 / 16 : 279_424, classes = 21
        var rng = BenchRandom(state: 7)
        let logits = rng.normal(rows * classes, std: 2)
        let storage: SoftmaxInputs
        let bytes: Double
        if softTargets {
            storage = SoftmaxInputs(logits: logits, target: .probabilities(rng.uniform(rows * classes, 0...1)), classes: classes)
            bytes = Double(3 * 4 * rows * classes)
        } else {
            let labels = (0..<rows).map { _ in Int.random(in: 0..<classes, using: &rng) }
            storage = SoftmaxInputs(logits: logits, target: .labels(labels), classes: classes)
            bytes = Double(2 * 4 * rows * classes + 8 * rows)
        }
        return PreparedWorkload(work: Double(rows * classes), unit: "Gelem/s", ceiling: .bandwidth(bytes: bytes)) { execution in
            try storage.run(execution)
        }
    }
}

final class SoftmaxInputs {
    enum Target { case labels([Int]), probabilities([Float]) }
    var logits: [Float], grad: [Float]
    let target: Target, classes: Int
    init(logits: [Float], target: Target, classes: Int) {
        self.logits = logits
        self.target = target
        self.classes = classes
        grad = [Float](repeating: 0, count: logits.count)
    }
    func run(_ execution: Execution) throws {
        try logits.withUnsafeBufferPointer { x in
            try grad.withUnsafeMutableBufferPointer { g in
                switch target {
                case let .labels(labels):
                    _ = try labels.withUnsafeBufferPointer { y in
                        try softmaxLoss(.crossEntropy(classWeights: nil, labelSmoothing: 0), logits: x, labels: y,
                                        classes: classes, reduction: .sum, gradient: g, execution: execution)
                    }
                case let .probabilities(targets):
                    _ = try targets.withUnsafeBufferPointer { t in
                        try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: classes, reduction: .sum,
                                                gradient: g, execution: execution)
                    }
                }
            }
        }
    }
}
