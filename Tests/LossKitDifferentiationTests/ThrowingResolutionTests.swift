import _Differentiation
import LossKit
import LossKitDifferentiation
import XCTest

/// A file that imports both LossKit and LossKitDifferentiation, as a trainer
/// would. Every call below is written for the throwing API, unqualified and
/// with a bad argument: each must reach the throwing function and throw. Had
/// overload resolution picked the non-throwing differentiable twin, the call
/// would return NaN (and the compiler would only warn that `try` covers no
/// throwing call), so each assertion fails for such a twin.
final class ThrowingResolutionTests: XCTestCase {
    let four: [Float] = [1, 2, 3, 4], two: [Float] = [1, 2]

    func testRegressionLossesThrow() {
        XCTAssertThrowsError(try l1Loss(predictions: four, targets: two))
        XCTAssertThrowsError(try mseLoss(predictions: four, targets: two))
        XCTAssertThrowsError(try smoothL1Loss(predictions: four, targets: two))
        XCTAssertThrowsError(try huberLoss(predictions: four, targets: two))
        XCTAssertThrowsError(try wingLoss(predictions: four, targets: two))
        XCTAssertThrowsError(try adaptiveWingLoss(predictions: four, targets: two))
        XCTAssertThrowsError(try focalRegressionLoss(predictions: four, targets: two))
        XCTAssertThrowsError(try shrinkageLoss(predictions: four, targets: two))
    }

    func testClassificationLossesThrow() {
        XCTAssertThrowsError(try binaryCrossEntropyWithLogits(logits: four, targets: two))
        XCTAssertThrowsError(try sigmoidFocalLoss(logits: four, targets: two))
        XCTAssertThrowsError(try softmaxCrossEntropy(logits: four, labels: [0, 7], classes: 2))
        XCTAssertThrowsError(try softmaxFocalLoss(logits: four, labels: [0, 7], classes: 2))
        XCTAssertThrowsError(try identityLoss(logits: four, identities: [0, 7], identityCount: 2))
        XCTAssertThrowsError(try verificationLoss(pairLogits: four, sameIdentity: [true]))
    }

    func testDetectionLossesThrow() {
        XCTAssertThrowsError(try boxIoULoss(.generalized, predictions: four, targets: [0, 0, 1]))
        let priors: [Float] = [0.5, 0.5, 1, 1]
        XCTAssertThrowsError(try multiBoxLoss(loc: four, conf: [0, 0], priors: priors, truths: [[0, 0, 1, 1]],
                                              labels: [[1]], classes: 3))
    }

    func testMetricLossesThrow() {
        XCTAssertThrowsError(try contrastiveLoss(x1: four, x2: two, same: [true], dimension: 2))
        XCTAssertThrowsError(try tripletLoss(anchor: two, positive: four, negative: two, dimension: 2))
        XCTAssertThrowsError(try quadrupletLoss(anchor: two, positive: four, negative1: two, negative2: two, dimension: 2))
        XCTAssertThrowsError(try triHardLoss(features: four, labels: [0], dimension: 2))
    }

    /// The twins stay reachable where intended: first argument unlabeled.
    func testTwinsStillResolve() {
        let a: [Float] = [0, 0], p: [Float] = [1, 0], n: [Float] = [0, 3]
        let g = gradient(at: a) { x in tripletLoss(x, positive: p, negative: n, dimension: 2, margin: 5) }
        XCTAssertEqual(g.base.count, 2)
        XCTAssertFalse(g.base.contains { $0.isNaN })
    }
}
