import _Differentiation
import LossKit
import LossKitDifferentiation
import XCTest

/// The differentiable twin of softmax cross-entropy with probability targets:
/// its pullback is the fused kernel's gradient, and a call written for the
/// throwing API still reaches the throwing API.
final class SoftTargetDifferentiationTests: XCTestCase {
    func testSoftTargetTwin() throws {
        let logits: [Float] = (0..<24).map { Float(($0 * 7) % 11) * 0.4 - 2 }
        let targets: [Float] = (0..<24).map { Float(($0 * 5) % 7) / 7 }
        let weights: [Float] = [0.5, 1, 2, 1, 0.25, 1.5]
        let twin = gradient(at: logits) {
            softmaxCrossEntropy($0, targetProbabilities: targets, classes: 6, classWeights: weights, labelSmoothing: 0.1)
        }.base
        let fused = try LossKit.softmaxCrossEntropy(logits: logits, targetProbabilities: targets, classes: 6,
                                                    classWeights: weights, labelSmoothing: 0.1)
        XCTAssertEqual(twin, fused.gradient)
        XCTAssertEqual(softmaxCrossEntropy(logits, targetProbabilities: targets, classes: 6, classWeights: weights,
                                           labelSmoothing: 0.1), fused.value)
        // bad input: NaN from the twin, a typed error from the throwing API
        XCTAssert(softmaxCrossEntropy(logits, targetProbabilities: [0, 1], classes: 6).isNaN)
        XCTAssertThrowsError(try softmaxCrossEntropy(logits: logits, targetProbabilities: [0, 1], classes: 6))
    }
}
