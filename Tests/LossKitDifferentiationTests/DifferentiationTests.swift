import _Differentiation
import LossKit
import LossKitDifferentiation
import XCTest

/// Small deterministic inputs (no test-support dependency: this bundle stands alone).
private func values(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var s = seed
    return (0..<count).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

private func same(_ a: [Float], _ b: [Float]?) -> Bool { b != nil && a == b! }

// XCTest rather than Swift Testing: the Testing macros' test-discovery records
// fail to build in a module that imports _Differentiation (Swift 6.3).
final class DifferentiationTests: XCTestCase {
    let p = values(24, seed: 1, scale: 3), t = values(24, seed: 2, scale: 3)

    func testRegression() throws {
        let targets = t
        XCTAssert(same(gradient(at: p) { l1Loss($0, targets: targets) }.base,
                     try LossKit.l1Loss(predictions: p, targets: t).gradient))
        XCTAssert(same(gradient(at: p) { mseLoss($0, targets: targets, reduction: .sum) }.base,
                     try LossKit.mseLoss(predictions: p, targets: t, reduction: .sum).gradient))
        XCTAssert(same(gradient(at: p) { smoothL1Loss($0, targets: targets, beta: 0.5) }.base,
                     try LossKit.smoothL1Loss(predictions: p, targets: t, beta: 0.5).gradient))
        XCTAssert(same(gradient(at: p) { huberLoss($0, targets: targets, delta: 2) }.base,
                     try LossKit.huberLoss(predictions: p, targets: t, delta: 2).gradient))
        XCTAssert(same(gradient(at: p) { wingLoss($0, targets: targets) }.base,
                     try LossKit.wingLoss(predictions: p, targets: t).gradient))
        let heat = values(24, seed: 3).map { abs($0) }
        XCTAssert(same(gradient(at: p) { adaptiveWingLoss($0, targets: heat) }.base,
                     try LossKit.adaptiveWingLoss(predictions: p, targets: heat).gradient))
        XCTAssert(same(gradient(at: p) { focalRegressionLoss($0, targets: targets, gamma: 1) }.base,
                     try LossKit.focalRegressionLoss(predictions: p, targets: t, gamma: 1).gradient))
        XCTAssert(same(gradient(at: p) { shrinkageLoss($0, targets: heat) }.base,
                     try LossKit.shrinkageLoss(predictions: p, targets: heat).gradient))
    }

    func testClassification() throws {
        let probs = values(24, seed: 4).map { ($0 + 1) / 2 }
        XCTAssert(same(gradient(at: p) { binaryCrossEntropyWithLogits($0, targets: probs) }.base,
                     try LossKit.binaryCrossEntropyWithLogits(logits: p, targets: probs).gradient))
        XCTAssert(same(gradient(at: p) { sigmoidFocalLoss($0, targets: probs) }.base,
                     try LossKit.sigmoidFocalLoss(logits: p, targets: probs).gradient))
        let labels = [0, 3, 5, -100]
        XCTAssert(same(gradient(at: p) { softmaxCrossEntropy($0, labels: labels, classes: 6, labelSmoothing: 0.1) }.base,
                     try LossKit.softmaxCrossEntropy(logits: p, labels: labels, classes: 6, labelSmoothing: 0.1).gradient))
        XCTAssert(same(gradient(at: p) { softmaxFocalLoss($0, labels: labels, classes: 6) }.base,
                     try LossKit.softmaxFocalLoss(logits: p, labels: labels, classes: 6).gradient))
        let ids = [0, 3, 5, 1]
        XCTAssert(same(gradient(at: p) { identityLoss($0, identities: ids, identityCount: 6) }.base,
                     try LossKit.identityLoss(logits: p, identities: ids, identityCount: 6).gradient))
        let pairs = (0..<24).map { $0 % 3 == 0 }
        XCTAssert(same(gradient(at: p) { verificationLoss($0, sameIdentity: pairs) }.base,
                     try LossKit.verificationLoss(pairLogits: p, sameIdentity: pairs).gradient))
    }

    func testDetection() throws {
        let boxes: [Float] = [0, 0, 2, 2, 1, 1, 4, 5, 3, 2, 6, 4]
        let truth: [Float] = [0.5, 0, 2, 3, 1, 2, 4, 4, 2, 2, 6, 5]
        for kind in [IoUKind.generalized, .distance, .complete] {
            XCTAssert(same(gradient(at: boxes) { boxIoULoss(kind, $0, targets: truth) }.base,
                         try LossKit.boxIoULoss(kind, predictions: boxes, targets: truth).gradient), "\(kind)")
        }
        // 4 priors (cx, cy, w, h), one image with one truth, 3 classes
        let priors: [Float] = [0.25, 0.25, 0.5, 0.5, 0.75, 0.25, 0.5, 0.5, 0.25, 0.75, 0.5, 0.5, 0.75, 0.75, 0.5, 0.5]
        let truths: [[Float]] = [[0.05, 0.05, 0.5, 0.45]], labels = [[1]]
        let loc = values(16, seed: 5), conf = values(12, seed: 6, scale: 2)
        let (gl, gc) = gradient(at: loc, conf) { l, c in
            multiBoxLoss(l, conf: c, priors: priors, truths: truths, labels: labels, classes: 3)
        }
        let fused = try LossKit.multiBoxLoss(loc: loc, conf: conf, priors: priors, truths: truths, labels: labels, classes: 3)
        XCTAssert(same(gl.base, fused.locGradient) && same(gc.base, fused.confGradient))
    }

    func testMetric() throws {
        let a = values(12, seed: 7), b = values(12, seed: 8), c = values(12, seed: 9), d = values(12, seed: 10)
        let y = [true, false, true]
        let (g1, g2) = gradient(at: a, b) { x1, x2 in contrastiveLoss(x1, x2, same: y, dimension: 4) }
        let fc = try LossKit.contrastiveLoss(x1: a, x2: b, same: y, dimension: 4).gradients!
        XCTAssert(g1.base == fc[0] && g2.base == fc[1])
        let (ta, tp, tn) = gradient(at: a, b, c) { x, p, n in tripletLoss(x, positive: p, negative: n, dimension: 4, margin: 5) }
        let ft = try LossKit.tripletLoss(anchor: a, positive: b, negative: c, dimension: 4, margin: 5).gradients!
        XCTAssert(ta.base == ft[0] && tp.base == ft[1] && tn.base == ft[2])
        // differentiating with respect to a subset of the inputs uses the same registration
        let onlyAnchor = gradient(at: a) { x in tripletLoss(x, positive: b, negative: c, dimension: 4, margin: 5) }
        XCTAssert(onlyAnchor.base == ft[0])
        let fq = try LossKit.quadrupletLoss(anchor: a, positive: b, negative1: c, negative2: d, dimension: 4).gradients!
        let qa = gradient(at: a) { x in quadrupletLoss(x, positive: b, negative1: c, negative2: d, dimension: 4) }
        XCTAssert(qa.base == fq[0])
        let features = values(32, seed: 11), ids = [0, 0, 1, 1, 2, 2, 3, 3]
        XCTAssert(same(gradient(at: features) { triHardLoss($0, labels: ids, dimension: 4, margin: nil) }.base,
                     try LossKit.triHardLoss(features: features, labels: ids, dimension: 4, margin: nil).gradients?.first))
    }

    /// A model in plain differentiable Swift with a LossKit loss at the end: the chain rule runs through the pullback.
    func testComposition() throws {
        let targets = t
        let (value, g) = valueWithGradient(at: p) { x -> Float in
            wingLoss(x.differentiableMap { $0 * 3 }, targets: targets)
        }
        let fused = try LossKit.wingLoss(predictions: p.map { $0 * 3 }, targets: t)
        XCTAssertEqual(value, fused.value)
        XCTAssertEqual(g.base, fused.gradient!.map { $0 * 3 }, "d/dx of wing(3x) is 3 wing'(3x)")
    }

    func testBadInput() {
        let short = [Float](t.prefix(5))
        let (value, g) = valueWithGradient(at: p) { wingLoss($0, targets: short) }
        XCTAssert(value.isNaN && g.base.count == p.count && g.base.allSatisfy { $0.isNaN })
    }
}
