import CLossKit
import LossKit
import Testing
import _TestSupport

/// The C kernels against the portable Swift twins, on every ISA path.
@Suite("Differential: C vs portable, elementwise and softmax")
struct ElementwiseDifferentialTests {
    static let sizes = [0, 1, 7, 8, 9, 31, 1000, 100_003]

    @Test("random inputs, every size, reduction and ISA", arguments: elementwiseCases)
    func random(_ op: ElementwiseCase) throws {
        for (k, size) in Self.sizes.enumerated() {
            let n = size - size % op.countMultiple
            let (x, t) = op.inputs(count: n, seed: UInt64(17 + k))
            for reduction in Reduction.allCases {
                let reference = try runElementwise(op.loss, x, t, reduction: reduction, execution: Execution(backend: .portable))
                try forEachISA { isa in
                    for withGradient in [true, false] {
                        let c = try runElementwise(op.loss, x, t, reduction: reduction, gradient: withGradient, execution: .default)
                        let label = "\(op) n=\(n) \(reduction) \(isaName(isa)) grad=\(withGradient)"
                        // reduced values: a sum of n terms each within a few ulp
                        #expect(agree(c.0, reference.0, rtol: 2e-5, atol: 1e-6), "\(label): value \(c.0) vs \(reference.0)")
                        for i in c.1.indices where !agree(c.1[i], reference.1[i], rtol: 2e-5, atol: 1e-6) {
                            Issue.record("\(label): loss[\(i)] \(c.1[i]) vs \(reference.1[i]) at x=\(x[i]) t=\(t[i])")
                            break
                        }
                        if withGradient {
                            let scale = Float(reduction == .mean ? 1.0 / Double(max(n, 1)) : 1.0)
                            for i in c.2.indices where !agree(c.2[i], reference.2[i], rtol: 5e-5, atol: 1e-6 * scale) {
                                Issue.record("\(label): grad[\(i)] \(c.2[i]) vs \(reference.2[i]) at x=\(x[i]) t=\(t[i])")
                                break
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("edge values: kinks, zeros, saturation, subnormals, inf, NaN", arguments: elementwiseCases)
    func edges(_ op: ElementwiseCase) throws {
        let (x, t) = op.edgeInputs()
        let reference = try runElementwise(op.loss, x, t, reduction: .none, execution: Execution(backend: .portable))
        // NaN in gives NaN out, in the loss and in that element's gradient
        for i in x.indices where x[i].isNaN || t[i].isNaN {
            #expect(reference.1[i].isNaN && reference.2[i].isNaN, "\(op) portable: NaN input \(i) gave \(reference.1[i]), \(reference.2[i])")
        }
        try forEachISA { isa in
            let c = try runElementwise(op.loss, x, t, reduction: .none, execution: .default)
            for i in x.indices {
                #expect(agree(c.1[i], reference.1[i], rtol: 5e-5, atol: 1e-6),
                        "\(op) \(isaName(isa)): loss at x=\(x[i]) t=\(t[i]): C \(c.1[i]) vs portable \(reference.1[i])")
                #expect(agree(c.2[i], reference.2[i], rtol: 5e-5, atol: 1e-6),
                        "\(op) \(isaName(isa)): grad at x=\(x[i]) t=\(t[i]): C \(c.2[i]) vs portable \(reference.2[i])")
            }
            // a NaN anywhere reaches the reduced value too
            let sum = try runElementwise(op.loss, x, t, reduction: .sum, execution: .default)
            #expect(sum.0.isNaN, "\(op) \(isaName(isa)): sum over inputs with NaN is \(sum.0)")
        }
    }

    @Test("large finite losses sum without overflow on every ISA")
    func largeFiniteSums() throws {
        // 64 squared residuals of 1.5e19 are each 2.25e38 < Float.greatestFiniteMagnitude:
        // their mean is too, though any two of them added in Float would overflow
        let x = [Float](repeating: 1.5e19, count: 64), t = [Float](repeating: 0, count: 64)
        let reference = try runElementwise(.mse, x, t, reduction: .mean, execution: Execution(backend: .portable))
        #expect(reference.0.isFinite && isClose(Double(reference.0), 2.25e38, rtol: 1e-6, atol: 0))
        try forEachISA { isa in
            let c = try runElementwise(.mse, x, t, reduction: .mean, execution: .default)
            #expect(c.0 == reference.0, "\(isaName(isa)): mean \(c.0) vs portable \(reference.0)")
        }
    }

    @Test("softmax losses: random rows, weights, smoothing, ignored rows, every ISA")
    func softmax() throws {
        var rng = SeededRandom(seed: 5)
        for classes in [1, 2, 3, 16, 21, 33, 751] {
            for rows in [0, 1, 15, 16, 17, 100, 700] where rows * classes <= 200_000 {
                let logits = rng.normal(count: rows * classes, std: 3)
                let labels = (0..<rows).map { i in i % 5 == 3 ? -100 : Int.random(in: 0..<classes, using: &rng) }
                let weights = rng.uniform(0.1...2, count: classes)
                let configs: [SoftmaxLoss] = [
                    .crossEntropy(classWeights: nil, labelSmoothing: 0),
                    .crossEntropy(classWeights: weights, labelSmoothing: 0.1),
                    .crossEntropy(classWeights: nil, labelSmoothing: 0.2),
                    .focal(alpha: 0.25, gamma: 2),
                    .focal(alpha: 1, gamma: 0.5),
                ]
                for loss in configs {
                    for reduction in Reduction.allCases {
                        let reference = try runSoftmax(loss, logits, labels, classes, reduction, Execution(backend: .portable))
                        try forEachISA { isa in
                          // AVX-512 has a gather-based block for few classes, on by default on Intel only: run both
                          defer { _ = losskit_set_thread_gathers(-1) }
                          for gathers: Int32 in isa == LOSSKIT_ISA_AVX512 ? [0, 1] : [-1] {
                            _ = losskit_set_thread_gathers(gathers)
                            let c = try runSoftmax(loss, logits, labels, classes, reduction, .default)
                            let label = "\(loss) \(rows)x\(classes) \(reduction) \(isaName(isa)) gathers \(gathers)"
                            #expect(agree(c.0, reference.0, rtol: 2e-5, atol: 1e-6), "\(label): \(c.0) vs \(reference.0)")
                            for i in c.1.indices where !agree(c.1[i], reference.1[i], rtol: 2e-5, atol: 1e-6) {
                                Issue.record("\(label): row loss[\(i)] \(c.1[i]) vs \(reference.1[i])"); break
                            }
                            for i in c.2.indices where !agree(c.2[i], reference.2[i], rtol: 1e-4, atol: 2e-6) {
                                Issue.record("\(label): grad[\(i)] \(c.2[i]) vs \(reference.2[i])"); break
                            }
                          }
                        }
                    }
                }
            }
        }
    }

    @Test("softmax edge rows: +-1e4, -inf, NaN, all rows ignored")
    func softmaxEdges() throws {
        let logits: [Float] = [1e4, 0, -1e4, /**/ -1e4, -1e4, -1e4, /**/ 0, -.infinity, 3, /**/ .nan, 1, 2, /**/ 5, 5, 5]
        let labels = [0, 1, 2, 1, 2]
        for isaRun in [false, true] {
            let exec = isaRun ? Execution.default : Execution(backend: .portable)
            let r = try runSoftmax(.crossEntropy(classWeights: nil, labelSmoothing: 0), logits, labels, 3, .none, exec)
            #expect(abs(r.1[0]) < 1e-6, "\(isaRun): \(r.1)")
            #expect(abs(r.1[1] - 1.0986123) < 1e-5, "\(isaRun): \(r.1)")
            #expect(abs(r.1[2] - 0.0485873) < 1e-5, "\(isaRun): \(r.1)")
            #expect(r.1[3].isNaN && r.2[9..<12].allSatisfy(\.isNaN), "NaN row: \(r.1[3]) \(r.2[9..<12])")
            #expect(abs(r.1[4] - 1.0986123) < 1e-5)
            #expect(r.2[7] == 0, "d/dx of a -inf logit is 0 (its probability is 0)")
            let ignored = try runSoftmax(.crossEntropy(classWeights: nil, labelSmoothing: 0), logits, [-100, -100, -100, -100, -100], 3, .mean, exec)
            #expect(ignored.0.isNaN, "mean over no counted rows is NaN, as PyTorch")
            #expect(ignored.2.allSatisfy { $0 == 0 })
        }
    }
}

func runSoftmax(_ loss: SoftmaxLoss, _ logits: [Float], _ labels: [Int], _ classes: Int, _ reduction: Reduction,
                _ execution: Execution) throws -> (Float, [Float], [Float]) {
    var g = [Float](repeating: -7, count: logits.count), u = [Float](repeating: -7, count: labels.count)
    let v = try logits.withUnsafeBufferPointer { x in
        try labels.withUnsafeBufferPointer { y in
            try g.withUnsafeMutableBufferPointer { gb in
                try u.withUnsafeMutableBufferPointer { ub in
                    try softmaxLoss(loss, logits: x, labels: y, classes: classes, reduction: reduction,
                                    unreduced: reduction == .none ? ub : nil, gradient: gb, execution: execution)
                }
            }
        }
    }
    return (v, reduction == .none ? u : [], g)
}
