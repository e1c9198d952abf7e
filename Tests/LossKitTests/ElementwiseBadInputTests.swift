import CLossKit
import LossKit
import Testing
import _TestSupport

/// Bad input gives the typed Swift error naming the argument, and the C
/// entry points return -k for their k-th argument without writing anything.
@Suite("Bad input: typed errors and C status codes")
struct ElementwiseBadInputTests {
    func argument(of error: any Error) -> String? {
        switch error as? LossKitError {
        case let .shapeMismatch(argument, _, _)?, let .invalidShape(argument, _, _)?,
             let .invalidParameter(argument, _, _)?, let .labelOutOfRange(argument, _, _, _)?:
            return argument
        default: return nil
        }
    }

    func expectError(_ name: String, _ body: () throws -> Any) {
        do {
            _ = try body()
            Issue.record("expected an error naming \(name)")
        } catch {
            #expect(argument(of: error) == name, "error \(error) should name \(name)")
            #expect("\(error)".contains(name), "message \(error) should mention \(name)")
        }
    }

    @Test func swiftErrors() {
        let x: [Float] = [1, 2, 3], t: [Float] = [1, 2]
        expectError("targets") { try smoothL1Loss(predictions: x, targets: t) }
        expectError("beta") { try smoothL1Loss(predictions: x, targets: x, beta: -1) }
        expectError("beta") { try smoothL1Loss(predictions: x, targets: x, beta: .nan) }
        expectError("delta") { try huberLoss(predictions: x, targets: x, delta: 0) }
        expectError("w") { try wingLoss(predictions: x, targets: x, w: 0) }
        expectError("epsilon") { try wingLoss(predictions: x, targets: x, epsilon: -2) }
        expectError("theta") { try adaptiveWingLoss(predictions: x, targets: x, theta: .infinity) }
        expectError("gamma") { try focalRegressionLoss(predictions: x, targets: x, gamma: -0.5) }
        expectError("a") { try shrinkageLoss(predictions: x, targets: x, a: .nan) }
        expectError("gamma") { try sigmoidFocalLoss(logits: x, targets: x, gamma: -1) }
        expectError("alpha") { try sigmoidFocalLoss(logits: x, targets: x, alpha: 1.5) }
        expectError("normalizer") { try sigmoidFocalLoss(logits: x, targets: x, normalizer: 3, reduction: .mean) }
        expectError("normalizer") { try sigmoidFocalLoss(logits: x, targets: x, normalizer: 0, reduction: .sum) }
        expectError("posWeight") { try binaryCrossEntropyWithLogits(logits: x, targets: x, posWeight: [1, 2]) }
        expectError("posWeight") { try binaryCrossEntropyWithLogits(logits: x, targets: x, posWeight: []) }
        expectError("threads") { try l1Loss(predictions: x, targets: x, execution: Execution(threads: 0)) }
        expectError("weight") { try binaryCrossEntropyWithLogits(logits: x, targets: x, weight: [1, 2]) }
        expectError("targetWeights") { try wingLoss(predictions: x, targets: x, targetWeights: [1, 1, 1, 1]) }
        expectError("targetWeights") { try l1Loss(predictions: x, targets: x, targetWeights: []) }
        expectError("weights") {
            try x.withUnsafeBufferPointer { xb in
                try elementwiseLoss(.sigmoidFocal(alpha: 0.25, gamma: 2, normalizer: nil), predictions: xb, targets: xb, weights: xb)
            }
        }
        expectError("weights") {
            try x.withUnsafeBufferPointer { xb in
                try elementwiseLoss(.mse, predictions: xb, targets: xb, weights: UnsafeBufferPointer(rebasing: xb[0..<2]))
            }
        }
        let logits = [Float](repeating: 0, count: 6)
        expectError("logits") { try softmaxCrossEntropy(logits: logits, labels: [0, 1, 2], classes: 3) }
        expectError("labels") { try softmaxCrossEntropy(logits: logits, labels: [0, 3], classes: 3) }
        expectError("labels") { try softmaxCrossEntropy(logits: logits, labels: [0, -1], classes: 3) }
        expectError("classes") { try softmaxCrossEntropy(logits: [], labels: [], classes: 0) }
        expectError("classWeights") { try softmaxCrossEntropy(logits: logits, labels: [0, 1], classes: 3, classWeights: [1, 1]) }
        expectError("classWeights[1]") { try softmaxCrossEntropy(logits: logits, labels: [0, 1], classes: 3, classWeights: [1, -1, 1]) }
        expectError("labelSmoothing") { try softmaxCrossEntropy(logits: logits, labels: [0, 1], classes: 3, labelSmoothing: 1.5) }
        expectError("labels") { try softmaxFocalLoss(logits: logits, labels: [7, 1], classes: 3) }
        expectError("logits") { try identityLoss(logits: logits, identities: [0], identityCount: 3) } // 6 logits, 1 identity
    }

