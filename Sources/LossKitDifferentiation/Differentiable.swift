import _Differentiation
import LossKit

// Swift autodiff through LossKit: each function below has the fused kernel's
// gradient registered as its pullback (`@derivative(of:)`), so
// `gradient(at:of:)`, `valueWithGradient(at:of:)` and any differentiable
// Swift code that calls these get LossKit's analytic gradients.
//
// Differentiable functions cannot throw. Where the throwing API of LossKit
// would reject an input (a shape mismatch, a bad parameter), these return NaN
// and a NaN gradient of the input's size instead: call the throwing function
// of the same name in LossKit to learn which argument and why.
//
// Every twin takes its first differentiable argument unlabeled, and every
// throwing function labels it, so a call written for the throwing API
// (`try tripletLoss(anchor: ...)`) can never resolve to a twin and return
// NaN where it should throw (a test imports both modules and checks each).

public typealias FloatTangent = Array<Float>.TangentVector

/// The value of a fused loss and the pullback that scales its gradient.
@usableFromInline
func fusedVJP(count: Int, _ body: () throws -> LossResult) -> (value: Float, pullback: (Float) -> FloatTangent) {
    guard let r = try? body(), let g = r.gradient else {
        return (.nan, { _ in FloatTangent([Float](repeating: .nan, count: count)) })
    }
    return (r.value, { v in FloatTangent(g.map { $0 * v }) })
}

/// As `fusedVJP`, for losses with several differentiable inputs (the tuple losses).
@usableFromInline
func fusedTupleVJP(counts: [Int], _ body: () throws -> TupleLossResult) -> (value: Float, gradients: [[Float]]) {
    guard let r = try? body(), let g = r.gradients, g.count == counts.count else {
        return (.nan, counts.map { [Float](repeating: .nan, count: $0) })
    }
    return (r.value, g)
}

@usableFromInline
func scaled(_ g: [Float], _ v: Float) -> FloatTangent { FloatTangent(g.map { $0 * v }) }

// MARK: - Regression

/// Differentiable `LossKit.l1Loss(predictions:targets:reduction:computeGradient:execution:)`.
public func l1Loss(_ predictions: [Float], targets: [Float], reduction: Reduction = .mean) -> Float {
    (try? LossKit.l1Loss(predictions: predictions, targets: targets, reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: l1Loss, wrt: predictions)
public func _vjpL1Loss(_ predictions: [Float], targets: [Float], reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) { try LossKit.l1Loss(predictions: predictions, targets: targets, reduction: reduction) }
}

/// Differentiable `LossKit.mseLoss(predictions:targets:reduction:computeGradient:execution:)`.
public func mseLoss(_ predictions: [Float], targets: [Float], reduction: Reduction = .mean) -> Float {
    (try? LossKit.mseLoss(predictions: predictions, targets: targets, reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: mseLoss, wrt: predictions)
public func _vjpMSELoss(_ predictions: [Float], targets: [Float], reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) { try LossKit.mseLoss(predictions: predictions, targets: targets, reduction: reduction) }
}

/// Differentiable `LossKit.smoothL1Loss(predictions:targets:beta:reduction:computeGradient:execution:)`.
public func smoothL1Loss(_ predictions: [Float], targets: [Float], beta: Float = 1, reduction: Reduction = .mean) -> Float {
    (try? LossKit.smoothL1Loss(predictions: predictions, targets: targets, beta: beta, reduction: reduction,
                               computeGradient: false).value) ?? .nan
}
@derivative(of: smoothL1Loss, wrt: predictions)
public func _vjpSmoothL1Loss(_ predictions: [Float], targets: [Float], beta: Float,
                             reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) {
        try LossKit.smoothL1Loss(predictions: predictions, targets: targets, beta: beta, reduction: reduction)
    }
}

/// Differentiable `LossKit.huberLoss(predictions:targets:delta:reduction:computeGradient:execution:)`.
public func huberLoss(_ predictions: [Float], targets: [Float], delta: Float = 1, reduction: Reduction = .mean) -> Float {
    (try? LossKit.huberLoss(predictions: predictions, targets: targets, delta: delta, reduction: reduction,
                            computeGradient: false).value) ?? .nan
}
@derivative(of: huberLoss, wrt: predictions)
public func _vjpHuberLoss(_ predictions: [Float], targets: [Float], delta: Float,
                          reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) {
        try LossKit.huberLoss(predictions: predictions, targets: targets, delta: delta, reduction: reduction)
    }
}

