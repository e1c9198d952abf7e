import LossKit
import _TestSupport

/// The elementwise ops with the parameter settings the tests sweep, how to
/// draw inputs for them, and where their kinks are (finite differences must
/// stay away from those).
struct ElementwiseCase: CustomStringConvertible, Sendable {
    var name: String
    var loss: ElementwiseLoss
    /// Classification ops take logits and targets in [0, 1]; regression ops take residuals.
    var classification: Bool
    /// |r| values where the loss is not differentiable (besides 0 where noted).
    var kinks: [Float]
    var kinkAtZero: Bool

    var description: String { name }

    /// Element counts must be a multiple of this (per-class pos_weight).
    var countMultiple: Int {
        if case let .binaryCrossEntropyWithLogits(pw?) = loss { return pw.count }
        return 1
    }

    /// Random inputs: (predictions or logits, targets).
    func inputs(count: Int, seed: UInt64) -> ([Float], [Float]) {
        var rng = SeededRandom(seed: seed)
        if classification {
            let logits = rng.normal(count: count, std: 3)
            let soft = seed % 2 == 0
            let targets = (0..<count).map { _ in soft ? Float.random(in: 0...1, using: &rng) : (Bool.random(using: &rng) ? 1 : 0) }
            return (logits, targets)
        }
        let targets: [Float]
        switch loss {
        case .adaptiveWing, .shrinkage: targets = rng.uniform(0...1, count: count) // heatmap-like targets
        default: targets = rng.normal(count: count, std: 2)
        }
        let scale: Float
        switch loss {
        case .wing: scale = 8
        case .shrinkage, .adaptiveWing: scale = 0.6
        case .focalRegression: scale = 1.5
        default: scale = 2
        }
        let residuals = rng.normal(count: count, std: scale)
        return (zip(targets, residuals).map { $0 + $1 }, targets)
    }

    /// Edge inputs: kinks exactly, zeros, saturating and non-finite values, subnormals.
    /// A subnormal near 1e-40 (the literal 1e-40 would round, with a warning).
    static let subnormal = Float.leastNormalMagnitude / 100

    func edgeInputs() -> ([Float], [Float]) {
        var x: [Float] = [], t: [Float] = []
        if classification {
            let logits: [Float] = [0, -0.0, Self.subnormal, -Self.subnormal, 30, -30, 88, -88, 100, -100, 1e4, -1e4, .infinity, -.infinity, .nan, 5, -5]
            for z in logits { for y: Float in [0, 1, 0.3] { x.append(z); t.append(y) } }
            x += [1, 2, -2]; t += [.nan, 1, 0] // 54 values: a multiple of 3 (per-class pos_weight)
            return (x, t)
        }
        var residuals: [Float] = [0, -0.0, 1e-7, -1e-7, Self.subnormal, 1, -1, 1000, -1000, .infinity, -.infinity, .nan]
        for k in kinks { residuals += [k, -k, k.nextUp, k.nextDown] }
        for r in residuals { for y: Float in [0, 0.5] { x.append(y + r); t.append(y) } }
        x.append(0); t.append(.nan)
        return (x, t)
    }
}

