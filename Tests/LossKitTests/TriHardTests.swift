import LossKit
import Testing
import _TestSupport

@Suite("Re-identification: TriHard")
struct TriHardTests {
    @Test("golden vs PyTorch (reid-strong-baseline semantics), both backends, every ISA")
    func golden() throws {
        for g in try Golden.cases("trihard") {
            let f = g.input("features")
            let metric: DistanceMetric = g.string("metric") == "cosine" ? .cosine : (g.string("metric") == "sqeuclidean" ? .squaredEuclidean : .euclidean)
            let margin: Float? = g.bool("soft_margin") == true ? nil : g.float("margin")
            for exec in [Execution.portable, .default] {
                try forEachISA { isa in
                    let r = try triHardLoss(features: f.floats, labels: g.input("labels").ints, dimension: f.shape[1],
                                            metric: metric, margin: margin, execution: exec)
                    let label = "\(g) \(exec.backend) \(isaName(isa))"
                    #expect(isClose(Double(r.value), g.output("loss").scalar, rtol: 1e-4, atol: 1e-6), "\(label): \(r.value)")
                    let m = firstMismatch(r.gradients![0], g.output("grad_features").data, rtol: 1e-4, atol: 1e-6)
                    #expect(m == nil, "\(label): \(m ?? "")")
                }
            }
        }
    }

    static func batch(p: Int, k: Int, d: Int, seed: UInt64) -> ([Float], [Int]) {
        var rng = SeededRandom(seed: seed)
        var x: [Float] = [], labels: [Int] = []
        for id in 0..<p {
            let center = rng.normal(count: d)
            for _ in 0..<k { x += zip(center, rng.normal(count: d, std: 0.6)).map { $0 + $1 }; labels.append(id) }
        }
        return (x, labels)
    }

    @Test("C vs portable; unbalanced batches; semi-hard; indices; determinism; finite differences")
    func differential() throws {
        let d = 12
        for (p, k) in [(6, 4), (3, 1), (1, 5), (7, 3)] { // (3, 1): no positives at all; (1, 5): no negatives
            let (x, batchLabels) = Self.batch(p: p, k: k, d: d, seed: UInt64(p * 10 + k))
            var labels = batchLabels
            if p == 7 { labels[0] = 99 } // one identity with a single sample
            for metric in DistanceMetric.allCases {
                for margin in [Float(0.3), nil] {
                    for mining in [NegativeMining.hardest, .semiHard] {
                        let ref = try triHard(features: x, labels: labels, dimension: d, metric: metric, margin: margin,
                                              mining: mining, execution: .portable)
                        let c = try triHard(features: x, labels: labels, dimension: d, metric: metric, margin: margin, mining: mining)
                        let label = "\(p)x\(k) \(metric) \(String(describing: margin)) \(mining)"
                        #expect(c.hardestPositive == ref.hardestPositive && c.hardestNegative == ref.hardestNegative, "\(label)")
                        #expect(isClose(Double(c.result.value), Double(ref.result.value), rtol: 1e-5, atol: 1e-6), "\(label)")
                        #expect(firstMismatch(c.result.gradients![0], ref.result.gradients![0], rtol: 1e-4, atol: 1e-6) == nil, "\(label)")
                        if p == 3 || p == 1 { #expect(c.result.value == 0 && c.result.gradients![0].allSatisfy { $0 == 0 }) }
                        let one = try triHard(features: x, labels: labels, dimension: d, metric: metric, margin: margin,
                                              mining: mining, execution: Execution(threads: 1))
                        #expect(one.result == c.result, "\(label): thread count")
                    }
                }
            }
            // finite differences, with the mined pairs fixed by a small step
            if p == 6 {
                let analytic = try triHardLoss(features: x, labels: labels, dimension: d, margin: nil, reduction: .sum).gradients![0]
                let numeric = finiteDifferenceGradient(at: x, relativeStep: 1e-4, minimumStep: 1e-4) { probe in
                    (try? triHardLoss(features: probe, labels: labels, dimension: d, margin: nil, reduction: .none,
                                      computeGradient: false).unreduced!) ?? []
                }
                for i in x.indices {
                    #expect(isClose(Double(analytic[i]), numeric[i], rtol: 1e-2, atol: 2e-3), "[\(i)] \(analytic[i]) vs \(numeric[i])")
                }
            }
        }
    }

    @Test("bad input")
    func badInput() {
        #expect(throws: LossKitError.self) { try triHardLoss(features: [1, 2], labels: [0], dimension: 2) }
        #expect(throws: LossKitError.self) { try triHardLoss(features: [1, 2, 3, 4], labels: [0], dimension: 2) }
        #expect(throws: LossKitError.self) { try triHardLoss(features: [1, 2, 3, 4], labels: [0, 1], dimension: 2, margin: .infinity) }
    }
}