/// Differentiable `LossKit.wingLoss(predictions:targets:w:epsilon:reduction:computeGradient:execution:)`.
public func wingLoss(_ predictions: [Float], targets: [Float], w: Float = 10, epsilon: Float = 2,
                     reduction: Reduction = .mean) -> Float {
    (try? LossKit.wingLoss(predictions: predictions, targets: targets, w: w, epsilon: epsilon, reduction: reduction,
                           computeGradient: false).value) ?? .nan
}
@derivative(of: wingLoss, wrt: predictions)
public func _vjpWingLoss(_ predictions: [Float], targets: [Float], w: Float, epsilon: Float,
                         reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) {
        try LossKit.wingLoss(predictions: predictions, targets: targets, w: w, epsilon: epsilon, reduction: reduction)
    }
}

/// Differentiable `LossKit.adaptiveWingLoss(predictions:targets:alpha:omega:epsilon:theta:reduction:computeGradient:execution:)`.
public func adaptiveWingLoss(_ predictions: [Float], targets: [Float], alpha: Float = 2.1, omega: Float = 14,
                             epsilon: Float = 1, theta: Float = 0.5, reduction: Reduction = .mean) -> Float {
    (try? LossKit.adaptiveWingLoss(predictions: predictions, targets: targets, alpha: alpha, omega: omega,
                                   epsilon: epsilon, theta: theta, reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: adaptiveWingLoss, wrt: predictions)
public func _vjpAdaptiveWingLoss(_ predictions: [Float], targets: [Float], alpha: Float, omega: Float, epsilon: Float,
                                 theta: Float, reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) {
        try LossKit.adaptiveWingLoss(predictions: predictions, targets: targets, alpha: alpha, omega: omega,
                                     epsilon: epsilon, theta: theta, reduction: reduction)
    }
}

/// Differentiable `LossKit.focalRegressionLoss(predictions:targets:gamma:reduction:computeGradient:execution:)`.
public func focalRegressionLoss(_ predictions: [Float], targets: [Float], gamma: Float = 1,
                                reduction: Reduction = .mean) -> Float {
    (try? LossKit.focalRegressionLoss(predictions: predictions, targets: targets, gamma: gamma, reduction: reduction,
                                      computeGradient: false).value) ?? .nan
}
@derivative(of: focalRegressionLoss, wrt: predictions)
public func _vjpFocalRegressionLoss(_ predictions: [Float], targets: [Float], gamma: Float,
                                    reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) {
        try LossKit.focalRegressionLoss(predictions: predictions, targets: targets, gamma: gamma, reduction: reduction)
    }
}

