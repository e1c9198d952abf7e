import CLossKit
import Foundation
import LossKit
import Testing
import _TestSupport

/// Softmax cross-entropy against PyTorch where its weighted mean divides by
/// zero, and with probability targets (soft labels), on the portable backend
/// and on the C backend at every ISA path.
@Suite("Softmax cross-entropy: zero denominators and probability targets")
struct SoftmaxCrossEntropyTests {
    static let zeroDenominatorCases = try! Golden.cases("softmax_ce_zero_denominator")
    static let softCases = try! Golden.cases("softmax_ce_soft")

    /// Both backends, the C one at every ISA (and, on AVX-512, with and without the gather block).
    func forEachExecution(_ body: (Execution, String) throws -> Void) rethrows {
        try body(Execution(backend: .portable), "portable")
        try forEachISA { isa in
            defer { _ = losskit_set_thread_gathers(-1) }
            for gathers: Int32 in isa == LOSSKIT_ISA_AVX512 ? [0, 1] : [-1] {
                _ = losskit_set_thread_gathers(gathers)
                try body(.default, "c/\(isaName(isa))/gathers \(gathers)")
            }
        }
    }

    func check(_ golden: GoldenCase, _ result: LossResult, _ label: String) {
        let reduction = golden.string("reduction")!
        let loss = golden.output("loss")
        if reduction == "none" {
            let m = firstMismatch(result.unreduced ?? [], loss.data, rtol: 1e-5, atol: 1e-6)
            #expect(m == nil, "\(golden) \(label): loss \(m ?? "")")
        } else {
            #expect(isClose(Double(result.value), loss.scalar, rtol: 1e-4, atol: 1e-6),
                    "\(golden) \(label): loss \(result.value) vs \(loss.scalar)")
        }
        let m = firstMismatch(result.gradient ?? [], golden.output("grad_logits").data, rtol: 1e-5, atol: 1e-6)
        #expect(m == nil, "\(golden) \(label): gradient \(m ?? "")")
    }

    /// The case's call: class-index labels, or probability targets.
    static func evaluate(_ g: GoldenCase, _ execution: Execution) throws -> LossResult {
        let logits = g.input("logits"), weights = g.inputs["class_weights"]?.floats
        let eps = g.float("label_smoothing")!
        let reduction: Reduction = ["none": .none, "sum": .sum, "mean": .mean][g.string("reduction")!]!
        if let targets = g.inputs["targets"] {
            return try softmaxCrossEntropy(logits: logits.floats, targetProbabilities: targets.floats, classes: logits.shape[1],
                                           classWeights: weights, labelSmoothing: eps, reduction: reduction, execution: execution)
        }
        return try softmaxCrossEntropy(logits: logits.floats, labels: g.input("labels").ints, classes: logits.shape[1],
                                       classWeights: weights, labelSmoothing: eps, reduction: reduction, execution: execution)
    }

    // MARK: zero denominators (issue 12)

    @Test("weighted mean over zero total weight is NaN (loss and counted rows' gradient), as F.cross_entropy",
          arguments: zeroDenominatorCases)
    func zeroDenominator(_ golden: GoldenCase) throws {
        try forEachExecution { execution, label in check(golden, try Self.evaluate(golden, execution), label) }
    }

    @Test("the issue's case through the C ABI: zero label weights, smoothing 0.1, mean")
    func zeroDenominatorCABI() {
        let x: [Float] = [0.5, -1, 2, 1, 0, -2]
        let labels: [Int64] = [0, 1]
        let w: [Float] = [0, 0, 2]
        for isaRun in availableISAs {
            _ = losskit_set_thread_isa(Int32(isaRun.rawValue))
            defer { _ = losskit_set_thread_isa(-1) }
            var loss: Float = 0, grad = [Float](repeating: 0, count: 6)
            #expect(losskit_softmax_ce(x, labels, 2, 3, w, -100, 0.1, LOSSKIT_REDUCTION_MEAN, &loss, &grad, 1) == LOSSKIT_OK)
            #expect(loss.isNaN, "\(isaName(isaRun)): \(loss) (was +inf)")
            #expect(grad.allSatisfy { $0.isNaN }, "\(isaName(isaRun)): \(grad)")
            // the sum is finite: only the mean divides by the zero weight
            #expect(losskit_softmax_ce(x, labels, 2, 3, w, -100, 0.1, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == LOSSKIT_OK)
            #expect(loss.isFinite && loss > 0 && grad.allSatisfy { $0.isFinite })
        }
    }

    @Test("softmax focal and identity losses: a mean over no counted row is NaN, gradient 0")
    func zeroDenominatorFocalAndIdentity() throws {
        let logits: [Float] = [0.5, -1, 2, 1, 0, -2]
        try forEachExecution { execution, label in
            let focal = try softmaxFocalLoss(logits: logits, labels: [-100, -100], classes: 3, execution: execution)
            #expect(focal.value.isNaN && focal.gradient! == [Float](repeating: 0, count: 6), "\(label): \(focal)")
            let some = try softmaxFocalLoss(logits: logits, labels: [-100, 2], classes: 3, execution: execution)
            #expect(some.value.isFinite && some.gradient!.allSatisfy { $0.isFinite }, "\(label): \(some)")
            let empty = try identityLoss(logits: [], identities: [], identityCount: 3, execution: execution)
            #expect(empty.value.isNaN && empty.gradient!.isEmpty, "\(label): \(empty)")
            let emptySoft = try softmaxCrossEntropy(logits: [], targetProbabilities: [], classes: 3, execution: execution)
            #expect(emptySoft.value.isNaN, "\(label): \(emptySoft)")
        }
    }

    // MARK: probability targets

    @Test("probability targets vs PyTorch", arguments: softCases)
    func softGolden(_ golden: GoldenCase) throws {
        try forEachExecution { execution, label in check(golden, try Self.evaluate(golden, execution), label) }
    }

    static func softTargets(rows: Int, classes: Int, kind: Int, rng: inout SeededRandom) -> [Float] {
        switch kind {
        case 0: // a teacher's softmax
            var t = rng.normal(count: rows * classes, std: 2)
            for i in 0..<rows {
                let row = t[i * classes ..< (i + 1) * classes].map { exp(Double($0)) }
                let s = row.reduce(0, +)
                for c in 0..<classes { t[i * classes + c] = Float(row[c] / s) }
            }
            return t
        case 1: // mixup of two one-hot rows; some rows all zero
            var t = [Float](repeating: 0, count: rows * classes)
            for i in 0..<rows where i % 7 != 5 {
                let lam = Float.random(in: 0...1, using: &rng)
                t[i * classes + Int.random(in: 0..<classes, using: &rng)] += lam
                t[i * classes + Int.random(in: 0..<classes, using: &rng)] += 1 - lam
            }
            return t
        default: // not summing to 1, some negative
            return rng.uniform(-0.2...1, count: rows * classes)
        }
    }

    func runSoft(_ logits: [Float], _ targets: [Float], _ classes: Int, _ weights: [Float]?, _ smoothing: Float,
                 _ reduction: Reduction, _ execution: Execution, gradient: Bool = true) throws -> (Float, [Float], [Float]) {
        var g = [Float](repeating: -7, count: gradient ? logits.count : 0)
        var u = [Float](repeating: -7, count: logits.count / classes)
        let v = try logits.withUnsafeBufferPointer { x in
            try targets.withUnsafeBufferPointer { t in
                try g.withUnsafeMutableBufferPointer { gb in
                    try u.withUnsafeMutableBufferPointer { ub in
                        try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: classes, classWeights: weights,
                                                labelSmoothing: smoothing, reduction: reduction,
                                                unreduced: reduction == .none ? ub : nil,
                                                gradient: gradient ? gb : nil, execution: execution)
                    }
                }
            }
        }
        return (v, u, g)
    }

    @Test("probability targets: C vs portable, random shapes and targets, every ISA")
    func softDifferential() throws {
        var rng = SeededRandom(seed: 31)
        for classes in [1, 2, 3, 16, 21, 32, 33, 751] {
            for rows in [0, 1, 15, 16, 17, 47, 300] where rows * classes <= 120_000 {
                let logits = rng.normal(count: rows * classes, std: 3)
                let weights = rng.uniform(0...2, count: classes)
                for kind in 0..<3 {
                    let targets = Self.softTargets(rows: rows, classes: classes, kind: kind, rng: &rng)
                    for (w, eps) in [(nil, 0), (weights, 0), (nil, 0.1), (weights, 0.25)] as [([Float]?, Float)] {
                        for reduction in Reduction.allCases {
                            let ref = try runSoft(logits, targets, classes, w, eps, reduction, Execution(backend: .portable))
                            try forEachISA { isa in
                                for withGradient in [true, false] {
                                    let c = try runSoft(logits, targets, classes, w, eps, reduction, .default, gradient: withGradient)
                                    let label = "\(rows)x\(classes) kind \(kind) w \(w != nil) eps \(eps) \(reduction) \(isaName(isa))"
                                    #expect(agree(c.0, ref.0, rtol: 2e-5, atol: 1e-5), "\(label): \(c.0) vs \(ref.0)")
                                    if reduction == .none {
                                        for i in c.1.indices where !agree(c.1[i], ref.1[i], rtol: 2e-5, atol: 1e-5) {
                                            Issue.record("\(label): row loss[\(i)] \(c.1[i]) vs \(ref.1[i])"); break
                                        }
                                    }
                                    if withGradient {
                                        for i in c.2.indices where !agree(c.2[i], ref.2[i], rtol: 1e-4, atol: 2e-6) {
                                            Issue.record("\(label): grad[\(i)] \(c.2[i]) vs \(ref.2[i])"); break
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("probability targets, edge rows: +-1e4, -inf, +inf, NaN logits and targets; one row per lane position")
    func softEdges() throws {
        let classes = 5
        // rows: saturated; -inf where the target is 0; -inf where it is not; +inf; NaN logit; NaN target; zero targets
        let baseLogits: [[Float]] = [
            [1e4, 0, -1e4, 2, 1], [0, -.infinity, 3, 1, 2], [0, -.infinity, 3, 1, 2], [.infinity, 0, 1, 2, 3],
            [.nan, 1, 2, 3, 4], [1, 2, 3, 4, 5], [3, 1, 4, 1, 5],
        ]
        let baseTargets: [[Float]] = [
            [0.5, 0.5, 0, 0, 0], [0.2, 0, 0.3, 0.5, 0], [0.2, 0.1, 0.2, 0.5, 0], [0.2, 0.2, 0.2, 0.2, 0.2],
            [0.2, 0.2, 0.2, 0.2, 0.2], [0.2, .nan, 0.2, 0.2, 0.2], [0, 0, 0, 0, 0],
        ]
        // 35 rows: each edge row at several positions, so the 16-row blocks and the tails both see it
        var logits: [Float] = [], targets: [Float] = []
        for i in 0..<35 {
            logits += baseLogits[i % 7]
            targets += baseTargets[i % 7]
        }
        try forEachExecution { execution, label in
            for eps: Float in [0, 0.1] {
                let r = try runSoft(logits, targets, classes, nil, eps, .none, execution)
                for i in 0..<35 {
                    let loss = r.1[i], g = Array(r.2[i * classes ..< (i + 1) * classes])
                    let tag = "\(label) eps \(eps) row \(i) (edge \(i % 7)): loss \(loss) grad \(g)"
                    switch i % 7 {
                    case 0: #expect(loss.isFinite && g.allSatisfy { $0.isFinite }, "\(tag)")
                    case 1: // 0 x inf in the loss where t' = 0 (eps 0), as PyTorch; +inf where t' > 0; finite gradient either way
                        #expect(eps == 0 ? loss.isNaN : loss == .infinity, "\(tag)")
                        #expect(g.allSatisfy { $0.isFinite }, "\(tag)")
                    case 2: #expect(loss == .infinity && g.allSatisfy { $0.isFinite }, "\(tag)")
                    case 3, 4, 5: #expect(loss.isNaN && g.allSatisfy { $0.isNaN }, "\(tag)")
                    default: // zero targets: the loss is eps/C sum (lse - x_c)
                        if eps == 0 { #expect(loss == 0 && g.allSatisfy { $0 == 0 }, "\(tag)") }
                        else { #expect(loss > 0 && g.allSatisfy { $0.isFinite }, "\(tag)") }
                    }
                }
                // the saturated row: -(0.5 log p_0 + 0.5 log p_1) = 0.5 * 1e4 (p_0 = 1); its gradient is p - t
                if eps == 0 {
                    #expect(isClose(Double(r.1[0]), 5000, rtol: 1e-6, atol: 0), "\(label): \(r.1[0])")
                    #expect(r.2[0..<5] == [0.5, -0.5, 0, 0, 0], "\(label): \(r.2[0..<5])")
                }
                // the -inf logit's gradient is that of a very negative finite logit
                var finite = logits
                for i in 0..<35 where i % 7 == 1 || i % 7 == 2 { finite[i * classes + 1] = -1e30 }
                let f = try runSoft(finite, targets, classes, nil, eps, .none, execution)
                for i in 0..<35 where i % 7 == 1 || i % 7 == 2 {
                    #expect(Array(r.2[i * classes ..< (i + 1) * classes]) == Array(f.2[i * classes ..< (i + 1) * classes]),
                            "\(label) eps \(eps) row \(i)")
                }
                let sum = try runSoft(logits, targets, classes, nil, eps, .sum, execution)
                #expect(sum.0.isNaN, "\(label): a NaN row reaches the sum")
            }
        }
    }

    @Test("probability targets: one-hot targets give the class-index loss, unreduced and summed")
    func oneHotMatchesLabels() throws {
        var rng = SeededRandom(seed: 41)
        for classes in [3, 21, 40] {
            let rows = 37
            let logits = rng.normal(count: rows * classes, std: 2)
            let labels = (0..<rows).map { _ in Int.random(in: 0..<classes, using: &rng) }
            var targets = [Float](repeating: 0, count: rows * classes)
            for (i, y) in labels.enumerated() { targets[i * classes + y] = 1 }
            let weights = rng.uniform(0.1...2, count: classes)
            for (w, eps) in [(nil, 0), (weights, 0.1)] as [([Float]?, Float)] {
                try forEachExecution { execution, label in
                    for reduction in [Reduction.none, .sum] {
                        let hard = try softmaxCrossEntropy(logits: logits, labels: labels, classes: classes, classWeights: w,
                                                           labelSmoothing: eps, reduction: reduction, execution: execution)
                        let soft = try softmaxCrossEntropy(logits: logits, targetProbabilities: targets, classes: classes,
                                                           classWeights: w, labelSmoothing: eps, reduction: reduction,
                                                           execution: execution)
                        #expect(isClose(Double(soft.value), Double(hard.value), rtol: 1e-5, atol: 1e-5), "\(label) \(classes)")
                        #expect(firstMismatch(soft.gradient!, hard.gradient!, rtol: 1e-4, atol: 1e-6) == nil, "\(label) \(classes)")
                    }
                    // the mean differs when weighted: rows here, the sum of w_y there (both as PyTorch)
                    let soft = try softmaxCrossEntropy(logits: logits, targetProbabilities: targets, classes: classes,
                                                       classWeights: w, labelSmoothing: eps, execution: execution)
                    let sum = try softmaxCrossEntropy(logits: logits, targetProbabilities: targets, classes: classes,
                                                      classWeights: w, labelSmoothing: eps, reduction: .sum, execution: execution)
                    #expect(isClose(Double(soft.value), Double(sum.value) / Double(rows), rtol: 1e-6, atol: 0), "\(label)")
                }
            }
        }
    }

    @Test("probability targets: analytic gradient vs finite differences")
    func softGradient() throws {
        var rng = SeededRandom(seed: 43)
        let rows = 5, classes = 7
        let logits = rng.normal(count: rows * classes, std: 2)
        let targets = Self.softTargets(rows: rows, classes: classes, kind: 2, rng: &rng)
        let weights = rng.uniform(0.2...2, count: classes)
        for (w, eps) in [(nil, 0), (weights, 0), (weights, 0.2)] as [([Float]?, Float)] {
            for execution in [Execution(backend: .portable), .default] {
                let analytic = try runSoft(logits, targets, classes, w, eps, .none, execution).2
                let numeric = try finiteDifferenceGradient(at: logits) { probe in
                    try runSoft(probe, targets, classes, w, eps, .none, execution).1
                }
                for i in logits.indices {
                    #expect(isClose(Double(analytic[i]), numeric[i], rtol: 3e-3, atol: 2e-3),
                            "\(execution.backend) w \(w != nil) eps \(eps) [\(i)]: \(analytic[i]) vs \(numeric[i])")
                }
                let mean = try runSoft(logits, targets, classes, w, eps, .mean, execution).2
                for i in logits.indices {
                    #expect(isClose(Double(mean[i]), Double(analytic[i]) / Double(rows), rtol: 1e-4, atol: 1e-8))
                }
            }
        }
    }

    @Test("probability targets: bitwise identical at any thread count")
    func softDeterminism() throws {
        var rng = SeededRandom(seed: 47)
        for classes in [21, 751] {
            let rows = classes == 21 ? 40_003 : 403
            let logits = rng.normal(count: rows * classes, std: 2)
            let targets = Self.softTargets(rows: rows, classes: classes, kind: 0, rng: &rng)
            let weights = rng.uniform(0.1...2, count: classes)
            for backend in Backend.allCases {
                try forEachISA { isa in
                    for reduction in [Reduction.mean, .none] {
                        let one = try runSoft(logits, targets, classes, weights, 0.1, reduction, Execution(backend: backend, threads: 1))
                        for threads in [2, 3, nil] as [Int?] {
                            let many = try runSoft(logits, targets, classes, weights, 0.1, reduction,
                                                   Execution(backend: backend, threads: threads))
                            let label = "\(classes) \(backend) \(isaName(isa)) \(reduction) threads \(threads.map(String.init) ?? "all")"
                            #expect(one.0.bitPattern == many.0.bitPattern, "\(label)")
                            #expect(sameBits(one.1, many.1) && sameBits(one.2, many.2), "\(label)")
                        }
                    }
                }
            }
        }
    }

    func expectError(_ name: String, _ body: () throws -> Any) {
        do {
            _ = try body()
            Issue.record("expected an error naming \(name)")
        } catch let error as LossKitError {
            switch error {
            case let .shapeMismatch(argument, _, _), let .invalidShape(argument, _, _), let .invalidParameter(argument, _, _):
                #expect(argument == name, "\(error) should name \(name)")
            default: Issue.record("\(error) should name \(name)")
            }
        } catch {
            Issue.record("untyped error \(error)")
        }
    }

    @Test("probability targets: bad input throws typed errors; the C ABI returns the argument's status")
    func softBadInput() throws {
        let x: [Float] = [1, 2, 3, 4, 5, 6]
        let t: [Float] = [0, 1, 0, 0.5, 0.5, 0]
        expectError("targetProbabilities") { try softmaxCrossEntropy(logits: x, targetProbabilities: [0, 1, 0], classes: 3) }
        expectError("logits") { try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: 4) }
        expectError("classes") { try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: 0) }
        expectError("classes") { try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: -3) }
        expectError("classWeights") { try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: 3, classWeights: [1, 1]) }
        expectError("classWeights[2]") {
            try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: 3, classWeights: [1, 1, .nan])
        }
        expectError("labelSmoothing") { try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: 3, labelSmoothing: -0.1) }
        expectError("labelSmoothing") { try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: 3, labelSmoothing: .nan) }
        expectError("gradient") {
            try x.withUnsafeBufferPointer { xb in
                try t.withUnsafeBufferPointer { tb in
                    var g = [Float](repeating: 0, count: 5)
                    return try g.withUnsafeMutableBufferPointer { gb in
                        try softmaxCrossEntropy(logits: xb, targetProbabilities: tb, classes: 3, gradient: gb)
                    }
                }
            }
        }
        expectError("unreduced") {
            try x.withUnsafeBufferPointer { xb in
                try t.withUnsafeBufferPointer { tb in
                    var u = [Float](repeating: 0, count: 3)
                    return try u.withUnsafeMutableBufferPointer { ub in
                        try softmaxCrossEntropy(logits: xb, targetProbabilities: tb, classes: 3, reduction: .none, unreduced: ub)
                    }
                }
            }
        }
        // huge class counts: a typed error, never a trap
        expectError("logits") { try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: Int.max) }

        // C: each bad argument returns its position, and nothing is written
        let sentinel: Float = -12345
        var loss = [Float](repeating: sentinel, count: 2), grad = [Float](repeating: sentinel, count: 6)
        var w: [Float] = [1, -1, 1]
        #expect(losskit_softmax_ce_soft(nil, t, 2, 3, nil, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -1)
        #expect(losskit_softmax_ce_soft(x, nil, 2, 3, nil, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -2)
        #expect(losskit_softmax_ce_soft(x, t, Int.max / 2, 4, nil, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -3)
        #expect(losskit_softmax_ce_soft(x, t, 2, 0, nil, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -4)
        #expect(losskit_softmax_ce_soft(x, t, 2, 3, &w, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -5)
        #expect(losskit_softmax_ce_soft(x, t, 2, 3, nil, 1.5, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -6)
        #expect(losskit_softmax_ce_soft(x, t, 2, 3, nil, 0, losskit_reduction(rawValue: 9), &loss, &grad, 1) == -7)
        #expect(losskit_softmax_ce_soft(x, t, 2, 3, nil, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, -1) == -10)
        #expect(loss.allSatisfy { $0 == sentinel } && grad.allSatisfy { $0 == sentinel }, "a rejected call wrote")
        #expect(losskit_softmax_ce_soft(nil, nil, 0, 3, nil, 0, LOSSKIT_REDUCTION_MEAN, &loss, nil, 1) == LOSSKIT_OK)
        #expect(loss[0].isNaN, "no rows: NaN mean")
        // targets are taken as given (PyTorch): negative entries and rows not summing to 1 are not errors
        let negative: [Float] = [-0.5, 1.5, 0, 2, 0, 1]
        let r = try softmaxCrossEntropy(logits: x, targetProbabilities: negative, classes: 3, reduction: .none)
        let p = try softmaxCrossEntropy(logits: x, targetProbabilities: negative, classes: 3, reduction: .none,
                                        execution: Execution(backend: .portable))
        #expect(firstMismatch(r.unreduced!, p.unreduced!, rtol: 1e-5, atol: 1e-6) == nil)
        // row 0: -(-0.5 log p_0 + 1.5 log p_1), log p = x - lse
        let lse = log(exp(1.0) + exp(2.0) + exp(3.0))
        #expect(isClose(Double(r.unreduced![0]), 0.5 * (1 - lse) - 1.5 * (2 - lse), rtol: 1e-5, atol: 1e-6))
    }
}
