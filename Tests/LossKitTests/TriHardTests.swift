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
        #expect(throws: LossKitError.self) { try triHardLoss(features: [1, 2, 3, 4], labels: [0], dimension: 2) }
        #expect(throws: LossKitError.self) { try triHardLoss(features: [1, 2, 3, 4], labels: [0, 1], dimension: 2, margin: .infinity) }
    }
}

@Suite("Re-identification: TriHard across row blocks and column tiles")
struct TriHardBlockTests {
    /// Exact distance of a pair in Double, to tell a rounding tie from a wrong choice.
    static func exact(_ x: [Float], _ i: Int, _ j: Int, _ d: Int, _ metric: DistanceMetric) -> Double {
        var d2 = 0.0, dot = 0.0, ni = 0.0, nj = 0.0
        for k in 0..<d {
            let a = Double(x[i * d + k]), b = Double(x[j * d + k])
            d2 += (a - b) * (a - b); dot += a * b; ni += a * a; nj += b * b
        }
        return metric == .cosine ? 1 - dot / (max(ni.squareRoot(), 1e-8) * max(nj.squareRoot(), 1e-8)) : d2
    }

    /// Up to 2048 rows one SSYRK block; 2100 rows take the SGEMM row blocks (512) with column
    /// updates, over three 1024-column tiles. Unbalanced random labels,
    /// duplicated rows (exact ties: the lowest index), on every ISA.
    @Test("C vs portable on larger unbalanced batches with duplicate rows, every ISA")
    func blocks() throws {
        var rng = SeededRandom(seed: 77)
        for (n, d, ids) in [(70, 6, 20), (300, 9, 90), (2100, 3, 700)] {
            var x = rng.normal(count: n * d)
            for k in 0..<d { x[5 * d + k] = x[2 * d + k]; x[(n - 1) * d + k] = x[2 * d + k] } // rows 2, 5, n-1 coincide
            var labels = (0..<n).map { _ in Int(rng.next() % UInt64(ids)) }
            labels[5] = labels[2]
            labels[n - 3] = 10_000 // a singleton: skipped
            for metric in DistanceMetric.allCases {
                let ref = try triHard(features: x, labels: labels, dimension: d, metric: metric, margin: 0.3, execution: .portable)
                try forEachISA { isa in
                    for threads in [1, 2] {
                        let c = try triHard(features: x, labels: labels, dimension: d, metric: metric, margin: 0.3,
                                            execution: Execution(threads: threads))
                        let label = "n \(n) \(metric) \(isaName(isa)) threads \(threads)"
                        // a different index is only acceptable as a tie within float rounding
                        for a in 0..<n {
                            for (mine, theirs) in [(c.hardestPositive[a], ref.hardestPositive[a]), (c.hardestNegative[a], ref.hardestNegative[a])]
                            where mine != theirs {
                                #expect(mine >= 0 && theirs >= 0, "\(label): anchor \(a) \(mine) vs \(theirs)")
                                guard mine >= 0, theirs >= 0 else { continue }
                                let u = Self.exact(x, a, mine, d, metric), v = Self.exact(x, a, theirs, d, metric)
                                #expect(abs(u - v) <= 1e-5 * max(abs(u), abs(v), 1e-6), "\(label): anchor \(a) \(mine) vs \(theirs)")
                            }
                        }
                        #expect(c.hardestPositive[n - 3] == -1 && c.hardestNegative[n - 3] == -1, "\(label): singleton")
                        #expect(isClose(Double(c.result.value), Double(ref.result.value), rtol: 1e-4, atol: 1e-6), "\(label)")
                    }
                }
                // rows 2, 5 and n-1 coincide, so as negatives of any other identity they tie exactly: 2 must win
                let c = try triHard(features: x, labels: labels, dimension: d, metric: metric, margin: 0.3)
                for a in 0..<n where labels[a] != labels[2] && labels[a] != labels[n - 1] {
                    #expect(c.hardestNegative[a] != 5 && c.hardestNegative[a] != n - 1, "tie of 2, 5, n-1 not to the lowest index: anchor \(a)")
                }
            }
        }
    }

    @Test("NaN in one feature row: NaN loss, as torch.max in reid-strong-baseline")
    func nan() throws {
        let (xs, labels) = TriHardTests.batch(p: 20, k: 4, d: 8, seed: 3)
        var x = xs
        x[9 * 8 + 3] = .nan
        for exec in [Execution.portable, .default] {
            let r = try triHard(features: x, labels: labels, dimension: 8, margin: 0.3, execution: exec)
            #expect(r.result.value.isNaN, "\(exec.backend)")
            // anchors of row 9's identity see a NaN positive; row 9 is nobody's negative unless NaN wins the min - it does
            let perAnchor = try triHardLoss(features: x, labels: labels, dimension: 8, reduction: .none, execution: exec).unreduced!
            #expect(perAnchor.allSatisfy { $0.isNaN }, "\(exec.backend): every anchor sees row 9 as a positive or a negative")
        }
    }
}