let elementwiseCases: [ElementwiseCase] = [
    ElementwiseCase(name: "l1", loss: .l1, classification: false, kinks: [], kinkAtZero: true),
    ElementwiseCase(name: "mse", loss: .mse, classification: false, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "smooth_l1 beta 1", loss: .smoothL1(beta: 1), classification: false, kinks: [1], kinkAtZero: false),
    ElementwiseCase(name: "smooth_l1 beta 1/9", loss: .smoothL1(beta: 1.0 / 9), classification: false, kinks: [1.0 / 9], kinkAtZero: false),
    ElementwiseCase(name: "smooth_l1 beta 0", loss: .smoothL1(beta: 0), classification: false, kinks: [], kinkAtZero: true),
    ElementwiseCase(name: "huber delta 1", loss: .huber(delta: 1), classification: false, kinks: [1], kinkAtZero: false),
    ElementwiseCase(name: "huber delta 2.5", loss: .huber(delta: 2.5), classification: false, kinks: [2.5], kinkAtZero: false),
    ElementwiseCase(name: "wing 10/2", loss: .wing(w: 10, epsilon: 2), classification: false, kinks: [10], kinkAtZero: true),
    ElementwiseCase(name: "wing 5/0.5", loss: .wing(w: 5, epsilon: 0.5), classification: false, kinks: [5], kinkAtZero: true),
    ElementwiseCase(name: "adaptive wing", loss: .adaptiveWing(alpha: 2.1, omega: 14, epsilon: 1, theta: 0.5),
                    classification: false, kinks: [0.5], kinkAtZero: true),
    ElementwiseCase(name: "focal regression gamma 1", loss: .focalRegression(gamma: 1), classification: false, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "focal regression gamma 0.5", loss: .focalRegression(gamma: 0.5), classification: false, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "shrinkage exp(y)", loss: .shrinkage(a: 10, c: 0.2, weight: .exponentialTarget), classification: false, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "shrinkage none", loss: .shrinkage(a: 5, c: 0.5, weight: .none), classification: false, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "shrinkage dslt", loss: .shrinkage(a: 10, c: 0.2, weight: .dsltCode), classification: false, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "bce", loss: .binaryCrossEntropyWithLogits(posWeight: nil), classification: true, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "bce pos_weight 3", loss: .binaryCrossEntropyWithLogits(posWeight: [3]), classification: true, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "bce per-class pos_weight", loss: .binaryCrossEntropyWithLogits(posWeight: [0.5, 2, 4]), classification: true, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "focal 0.25/2", loss: .sigmoidFocal(alpha: 0.25, gamma: 2, normalizer: nil), classification: true, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "focal no alpha", loss: .sigmoidFocal(alpha: -1, gamma: 2, normalizer: nil), classification: true, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "focal gamma 0", loss: .sigmoidFocal(alpha: 0.5, gamma: 0, normalizer: nil), classification: true, kinks: [], kinkAtZero: false),
    ElementwiseCase(name: "focal gamma 1.5", loss: .sigmoidFocal(alpha: 0.25, gamma: 1.5, normalizer: nil), classification: true, kinks: [], kinkAtZero: false),
]

/// Runs an elementwise loss through the buffer API; returns (value, unreduced, gradient).
func runElementwise(_ loss: ElementwiseLoss, _ x: [Float], _ t: [Float], weights: [Float]? = nil, reduction: Reduction,
                    gradient wantGradient: Bool = true, execution: Execution) throws -> (Float, [Float], [Float]) {
    var g = [Float](repeating: -7, count: x.count), u = [Float](repeating: -7, count: x.count)
    // the weights in a buffer of their own (nil stays nil)
    let wb = weights.map { w in
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: w.count)
        _ = buffer.initialize(from: w)
        return buffer
    }
    defer { wb?.deallocate() }
    let v = try x.withUnsafeBufferPointer { xb in
        try t.withUnsafeBufferPointer { tb in
            try g.withUnsafeMutableBufferPointer { gb in
                try u.withUnsafeMutableBufferPointer { ub in
                    try elementwiseLoss(loss, predictions: xb, targets: tb, weights: wb.map { UnsafeBufferPointer($0) },
                                        reduction: reduction, unreduced: reduction == .none ? ub : nil,
                                        gradient: wantGradient ? gb : nil, execution: execution)
                }
            }
        }
    }
    return (v, reduction == .none ? u : [], wantGradient ? g : [])
}

/// Bitwise equality that treats NaN payloads alike.
func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
}

/// C and portable agree: both NaN, or equal infinities, or within tolerance.
func agree(_ a: Float, _ b: Float, rtol: Float, atol: Float) -> Bool {
    if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
    if a.isInfinite || b.isInfinite { return a == b }
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))
}
