import Foundation
import LossKit
import Testing
import _TestSupport

/// BCE with logits and the sigmoid focal loss against a float64 reference
/// written here, independently of the kernels: every loss and gradient element
/// that is a normal float is within 1e-5 relative, on every ISA path and the
/// portable one - also for confident correct logits, where PyTorch's float32
/// form `(1 - t) x + softplus(-x)` cancels (x = -11.27, t = 0: 1.2398e-5
/// instead of 1.2750e-5).
@Suite("Exactness: BCE and sigmoid focal vs float64")
struct ElementwiseExactnessTests {
    static func softplus(_ x: Double) -> Double { max(x, 0) + Foundation.log1p(Foundation.exp(-abs(x))) }
    static func sigmoid(_ x: Double) -> Double { x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x)) }

    /// Logits over [-100, 100] (a 0.01 grid plus random points) against each target.
    static func inputs(targets: [Float]) -> ([Float], [Float]) {
        var rng = SeededRandom(seed: 12)
        var logits = (0...20_000).map { Float(-100 + Double($0) * 0.01) }
        logits += (0..<8_000).map { _ in Float.random(in: -100...100, using: &rng) }
        logits += rng.normal(count: 4_000, std: 4)
        var x: [Float] = [], t: [Float] = []
        for y in targets { x += logits; t += [Float](repeating: y, count: logits.count) }
        return (x, t)
    }

    /// Reference (loss, gradient, size of the terms the gradient subtracts) in Double.
    typealias Reference = (loss: Double, grad: Double, gradTerms: Double)

    static func bce(_ x: Float, _ t: Float, pw: Double, w: Double) -> Reference {
        let x = Double(x), t = Double(t)
        let a = (1 - t) * sigmoid(x), b = pw * t * sigmoid(-x)
        return (w * ((1 - t) * softplus(x) + pw * t * softplus(-x)), w * (a - b), abs(w) * (abs(a) + abs(b)))
    }

    static func focal(_ x: Float, _ t: Float, alpha: Double, gamma: Double) -> Reference {
        let x = Double(x), t = Double(t)
        let p = sigmoid(x), pc = sigmoid(-x)
        let ce = (1 - t) * softplus(x) + t * softplus(-x)
        let q = p * (1 - t) + pc * t
        let m = gamma == 0 ? 1 : Foundation.pow(q, gamma)
        let dm = gamma == 0 || q == 0 ? 0 : gamma * Foundation.pow(q, gamma - 1)
        let at = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1
        let a = (p * (1 - t) - pc * t) * m, b = ce * dm * p * pc * (2 * t - 1)
        return (at * ce * m, at * (a - b), abs(at) * (abs(p * (1 - t)) * m + abs(pc * t) * m + abs(b)))
    }

    /// Relative 1e-5 wherever the reference is a normal float. Soft targets put
    /// the gradient's two terms against each other near p = t (the gradient is 0
    /// at the optimum): there it is held to 1e-6 of the terms' size, the rounding
    /// of float32 terms; hard targets (one term, or two of one sign) get no slack.
    static func check(_ label: String, _ x: [Float], _ t: [Float], _ got: (Float, [Float], [Float]),
                      reference: (Int) -> Reference) {
        var failures = 0
        for i in x.indices where failures < 5 {
            let r = reference(i)
            let hard = t[i] == 0 || t[i] == 1
            if abs(r.loss) >= Double(Float.leastNormalMagnitude), r.loss.isFinite,
               abs(Double(got.1[i]) - r.loss) > 1e-5 * abs(r.loss) {
                Issue.record("\(label): loss at x=\(x[i]) t=\(t[i]): \(got.1[i]) vs \(r.loss)"); failures += 1
            }
            let slack = hard ? 0 : 1e-6 * r.gradTerms
            if abs(r.grad) >= Double(Float.leastNormalMagnitude), r.grad.isFinite,
               abs(Double(got.2[i]) - r.grad) > 1e-5 * abs(r.grad) + slack {
                Issue.record("\(label): grad at x=\(x[i]) t=\(t[i]): \(got.2[i]) vs \(r.grad)"); failures += 1
            }
        }
    }

    static func everyPath(_ body: (String, Execution) throws -> Void) throws {
        try body("portable", Execution(backend: .portable))
        try forEachISA { isa in try body(isaName(isa), .default) }
    }

    static let targets: [Float] = [0, 1, 0.3, 0.7, 0.999, 1e-3]

    @Test("BCE with logits: plain, pos_weight, per-class pos_weight, per-element weight")
    func bce() throws {
        let (x, t) = Self.inputs(targets: Self.targets)
        var rng = SeededRandom(seed: 3)
        let weights = rng.uniform(0...2, count: x.count)
        let perClass: [Float] = [0.5, 3]
        let configs: [(String, [Float]?, [Float]?)] = [("plain", nil, nil), ("pos_weight 3", [3], nil),
                                                       ("pos_weight 0.25", [0.25], weights),
                                                       ("per-class pos_weight", perClass, nil), ("weight", nil, weights)]
        for (name, pw, w) in configs {
            try Self.everyPath { path, exec in
                let got = try runElementwise(.binaryCrossEntropyWithLogits(posWeight: pw), x, t, weights: w,
                                             reduction: .none, execution: exec)
                Self.check("bce \(name) \(path)", x, t, got) { i in
                    Self.bce(x[i], t[i], pw: Double(pw.map { $0[i % $0.count] } ?? 1), w: Double(w?[i] ?? 1))
                }
            }
        }
    }

    @Test("sigmoid focal: alpha and gamma variants")
    func focal() throws {
        let (x, t) = Self.inputs(targets: Self.targets)
        for (alpha, gamma) in [(0.25, 2.0), (-1, 2), (0.5, 0), (0.25, 1), (0.25, 1.5), (0.75, 0.5), (0.25, 3)] as [(Float, Float)] {
            try Self.everyPath { path, exec in
                let got = try runElementwise(.sigmoidFocal(alpha: alpha, gamma: gamma, normalizer: nil), x, t,
                                             reduction: .none, execution: exec)
                Self.check("focal \(alpha)/\(gamma) \(path)", x, t, got) { i in
                    Self.focal(x[i], t[i], alpha: Double(alpha), gamma: Double(gamma))
                }
            }
        }
    }

    /// Wing's log branch runs on its own log1p (a 17-entry table on AVX-512):
    /// every loss and gradient within 1e-6 relative of float64 over the whole
    /// span of its argument, |r| / eps in [0, w / eps], on every path.
    @Test("Wing vs float64 over [-1.5 w, 1.5 w]", arguments: [(10, 2), (5, 0.5), (1, 1e-3), (100, 50), (3, 7)] as [(Float, Float)])
    func wing(_ params: (Float, Float)) throws {
        let (w, eps) = params
        var rng = SeededRandom(seed: 8)
        var r = (0...40_000).map { Float(-1.5 + 3 * Double($0) / 40_000) * w }
        r += (0..<20_000).map { _ in Float.random(in: -w...w, using: &rng) }
        r += (0..<4_000).map { _ in Float.random(in: -1...1, using: &rng) * pow(10, Float.random(in: -30...0, using: &rng)) }
        let t = rng.normal(count: r.count, std: 1)
        let x = zip(r, t).map { $0 + $1 }
        let c = Double(w) - Double(w) * Foundation.log1p(Double(w) / Double(eps))
        try Self.everyPath { path, exec in
            let got = try runElementwise(.wing(w: w, epsilon: eps), x, t, reduction: .none, execution: exec)
            var failures = 0
            for i in x.indices where failures < 5 {
                let rr = Double(x[i]) - Double(t[i]), a = abs(rr)
                let loss = a < Double(w) ? Double(w) * Foundation.log1p(a / Double(eps)) : a - c
                let grad = (rr > 0 ? 1.0 : rr < 0 ? -1 : 0) * (a < Double(w) ? Double(w) / (Double(eps) + a) : 1)
                if abs(Double(got.1[i]) - loss) > 1e-6 * abs(loss) || abs(Double(got.2[i]) - grad) > 1e-6 * abs(grad) {
                    Issue.record("wing \(w)/\(eps) \(path): r=\(rr): \(got.1[i]), \(got.2[i]) vs \(loss), \(grad)")
                    failures += 1
                }
            }
        }
    }

    @Test("the issue's examples: x = -11.27 and x = -88 at t = 0, x = 30 at t = 1")
    func issueExamples() throws {
        let x: [Float] = [-11.27, -88, 30, -30], t: [Float] = [0, 0, 1, 0]
        try Self.everyPath { path, exec in
            let got = try runElementwise(.binaryCrossEntropyWithLogits(posWeight: nil), x, t, reduction: .none, execution: exec)
            let exact = Self.softplus(Double(x[0])) // 1.27496e-5 (PyTorch's float32: 1.2398e-5)
            #expect(abs(Double(got.1[0]) - exact) < 1e-6 * exact, "\(path): \(got.1[0]) vs \(exact)")
            #expect(got.2[1] < 1e-37 && got.2[1] >= 0, "\(path): gradient at -88 is \(got.2[1]), true value 6e-39")
            #expect(got.1[2] > 9.3e-14 && got.1[2] < 9.4e-14, "\(path): softplus(-30) = 9.357e-14, got \(got.1[2])")
            #expect(got.1[3] > 9.3e-14 && got.1[3] < 9.4e-14, "\(path): \(got.1[3])")
        }
    }
}