    @Test func labelErrorNamesTheRow() {
        do {
            _ = try softmaxCrossEntropy(logits: [Float](repeating: 0, count: 12), labels: [0, 1, 9, 2], classes: 3)
            Issue.record("expected labelOutOfRange")
        } catch let LossKitError.labelOutOfRange(argument, index, label, range) {
            #expect(argument == "labels" && index == 2 && label == 9 && range.contains("0..<3"))
        } catch {
            Issue.record("wrong error \(error)")
        }
    }

    @Test func bufferEntryPointsCheckTheirOutputs() throws {
        let x: [Float] = [1, 2, 3]
        var small = [Float](repeating: 0, count: 2)
        x.withUnsafeBufferPointer { xb in
            small.withUnsafeMutableBufferPointer { sb in
                #expect(throws: LossKitError.self) { try elementwiseLoss(.l1, predictions: xb, targets: xb, gradient: sb) }
                #expect(throws: LossKitError.self) {
                    try elementwiseLoss(.l1, predictions: xb, targets: xb, reduction: .none, unreduced: sb)
                }
            }
        }
    }

    /// C: -k for the k-th argument, and the outputs untouched.
    @Test func cStatusCodes() {
        let sentinel: Float = -12345
        var loss = [Float](repeating: sentinel, count: 8), grad = [Float](repeating: sentinel, count: 8)
        let x: [Float] = [1, 2, 3, 4], t: [Float] = [0, 0, 0, 0]
        var labels: [Int64] = [0, 1]
        func untouched() -> Bool { loss.allSatisfy { $0 == sentinel } && grad.allSatisfy { $0 == sentinel } }
        let bad = losskit_reduction(rawValue: 7)
        #expect(losskit_l1(nil, t, 4, nil, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -1)
        #expect(losskit_l1(x, nil, 4, nil, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -2)
        #expect(losskit_l1(x, t, Int.max, nil, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -3)
        #expect(losskit_l1(x, t, 4, nil, bad, &loss, &grad, 1) == -5)
        #expect(losskit_l1(x, t, 4, x, bad, &loss, &grad, 1) == -5)
        #expect(losskit_l1(x, t, 4, nil, LOSSKIT_REDUCTION_SUM, &loss, &grad, -1) == -8)
        #expect(losskit_mse(x, t, 4, x, LOSSKIT_REDUCTION_SUM, &loss, &grad, -1) == -8)
        #expect(losskit_smooth_l1(x, t, 4, nil, -1, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -5)
        #expect(losskit_huber(x, t, 4, nil, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -5)
        #expect(losskit_wing(x, t, 4, nil, 10, .nan, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -6)
        #expect(losskit_adaptive_wing(x, t, 4, nil, 2.1, 14, 1, -0.5, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -8)
        #expect(losskit_focal_regression(x, t, 4, nil, -1, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -5)
        #expect(losskit_shrinkage(x, t, 4, nil, 10, 0.2, losskit_shrinkage_weight(rawValue: 9), LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -7)
        #expect(losskit_bce_logits(x, t, 4, nil, nil, 2, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -5)
        #expect(losskit_bce_logits(x, t, 4, x, x, 3, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -6)
        #expect(losskit_bce_logits(x, t, 4, x, nil, 0, bad, &loss, &grad, 1) == -7)
        #expect(losskit_sigmoid_focal(x, t, 4, 0.25, -2, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -5)
        #expect(losskit_sigmoid_focal(x, t, 4, 0.25, 2, 5, LOSSKIT_REDUCTION_MEAN, &loss, &grad, 1) == -6)
        // rows * classes overflows size_t
        #expect(losskit_softmax_ce(x, &labels, Int.max / 2, 4, nil, -100, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -3)
        #expect(losskit_softmax_ce(x, &labels, 2, 0, nil, -100, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -4)
        labels = [0, 2]
        #expect(losskit_softmax_ce(x, &labels, 2, 2, nil, -100, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -2)
        labels = [0, 1]
        var w: [Float] = [1, -1]
        #expect(losskit_softmax_ce(x, &labels, 2, 2, &w, -100, 0, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -5)
        #expect(losskit_softmax_ce(x, &labels, 2, 2, nil, -100, 2, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -7)
        #expect(losskit_softmax_focal(x, &labels, 2, 2, 1, -2, -100, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == -6)
        #expect(losskit_vecmath(losskit_vecmath_fn(rawValue: 11), x, &loss, 4) == -1)
        #expect(untouched(), "a rejected call wrote to its outputs")
        // and a valid call does write
        #expect(losskit_l1(x, t, 4, nil, LOSSKIT_REDUCTION_SUM, &loss, &grad, 1) == LOSSKIT_OK)
        #expect(loss[0] == 10 && loss[1] == sentinel && grad[0..<4].allSatisfy { $0 == 1 } && grad[4] == sentinel)
        #expect(String(cString: losskit_status_string(-3)).contains("argument"))
    }
}
