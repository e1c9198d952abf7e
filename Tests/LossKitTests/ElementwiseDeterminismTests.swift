import LossKit
import Testing
import _TestSupport

/// Results are bitwise identical at any thread count, on each backend and ISA.
@Suite("Determinism across thread counts")
struct ElementwiseDeterminismTests {
    @Test("elementwise ops", arguments: elementwiseCases)
    func elementwise(_ op: ElementwiseCase) throws {
        let n = 300_003 - 300_003 % op.countMultiple
        let (x, t) = op.inputs(count: n, seed: 21)
        for backend in Backend.allCases {
            try forEachISA { isa in
                for reduction in [Reduction.mean, .none] {
                    let one = try runElementwise(op.loss, x, t, reduction: reduction, execution: Execution(backend: backend, threads: 1))
                    for threads in [2, 3, nil] as [Int?] {
                        let many = try runElementwise(op.loss, x, t, reduction: reduction, execution: Execution(backend: backend, threads: threads))
                        let label = "\(op) \(backend) \(isaName(isa)) \(reduction) threads \(threads.map(String.init) ?? "all")"
                        #expect(one.0.bitPattern == many.0.bitPattern, "\(label): \(one.0) vs \(many.0)")
                        #expect(sameBits(one.1, many.1), "\(label): unreduced")
                        #expect(sameBits(one.2, many.2), "\(label): gradient")
                    }
                }
            }
        }
    }

    @Test("softmax losses")
    func softmax() throws {
        var rng = SeededRandom(seed: 8)
        for classes in [21, 751] {
            let rows = classes == 21 ? 40_000 : 400
            let logits = rng.normal(count: rows * classes, std: 2)
            let labels = (0..<rows).map { $0 % 11 == 0 ? -100 : Int.random(in: 0..<classes, using: &rng) }
            for loss in [SoftmaxLoss.crossEntropy(classWeights: nil, labelSmoothing: 0.1), .focal(alpha: 0.25, gamma: 2)] {
                for backend in Backend.allCases {
                    try forEachISA { _ in
                        let one = try runSoftmax(loss, logits, labels, classes, .mean, Execution(backend: backend, threads: 1))
                        let many = try runSoftmax(loss, logits, labels, classes, .mean, Execution(backend: backend, threads: nil))
                        #expect(one.0.bitPattern == many.0.bitPattern, "\(loss) \(backend) \(classes)")
                        #expect(sameBits(one.2, many.2), "\(loss) \(backend) \(classes): gradient")
                    }
                }
            }
        }
    }
}
