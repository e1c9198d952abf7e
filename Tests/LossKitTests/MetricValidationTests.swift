import CLossKit
import Foundation
import LossKit
import Testing
import _TestSupport

/// Argument rules of the distances and metric losses, in both layers: huge
/// sizes throw, negative margins and non-0/1 contrastive labels are refused,
/// d = 0 is refused everywhere, TriHard on 0 or 1 sample is a valid batch.
@Suite("Metric: argument rules (sizes, margins, labels, d = 0, tiny batches)")
struct MetricValidationTests {
    static let backends = [Execution.portable, .default]

    /// True when `body` throws a LossKitError (and never a trap: a trap ends the process).
    static func throwsTyped(_ body: () throws -> Void) -> Bool {
        do { try body() } catch is LossKitError { return true } catch { return false }
        return false
    }

    @Test("huge sizes throw a typed error through every public function")
    func hugeSizes() {
        let huge = [1 << 33, Int.max, Int.max / 2 + 1, Int(Int32.max) + 1]
        for exec in Self.backends {
            for d in huge {
                let cases: [(String, () throws -> Void)] = [
                    ("pairwiseDistance", { _ = try pairwiseDistance([], [], dimension: d, execution: exec) }),
                    ("pairwiseDistance(into:)", {
                        try [Float]().withUnsafeBufferPointer { e in
                            try pairwiseDistance(e, e, dimension: d, into: UnsafeMutableBufferPointer(start: nil, count: 0),
                                                 execution: exec)
                        }
                    }),
                    ("pairwiseDistanceGradient", {
                        _ = try pairwiseDistanceGradient([], [], dimension: d, distances: [], upstream: [], execution: exec)
                    }),
                    ("mahalanobisDistance full", {
                        _ = try mahalanobisDistance([], [], dimension: d, matrix: .full([]), execution: exec)
                    }),
                    ("mahalanobisDistance factor", {
                        _ = try mahalanobisDistance([], [], dimension: d, matrix: .factor([], rows: d), execution: exec)
                    }),
                    ("mahalanobisDistance factor rows", {
                        _ = try mahalanobisDistance([], [], dimension: 4, matrix: .factor([], rows: d), execution: exec)
                    }),
                    ("mahalanobisFactor", { _ = try mahalanobisFactor([], dimension: d) }),
                    ("contrastiveLoss", { _ = try contrastiveLoss(x1: [], x2: [], same: [], dimension: d, execution: exec) }),
                    ("tripletLoss", { _ = try tripletLoss(anchor: [], positive: [], negative: [], dimension: d, execution: exec) }),
                    ("quadrupletLoss", {
                        _ = try quadrupletLoss(anchor: [], positive: [], negative1: [], negative2: [], dimension: d, execution: exec)
                    }),
                    ("triHardLoss", { _ = try triHardLoss(features: [], labels: [], dimension: d, execution: exec) }),
                    ("triHard", { _ = try triHard(features: [], labels: [], dimension: d, execution: exec) }),
                ]
                for (name, call) in cases {
                    #expect(Self.throwsTyped(call), "\(name) dimension \(d) \(exec.backend)")
                }
            }
            // the pairs of the issue: a factor whose rows x d overflows, and the exact calls it names
            for (rows, d) in [(Int.max / 2 + 1, 2), (1 << 33, 1 << 31 - 1), (Int.max, 3)] {
                #expect(Self.throwsTyped { _ = try mahalanobisDistance([], [], dimension: d, matrix: .factor([], rows: rows), execution: exec) },
                        "factor rows \(rows) x \(d)")
            }
            #expect(Self.throwsTyped { _ = try mahalanobisDistance([], [], dimension: 1 << 33, matrix: .full([]), execution: exec) })
            #expect(Self.throwsTyped { _ = try mahalanobisDistance([], [], dimension: 1, matrix: .factor([], rows: 1 << 33), execution: exec) })
        }
        #expect(Self.throwsTyped { _ = try mahalanobisFactor([], dimension: 1 << 33) })
        #expect(Self.throwsTyped { _ = try mahalanobisFactor([], dimension: 1 << 31 - 1) }) // d x d fits, d x d values do not
    }

    @Test("negative margins are refused (Swift: the margin's error; C: its status); 0 stays valid")
    func negativeMargins() throws {
        let a: [Float] = [1, 2, 3, 4], p: [Float] = [1, 2.5, 3, 4.5], n: [Float] = [0, 2, 3, 1], q: [Float] = [2, 2, 0, 1]
        func isMargin(_ name: String, _ body: () throws -> Void) -> Bool {
            do { try body() } catch let LossKitError.invalidParameter(argument, _, _) { return argument == name } catch { return false }
            return false
        }
        for exec in Self.backends {
            for margin: Float in [-0.3, -1e-30, -.infinity] {
                #expect(isMargin("margin") { _ = try tripletLoss(anchor: a, positive: p, negative: n, dimension: 2, margin: margin, execution: exec) })
                #expect(isMargin("margin") {
                    _ = try tripletLoss(anchor: a, positive: p, negative: n, dimension: 2, margin: margin, improved: true, execution: exec)
                })
                #expect(isMargin("margin") { _ = try contrastiveLoss(x1: a, x2: p, same: [true, false], dimension: 2, margin: margin, execution: exec) })
                #expect(isMargin("margin") { _ = try triHardLoss(features: a + p, labels: [0, 1, 0, 1], dimension: 2, margin: margin, execution: exec) })
                #expect(isMargin("margin1") {
                    _ = try quadrupletLoss(anchor: a, positive: p, negative1: n, negative2: q, dimension: 2, margin1: margin, execution: exec)
                })
                #expect(isMargin("margin2") {
                    _ = try quadrupletLoss(anchor: a, positive: p, negative1: n, negative2: q, dimension: 2, margin2: margin, execution: exec)
                })
            }
            // margin 0: a valid hinge at the distance gap
            let t = try tripletLoss(anchor: a, positive: p, negative: n, dimension: 2, margin: 0, reduction: .none, execution: exec)
            #expect(t.unreduced!.allSatisfy { $0 >= 0 })
            _ = try contrastiveLoss(x1: a, x2: p, same: [true, false], dimension: 2, margin: 0, execution: exec)
            _ = try quadrupletLoss(anchor: a, positive: p, negative1: n, negative2: q, dimension: 2, margin1: 0, margin2: 0, execution: exec)
            _ = try triHardLoss(features: a + p, labels: [0, 1, 0, 1], dimension: 2, margin: 0, execution: exec)
        }
        var loss: Float = -1
        let e = LOSSKIT_METRIC_EUCLIDEAN, sum = LOSSKIT_REDUCTION_SUM
        #expect(losskit_triplet(e, a, p, n, 2, 2, -0.3, 0, sum, &loss, nil, nil, nil, 1) == -7)
        #expect(losskit_contrastive(e, a, p, [1, 0], 2, 2, -1, 0, sum, &loss, nil, nil, 1) == -7)
        #expect(losskit_quadruplet(e, a, p, n, q, 2, 2, -1, 0.5, sum, &loss, nil, nil, nil, nil, 1) == -8)
        #expect(losskit_quadruplet(e, a, p, n, q, 2, 2, 1, -0.5, sum, &loss, nil, nil, nil, nil, 1) == -9)
        #expect(losskit_trihard(e, a + p, [0, 1, 0, 1], 4, 2, -0.3, 0, LOSSKIT_MINING_HARDEST, sum, &loss, nil, nil, nil, 1) == -6)
        #expect(loss == -1)
        // the soft margin ignores `margin`
        #expect(losskit_trihard(e, a + p, [0, 1, 0, 1], 4, 2, -0.3, 1, LOSSKIT_MINING_HARDEST, sum, &loss, nil, nil, nil, 1) == 0)
        #expect(losskit_triplet(e, a, p, n, 2, 2, 0, 0, sum, &loss, nil, nil, nil, 1) == 0)
    }

    @Test("contrastive labels: [Bool] in Swift, exactly 0 or 1 in C")
    func contrastiveLabels() throws {
        var rng = SeededRandom(seed: 12)
        let d = 5, rows = 6
        let x1 = rng.normal(count: rows * d), x2 = rng.normal(count: rows * d)
        let same = [true, false, false, true, true, false]
        for exec in Self.backends {
            let r = try contrastiveLoss(x1: x1, x2: x2, same: same, dimension: d, margin: 3, reduction: .none, execution: exec)
            // against the formula, row by row, in double
            for i in 0..<rows {
                var d2 = 0.0
                for k in 0..<d { d2 += pow(Double(x1[i * d + k]) - Double(x2[i * d + k]), 2) }
                let D = d2.squareRoot(), expected = same[i] ? d2 : pow(max(3 - D, 0), 2)
                #expect(isClose(Double(r.unreduced![i]), expected, rtol: 1e-5, atol: 1e-6), "row \(i) \(exec.backend)")
            }
        }
        var loss: Float = -1
        for bad: Float in [2, -1, 0.5, .nan, .infinity] {
            #expect(losskit_contrastive(LOSSKIT_METRIC_EUCLIDEAN, x1, x2, [1, 0, bad, 1, 0, 1], 6, 5, 1, 0,
                                        LOSSKIT_REDUCTION_SUM, &loss, nil, nil, 1) == -4, "label \(bad)")
        }
        #expect(loss == -1)
        #expect(losskit_contrastive(LOSSKIT_METRIC_EUCLIDEAN, x1, x2, [1, 0, 0, 1, 1, 0], 6, 5, 1, 0,
                                    LOSSKIT_REDUCTION_SUM, &loss, nil, nil, 1) == 0)
    }

    @Test("d = 0 is refused by every distance and metric loss, in both layers")
    func zeroDimension() {
        func isDimension(_ body: () throws -> Void) -> Bool {
            do { try body() } catch let LossKitError.invalidShape(argument, _, _) { return argument == "dimension" } catch { return false }
            return false
        }
        for exec in Self.backends {
            #expect(isDimension { _ = try pairwiseDistance([], [], dimension: 0, execution: exec) })
            #expect(isDimension { _ = try pairwiseDistanceGradient([], [], dimension: 0, distances: [], upstream: [], execution: exec) })
            #expect(isDimension { _ = try mahalanobisDistance([], [], dimension: 0, matrix: .full([]), execution: exec) })
            #expect(isDimension { _ = try contrastiveLoss(x1: [], x2: [], same: [], dimension: 0, execution: exec) })
            #expect(isDimension { _ = try tripletLoss(anchor: [], positive: [], negative: [], dimension: 0, execution: exec) })
            #expect(isDimension { _ = try quadrupletLoss(anchor: [], positive: [], negative1: [], negative2: [], dimension: 0, execution: exec) })
            #expect(isDimension { _ = try triHardLoss(features: [], labels: [0, 1], dimension: 0, execution: exec) })
            #expect(isDimension { _ = try pairwiseDistance([1, 2], [1, 2], dimension: -1, execution: exec) })
        }
        #expect(isDimension { _ = try mahalanobisFactor([], dimension: 0) })
        // C: the dimension's position, whatever the row counts
        var out = [Float](repeating: -1, count: 4), gx = [Float](repeating: -1, count: 2), loss: Float = -1
        let e = LOSSKIT_METRIC_EUCLIDEAN, x: [Float] = [1, 2]
        for metric in [e, LOSSKIT_METRIC_SQEUCLIDEAN, LOSSKIT_METRIC_COSINE] {
            #expect(losskit_pairwise_distance(metric, x, 2, x, 2, 0, &out, 1) == -6)
            #expect(losskit_pairwise_distance(metric, nil, 0, nil, 0, 0, nil, 1) == -6)
            #expect(losskit_pairwise_distance_backward(metric, x, 2, x, 2, 0, out, out, &gx, nil, 1) == -6)
            #expect(losskit_contrastive(metric, x, x, [1, 0], 2, 0, 1, 0, LOSSKIT_REDUCTION_SUM, &loss, nil, nil, 1) == -6)
            #expect(losskit_triplet(metric, x, x, x, 2, 0, 0.3, 0, LOSSKIT_REDUCTION_SUM, &loss, nil, nil, nil, 1) == -6)
            #expect(losskit_quadruplet(metric, x, x, x, x, 2, 0, 1, 0.5, LOSSKIT_REDUCTION_SUM, &loss, nil, nil, nil, nil, 1) == -7)
            #expect(losskit_trihard(metric, x, [0, 1], 2, 0, 0.3, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_SUM,
                                    &loss, nil, nil, nil, 1) == -5)
        }
        #expect(losskit_mahalanobis_distance(e, x, 2, x, 2, 0, [1], 1, &out, 1) == -6)
        var rank = 0
        #expect(losskit_mahalanobis_factor([1], 0, &out, &rank) == -2)
        #expect(out == [-1, -1, -1, -1] && gx == [-1, -1] && loss == -1)
    }

    @Test("TriHard on one sample (or none): every anchor skipped, loss 0 and zero gradient, in both layers")
    func triHardTinyBatches() throws {
        let features: [Float] = [0.5, -1, 2]
        for exec in Self.backends {
            for mining in [NegativeMining.hardest, .semiHard] {
                for margin: Float? in [0.3, nil] {
                    for reduction in Reduction.allCases {
                        let (r, p, q) = try triHard(features: features, labels: [7], dimension: 3, margin: margin, mining: mining,
                                                    reduction: reduction, execution: exec)
                        #expect(r.value == 0 && r.gradients! == [[0, 0, 0]] && p == [-1] && q == [-1], "\(exec.backend) \(reduction)")
                        if reduction == .none { #expect(r.unreduced! == [0]) }
                        let empty = try triHard(features: [], labels: [], dimension: 3, margin: margin, mining: mining,
                                                reduction: reduction, execution: exec)
                        #expect(empty.result.value == 0 && empty.result.gradients! == [[]] && empty.hardestPositive.isEmpty)
                    }
                }
            }
        }
        var loss: Float = -1, grad: [Float] = [9, 9, 9]
        var pos: [Int64] = [5], neg: [Int64] = [5]
        #expect(losskit_trihard(LOSSKIT_METRIC_EUCLIDEAN, features, [7], 1, 3, 0.3, 0, LOSSKIT_MINING_HARDEST,
                                LOSSKIT_REDUCTION_MEAN, &loss, &grad, &pos, &neg, 1) == 0)
        #expect(loss == 0 && grad == [0, 0, 0] && pos == [-1] && neg == [-1])
    }
}