/// Differentiable `LossKit.shrinkageLoss(predictions:targets:a:c:weight:reduction:computeGradient:execution:)`.
public func shrinkageLoss(_ predictions: [Float], targets: [Float], a: Float = 10, c: Float = 0.2,
                          weight: ShrinkageWeight = .exponentialTarget, reduction: Reduction = .mean) -> Float {
    (try? LossKit.shrinkageLoss(predictions: predictions, targets: targets, a: a, c: c, weight: weight,
                                reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: shrinkageLoss, wrt: predictions)
public func _vjpShrinkageLoss(_ predictions: [Float], targets: [Float], a: Float, c: Float, weight: ShrinkageWeight,
                              reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) {
        try LossKit.shrinkageLoss(predictions: predictions, targets: targets, a: a, c: c, weight: weight, reduction: reduction)
    }
}

// MARK: - Classification

/// Differentiable `LossKit.binaryCrossEntropyWithLogits(logits:targets:posWeight:reduction:computeGradient:execution:)`.
public func binaryCrossEntropyWithLogits(_ logits: [Float], targets: [Float], posWeight: [Float]? = nil,
                                         reduction: Reduction = .mean) -> Float {
    (try? LossKit.binaryCrossEntropyWithLogits(logits: logits, targets: targets, posWeight: posWeight, reduction: reduction,
                                               computeGradient: false).value) ?? .nan
}
@derivative(of: binaryCrossEntropyWithLogits, wrt: logits)
public func _vjpBinaryCrossEntropyWithLogits(_ logits: [Float], targets: [Float], posWeight: [Float]?,
                                             reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: logits.count) {
        try LossKit.binaryCrossEntropyWithLogits(logits: logits, targets: targets, posWeight: posWeight, reduction: reduction)
    }
}

/// Differentiable `LossKit.sigmoidFocalLoss(logits:targets:alpha:gamma:normalizer:reduction:computeGradient:execution:)`.
public func sigmoidFocalLoss(_ logits: [Float], targets: [Float], alpha: Float = 0.25, gamma: Float = 2,
                             normalizer: Float? = nil, reduction: Reduction = .mean) -> Float {
    (try? LossKit.sigmoidFocalLoss(logits: logits, targets: targets, alpha: alpha, gamma: gamma, normalizer: normalizer,
                                   reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: sigmoidFocalLoss, wrt: logits)
public func _vjpSigmoidFocalLoss(_ logits: [Float], targets: [Float], alpha: Float, gamma: Float, normalizer: Float?,
                                 reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: logits.count) {
        try LossKit.sigmoidFocalLoss(logits: logits, targets: targets, alpha: alpha, gamma: gamma, normalizer: normalizer,
                                     reduction: reduction)
    }
}

/// Differentiable `LossKit.softmaxCrossEntropy(logits:labels:classes:classWeights:ignoreIndex:labelSmoothing:reduction:computeGradient:execution:)`.
public func softmaxCrossEntropy(_ logits: [Float], labels: [Int], classes: Int, classWeights: [Float]? = nil,
                                ignoreIndex: Int = -100, labelSmoothing: Float = 0, reduction: Reduction = .mean) -> Float {
    (try? LossKit.softmaxCrossEntropy(logits: logits, labels: labels, classes: classes, classWeights: classWeights,
                                      ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing, reduction: reduction,
                                      computeGradient: false).value) ?? .nan
}
@derivative(of: softmaxCrossEntropy, wrt: logits)
public func _vjpSoftmaxCrossEntropy(_ logits: [Float], labels: [Int], classes: Int, classWeights: [Float]?,
                                    ignoreIndex: Int, labelSmoothing: Float,
                                    reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: logits.count) {
        try LossKit.softmaxCrossEntropy(logits: logits, labels: labels, classes: classes, classWeights: classWeights,
                                        ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing, reduction: reduction)
    }
}

/// Differentiable `LossKit.softmaxCrossEntropy(logits:targetProbabilities:classes:classWeights:labelSmoothing:reduction:computeGradient:execution:)`
/// (probability targets; differentiable in the logits, the targets are constants).
public func softmaxCrossEntropy(_ logits: [Float], targetProbabilities: [Float], classes: Int,
                                classWeights: [Float]? = nil, labelSmoothing: Float = 0,
                                reduction: Reduction = .mean) -> Float {
    (try? LossKit.softmaxCrossEntropy(logits: logits, targetProbabilities: targetProbabilities, classes: classes,
                                      classWeights: classWeights, labelSmoothing: labelSmoothing, reduction: reduction,
                                      computeGradient: false).value) ?? .nan
}
@derivative(of: softmaxCrossEntropy(_:targetProbabilities:classes:classWeights:labelSmoothing:reduction:), wrt: logits)
public func _vjpSoftmaxCrossEntropySoft(_ logits: [Float], targetProbabilities: [Float], classes: Int,
                                        classWeights: [Float]?, labelSmoothing: Float,
                                        reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: logits.count) {
        try LossKit.softmaxCrossEntropy(logits: logits, targetProbabilities: targetProbabilities, classes: classes,
                                        classWeights: classWeights, labelSmoothing: labelSmoothing, reduction: reduction)
    }
}

