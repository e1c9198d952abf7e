import CLossKit
import LossKit
import Testing
import _TestSupport

@Suite("Re-identification: contrastive, triplet, improved triplet, quadruplet")
struct MetricLossTests {
    static func metric(_ name: String?) -> DistanceMetric {
        name == "cosine" ? .cosine : (name == "sqeuclidean" ? .squaredEuclidean : .euclidean)
    }
    static let backends = [Execution.portable, .default]

    func check(_ g: GoldenCase, _ r: TupleLossResult, _ gradKeys: [String], _ label: String) {
        #expect(isClose(Double(r.value), g.output("loss").scalar, rtol: 1e-4, atol: 1e-6), "\(label) loss \(r.value)")
        for (k, key) in gradKeys.enumerated() {
            let m = firstMismatch(r.gradients![k], g.output(key).data, rtol: 1e-4, atol: 1e-6)
            #expect(m == nil, "\(label) \(key) \(m ?? "")")
        }
    }

    @Test("golden vs PyTorch autograd")
    func golden() throws {
        for exec in Self.backends {
            for g in try Golden.cases("contrastive") {
                let x1 = g.input("x1")
                let r = try contrastiveLoss(x1: x1.floats, x2: g.input("x2").floats, same: g.input("same").floats.map { $0 == 1 },
                                            dimension: x1.shape[1], metric: Self.metric(g.string("metric")),
                                            margin: g.float("margin")!, form: g.string("form") == "squared_distance" ? .squaredDistance : .distance,
                                            execution: exec)
                check(g, r, ["grad_x1", "grad_x2"], "\(g) \(exec.backend)")
            }
            for (op, improved) in [("triplet", false), ("improved_triplet", true)] {
                for g in try Golden.cases(op) {
                    let a = g.input("anchor")
                    let r = try tripletLoss(anchor: a.floats, positive: g.input("positive").floats, negative: g.input("negative").floats,
                                            dimension: a.shape[1], metric: Self.metric(g.string("metric")),
                                            margin: g.float("margin")!, improved: improved, execution: exec)
                    check(g, r, ["grad_anchor", "grad_positive", "grad_negative"], "\(g) \(exec.backend)")
                }
            }
            for g in try Golden.cases("quadruplet") {
                let a = g.input("anchor")
                let r = try quadrupletLoss(anchor: a.floats, positive: g.input("positive").floats,
                                           negative1: g.input("negative1").floats, negative2: g.input("negative2").floats,
                                           dimension: a.shape[1], metric: Self.metric(g.string("metric")),
                                           margin1: g.float("margin1")!, margin2: g.float("margin2")!, execution: exec)
                check(g, r, ["grad_anchor", "grad_positive", "grad_negative1", "grad_negative2"], "\(g) \(exec.backend)")
            }
        }
    }

    /// All four losses on one random draw, as closures over (inputs, execution, reduction).
    static func losses(d: Int) -> [(String, Int, ([[Float]], Execution, Reduction, Bool) throws -> TupleLossResult)] {
        var out: [(String, Int, ([[Float]], Execution, Reduction, Bool) throws -> TupleLossResult)] = []
        for metric in DistanceMetric.allCases {
            for form in [ContrastiveForm.distance, .squaredDistance] {
                out.append(("contrastive \(metric) \(form)", 2, { x, e, r, g in
                    let same = (0..<(x[0].count / d)).map { $0 % 2 == 1 }
                    return try contrastiveLoss(x1: x[0], x2: x[1], same: same, dimension: d, metric: metric,
                                               margin: metric == .cosine ? 0.8 : 4, form: form, reduction: r, computeGradient: g, execution: e)
                }))
            }
            for improved in [false, true] {
                out.append(("triplet \(metric) improved=\(improved)", 3, { x, e, r, g in
                    try tripletLoss(anchor: x[0], positive: x[1], negative: x[2], dimension: d, metric: metric,
                                    margin: metric == .cosine ? 0.2 : 1, improved: improved, reduction: r, computeGradient: g, execution: e)
                }))
            }
            out.append(("quadruplet \(metric)", 4, { x, e, r, g in
                try quadrupletLoss(anchor: x[0], positive: x[1], negative1: x[2], negative2: x[3], dimension: d, metric: metric,
                                   margin1: metric == .cosine ? 0.3 : 1, margin2: 0.5, reduction: r, computeGradient: g, execution: e)
            }))
        }
        return out
    }

    @Test("C vs portable, finite differences, determinism")
    func differentialAndGradients() throws {
        let d = 9
        var rng = SeededRandom(seed: 77)
        for (name, arity, loss) in Self.losses(d: d) {
            let rows = 13
            let inputs = (0..<arity).map { _ in rng.normal(count: rows * d) }
            for reduction in Reduction.allCases {
                let reference = try loss(inputs, .portable, reduction, true)
                let c = try loss(inputs, .default, reduction, true)
                #expect(isClose(Double(c.value), Double(reference.value), rtol: 1e-5, atol: 1e-6), "\(name) \(reduction)")
                for k in 0..<arity {
                    #expect(firstMismatch(c.gradients![k], reference.gradients![k], rtol: 1e-4, atol: 1e-6) == nil, "\(name) grad \(k)")
                }
            }
            // finite differences of the per-row losses, input by input
            let analytic = try loss(inputs, .default, .none, true).gradients!
            for k in 0..<arity {
                let numeric = try finiteDifferenceGradient(at: inputs[k], relativeStep: 1e-3, minimumStep: 1e-3) { probe in
                    var x = inputs
                    x[k] = probe
                    return try loss(x, .default, .none, false).unreduced!
                }
                for i in inputs[k].indices {
                    #expect(isClose(Double(analytic[k][i]), numeric[i], rtol: 5e-3, atol: 2e-3),
                            "\(name) input \(k) [\(i)]: \(analytic[k][i]) vs \(numeric[i])")
                }
            }
            let big = (0..<arity).map { _ in rng.normal(count: 3000 * d) }
            let one = try loss(big, Execution(threads: 1), .mean, true), all = try loss(big, .default, .mean, true)
            #expect(one == all, "\(name): thread count changed the result")
        }
    }

    @Test("bad input")
    func badInput() {
        #expect(throws: LossKitError.self) { try tripletLoss(anchor: [1, 2], positive: [1, 2, 3], negative: [1, 2], dimension: 2) }
        #expect(throws: LossKitError.self) { try tripletLoss(anchor: [1, 2], positive: [1, 2], negative: [1, 2], dimension: 2, margin: .nan) }
        #expect(throws: LossKitError.self) { try contrastiveLoss(x1: [1, 2], x2: [1, 2], same: [true, false], dimension: 2) }
        #expect(throws: LossKitError.self) { try quadrupletLoss(anchor: [1], positive: [1], negative1: [1], negative2: [1], dimension: 0) }
        var loss: Float = -1
        #expect(losskit_triplet(LOSSKIT_METRIC_EUCLIDEAN, nil, [1], [1], 1, 1, 0.3, 0, LOSSKIT_REDUCTION_SUM, &loss, nil, nil, nil, 1) == -2)
        #expect(losskit_contrastive(LOSSKIT_METRIC_EUCLIDEAN, [1], [1], [1], 1, 1, .infinity, 0, LOSSKIT_REDUCTION_SUM, &loss, nil, nil, 1) == -7)
        #expect(loss == -1)
    }
}