/// Differentiable `LossKit.softmaxFocalLoss(logits:labels:classes:alpha:gamma:ignoreIndex:reduction:computeGradient:execution:)`.
public func softmaxFocalLoss(_ logits: [Float], labels: [Int], classes: Int, alpha: Float = 1, gamma: Float = 2,
                             ignoreIndex: Int = -100, reduction: Reduction = .mean) -> Float {
    (try? LossKit.softmaxFocalLoss(logits: logits, labels: labels, classes: classes, alpha: alpha, gamma: gamma,
                                   ignoreIndex: ignoreIndex, reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: softmaxFocalLoss, wrt: logits)
public func _vjpSoftmaxFocalLoss(_ logits: [Float], labels: [Int], classes: Int, alpha: Float, gamma: Float,
                                 ignoreIndex: Int, reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: logits.count) {
        try LossKit.softmaxFocalLoss(logits: logits, labels: labels, classes: classes, alpha: alpha, gamma: gamma,
                                     ignoreIndex: ignoreIndex, reduction: reduction)
    }
}

/// Differentiable `LossKit.identityLoss(logits:identities:identityCount:labelSmoothing:reduction:computeGradient:execution:)`.
public func identityLoss(_ logits: [Float], identities: [Int], identityCount: Int, labelSmoothing: Float = 0.1,
                         reduction: Reduction = .mean) -> Float {
    (try? LossKit.identityLoss(logits: logits, identities: identities, identityCount: identityCount,
                               labelSmoothing: labelSmoothing, reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: identityLoss, wrt: logits)
public func _vjpIdentityLoss(_ logits: [Float], identities: [Int], identityCount: Int, labelSmoothing: Float,
                             reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: logits.count) {
        try LossKit.identityLoss(logits: logits, identities: identities, identityCount: identityCount,
                                 labelSmoothing: labelSmoothing, reduction: reduction)
    }
}

/// Differentiable `LossKit.verificationLoss(pairLogits:sameIdentity:reduction:computeGradient:execution:)`.
public func verificationLoss(_ pairLogits: [Float], sameIdentity: [Bool], reduction: Reduction = .mean) -> Float {
    (try? LossKit.verificationLoss(pairLogits: pairLogits, sameIdentity: sameIdentity, reduction: reduction,
                                   computeGradient: false).value) ?? .nan
}
@derivative(of: verificationLoss, wrt: pairLogits)
public func _vjpVerificationLoss(_ pairLogits: [Float], sameIdentity: [Bool],
                                 reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: pairLogits.count) {
        try LossKit.verificationLoss(pairLogits: pairLogits, sameIdentity: sameIdentity, reduction: reduction)
    }
}

// MARK: - Detection

/// Differentiable `LossKit.boxIoULoss(_:predictions:targets:eps:reduction:computeGradient:execution:)`.
public func boxIoULoss(_ kind: IoUKind, _ predictions: [Float], targets: [Float], eps: Float = 1e-7,
                       reduction: Reduction = .mean) -> Float {
    (try? LossKit.boxIoULoss(kind, predictions: predictions, targets: targets, eps: eps, reduction: reduction,
                             computeGradient: false).value) ?? .nan
}
@derivative(of: boxIoULoss, wrt: predictions)
public func _vjpBoxIoULoss(_ kind: IoUKind, _ predictions: [Float], targets: [Float], eps: Float,
                           reduction: Reduction) -> (value: Float, pullback: (Float) -> FloatTangent) {
    fusedVJP(count: predictions.count) {
        try LossKit.boxIoULoss(kind, predictions: predictions, targets: targets, eps: eps, reduction: reduction)
    }
}

/// Differentiable `LossKit.multiBoxLoss(loc:conf:priors:truths:labels:classes:threshold:negPosRatio:variances:computeGradient:execution:)`:
/// the localization plus the confidence loss, with respect to both inputs.
public func multiBoxLoss(_ loc: [Float], conf: [Float], priors: [Float], truths: [[Float]], labels: [[Int]], classes: Int,
                         threshold: Float = 0.5, negPosRatio: Float = 3) -> Float {
    guard let r = try? LossKit.multiBoxLoss(loc: loc, conf: conf, priors: priors, truths: truths, labels: labels,
                                            classes: classes, threshold: threshold, negPosRatio: negPosRatio,
                                            computeGradient: false) else { return .nan }
    return r.locLoss + r.confLoss
}
@derivative(of: multiBoxLoss, wrt: (loc, conf))
public func _vjpMultiBoxLoss(_ loc: [Float], conf: [Float], priors: [Float], truths: [[Float]], labels: [[Int]], classes: Int,
                             threshold: Float, negPosRatio: Float)
    -> (value: Float, pullback: (Float) -> (FloatTangent, FloatTangent)) {
    guard let r = try? LossKit.multiBoxLoss(loc: loc, conf: conf, priors: priors, truths: truths, labels: labels,
                                            classes: classes, threshold: threshold, negPosRatio: negPosRatio),
          let gl = r.locGradient, let gc = r.confGradient else {
        return (.nan, { _ in (scaled([Float](repeating: .nan, count: loc.count), 1),
                              scaled([Float](repeating: .nan, count: conf.count), 1)) })
    }
    return (r.locLoss + r.confLoss, { v in (scaled(gl, v), scaled(gc, v)) })
}

// MARK: - Re-identification

/// Differentiable `LossKit.contrastiveLoss(x1:x2:same:dimension:metric:margin:form:reduction:computeGradient:execution:)`.
public func contrastiveLoss(_ x1: [Float], _ x2: [Float], same: [Bool], dimension: Int,
                            metric: DistanceMetric = .euclidean, margin: Float = 1, form: ContrastiveForm = .distance,
                            reduction: Reduction = .mean) -> Float {
    (try? LossKit.contrastiveLoss(x1: x1, x2: x2, same: same, dimension: dimension, metric: metric, margin: margin,
                                  form: form, reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: contrastiveLoss, wrt: (x1, x2))
public func _vjpContrastiveLoss(_ x1: [Float], _ x2: [Float], same: [Bool], dimension: Int, metric: DistanceMetric,
                                margin: Float, form: ContrastiveForm, reduction: Reduction)
    -> (value: Float, pullback: (Float) -> (FloatTangent, FloatTangent)) {
    let r = fusedTupleVJP(counts: [x1.count, x2.count]) {
        try LossKit.contrastiveLoss(x1: x1, x2: x2, same: same, dimension: dimension, metric: metric, margin: margin,
                                    form: form, reduction: reduction)
    }
    return (r.value, { v in (scaled(r.gradients[0], v), scaled(r.gradients[1], v)) })
}

/// Differentiable `LossKit.tripletLoss(anchor:positive:negative:dimension:metric:margin:improved:reduction:computeGradient:execution:)`.
public func tripletLoss(_ anchor: [Float], positive: [Float], negative: [Float], dimension: Int,
                        metric: DistanceMetric = .euclidean, margin: Float = 0.3, improved: Bool = false,
                        reduction: Reduction = .mean) -> Float {
    (try? LossKit.tripletLoss(anchor: anchor, positive: positive, negative: negative, dimension: dimension,
                              metric: metric, margin: margin, improved: improved, reduction: reduction,
                              computeGradient: false).value) ?? .nan
}
@derivative(of: tripletLoss, wrt: (anchor, positive, negative))
public func _vjpTripletLoss(_ anchor: [Float], positive: [Float], negative: [Float], dimension: Int, metric: DistanceMetric,
                            margin: Float, improved: Bool, reduction: Reduction)
    -> (value: Float, pullback: (Float) -> (FloatTangent, FloatTangent, FloatTangent)) {
    let r = fusedTupleVJP(counts: [anchor.count, positive.count, negative.count]) {
        try LossKit.tripletLoss(anchor: anchor, positive: positive, negative: negative, dimension: dimension,
                                metric: metric, margin: margin, improved: improved, reduction: reduction)
    }
    return (r.value, { v in (scaled(r.gradients[0], v), scaled(r.gradients[1], v), scaled(r.gradients[2], v)) })
}

/// Differentiable `LossKit.quadrupletLoss(anchor:positive:negative1:negative2:dimension:metric:margin1:margin2:reduction:computeGradient:execution:)`.
public func quadrupletLoss(_ anchor: [Float], positive: [Float], negative1: [Float], negative2: [Float], dimension: Int,
                           metric: DistanceMetric = .euclidean, margin1: Float = 1, margin2: Float = 0.5,
                           reduction: Reduction = .mean) -> Float {
    (try? LossKit.quadrupletLoss(anchor: anchor, positive: positive, negative1: negative1, negative2: negative2,
                                 dimension: dimension, metric: metric, margin1: margin1, margin2: margin2,
                                 reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: quadrupletLoss, wrt: (anchor, positive, negative1, negative2))
public func _vjpQuadrupletLoss(_ anchor: [Float], positive: [Float], negative1: [Float], negative2: [Float], dimension: Int,
                               metric: DistanceMetric, margin1: Float, margin2: Float, reduction: Reduction)
    -> (value: Float, pullback: (Float) -> (FloatTangent, FloatTangent, FloatTangent, FloatTangent)) {
    let r = fusedTupleVJP(counts: [anchor.count, positive.count, negative1.count, negative2.count]) {
        try LossKit.quadrupletLoss(anchor: anchor, positive: positive, negative1: negative1, negative2: negative2,
                                   dimension: dimension, metric: metric, margin1: margin1, margin2: margin2,
                                   reduction: reduction)
    }
    return (r.value, { v in
        (scaled(r.gradients[0], v), scaled(r.gradients[1], v), scaled(r.gradients[2], v), scaled(r.gradients[3], v))
    })
}

/// Differentiable `LossKit.triHardLoss(features:labels:dimension:metric:margin:mining:normalize:reduction:computeGradient:execution:)`.
public func triHardLoss(_ features: [Float], labels: [Int], dimension: Int, metric: DistanceMetric = .euclidean,
                        margin: Float? = 0.3, mining: NegativeMining = .hardest, reduction: Reduction = .mean) -> Float {
    (try? LossKit.triHardLoss(features: features, labels: labels, dimension: dimension, metric: metric, margin: margin,
                              mining: mining, reduction: reduction, computeGradient: false).value) ?? .nan
}
@derivative(of: triHardLoss, wrt: features)
public func _vjpTriHardLoss(_ features: [Float], labels: [Int], dimension: Int, metric: DistanceMetric, margin: Float?,
                            mining: NegativeMining, reduction: Reduction)
    -> (value: Float, pullback: (Float) -> FloatTangent) {
    let r = fusedTupleVJP(counts: [features.count]) {
        try LossKit.triHardLoss(features: features, labels: labels, dimension: dimension, metric: metric, margin: margin,
                                mining: mining, reduction: reduction)
    }
    return (r.value, { v in scaled(r.gradients[0], v) })
}
