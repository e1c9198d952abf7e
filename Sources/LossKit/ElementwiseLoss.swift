import CLossKit

/// Weighting of the shrinkage loss by the target value `y`.
public enum ShrinkageWeight: Sendable, Hashable {
    /// `exp(y)`, the form of the paper (Lu et al., ECCV 2018). The default.
    case exponentialTarget
    /// No weighting.
    case none
    /// The DSLT authors' code: `(y e^{1.6 y} / max_j y_j e^{1.6 y_j})^2`, the
    /// maximum taken over the whole input (0 everywhere when that maximum is <= 0).
    case dsltCode

    var c: losskit_shrinkage_weight {
        switch self {
        case .exponentialTarget: return LOSSKIT_SHRINKAGE_WEIGHT_EXP_TARGET
        case .none: return LOSSKIT_SHRINKAGE_WEIGHT_NONE
        case .dsltCode: return LOSSKIT_SHRINKAGE_WEIGHT_DSLT_CODE
        }
    }
}

/// A loss that is a sum of terms each depending on one prediction and its
/// target: the regression losses and the binary classification losses.
///
/// Use it with ``elementwiseLoss(_:predictions:targets:weights:reduction:unreduced:gradient:execution:)``
/// to compute into your own buffers without copying, or through the named
/// functions (``smoothL1Loss(predictions:targets:targetWeights:beta:reduction:computeGradient:execution:)`` and friends).
public enum ElementwiseLoss: Sendable, Hashable {
    /// `|r|`, r = pred - target; gradient `sign(r)`, 0 at r = 0. PyTorch `l1_loss`.
    case l1
    /// `r^2`. PyTorch `mse_loss`.
    case mse
    /// `0.5 r^2 / beta` if `|r| < beta`, else `|r| - 0.5 beta`; beta = 0 is L1. PyTorch `smooth_l1_loss`.
    case smoothL1(beta: Float)
    /// `0.5 r^2` if `|r| < delta`, else `delta (|r| - 0.5 delta)`. PyTorch `huber_loss`.
    case huber(delta: Float)
    /// Wing loss (Feng et al. 2018): `w ln(1 + |r|/eps)` if `|r| < w`, else `|r| - C`.
    case wing(w: Float, epsilon: Float)
    /// Adaptive Wing loss (Wang et al. 2019), as mmpose's `AdaptiveWingLoss`.
    case adaptiveWing(alpha: Float, omega: Float, epsilon: Float, theta: Float)
    /// `|r|^(2 + gamma)`, the focal regression loss `L_F` of the DSLT paper.
    case focalRegression(gamma: Float)
    /// Shrinkage loss (DSLT): `weight(y) l^2 / (1 + exp(a (c - l)))`, l = |r|.
    case shrinkage(a: Float, c: Float, weight: ShrinkageWeight)
    /// Binary cross-entropy on logits, PyTorch `binary_cross_entropy_with_logits`,
    /// computed as `(1 - t) softplus(x) + pw t softplus(-x)` (no cancellation);
    /// `posWeight` is nil, one value, or one per class (broadcast along the last axis).
    case binaryCrossEntropyWithLogits(posWeight: [Float]?)
    /// torchvision `sigmoid_focal_loss`; `alpha < 0` disables the balancing
    /// factor; `normalizer > 0` divides a `.sum` (RetinaNet: the positive count).
    case sigmoidFocal(alpha: Float, gamma: Float, normalizer: Float?)

    /// Checks the parameters, throwing ``LossKitError/invalidParameter(argument:value:reason:)``.
    func validate(count: Int, reduction: Reduction) throws {
        switch self {
        case .l1, .mse:
            break
        case let .smoothL1(beta):
            try Check.nonNegative("beta", beta)
        case let .huber(delta):
            try Check.positive("delta", delta)
        case let .wing(w, epsilon):
            try Check.positive("w", w)
            try Check.positive("epsilon", epsilon)
        case let .adaptiveWing(alpha, omega, epsilon, theta):
            try Check.finite("alpha", alpha)
            try Check.positive("omega", omega)
            try Check.positive("epsilon", epsilon)
            try Check.positive("theta", theta)
        case let .focalRegression(gamma):
            try Check.nonNegative("gamma", gamma)
        case let .shrinkage(a, c, _):
            try Check.finite("a", a)
            try Check.finite("c", c)
        case let .binaryCrossEntropyWithLogits(posWeight):
            if let posWeight {
                guard !posWeight.isEmpty, count % posWeight.count == 0 else {
                    throw LossKitError.shapeMismatch(
                        argument: "posWeight", expected: "1 value, or one per class dividing the \(count) logits",
                        actual: "\(posWeight.count) values")
                }
            }
        case let .sigmoidFocal(alpha, gamma, normalizer):
            try Check.parameter(!alpha.isNaN && alpha <= 1, "alpha", alpha, "must be <= 1 (negative disables it)")
            try Check.nonNegative("gamma", gamma)
            if let normalizer {
                try Check.positive("normalizer", normalizer)
                try Check.parameter(reduction == .sum, "normalizer", normalizer, "applies to reduction .sum only")
            }
        }
    }
}

/// Computes an elementwise loss into caller-owned buffers, copying nothing.
///
/// - Parameters:
///   - loss: which loss, with its parameters.
///   - predictions: predictions (regression) or logits (classification), n values.
///   - targets: n targets.
///   - weights: nil, or n per-element weights. Regression losses take them as
///     mmpose's target weights (`use_target_weight`; 0 for an invisible keypoint):
///     L1, MSE, Smooth L1, Huber, Wing and Adaptive Wing apply them to the
///     prediction and the target before the loss, `loss(w x, w t)` with gradient
///     `w loss'(w x, w t)`, as mmpose's losses of those names do; focal regression
///     and shrinkage (not in mmpose) multiply each element's loss by `w`. For
///     binary cross-entropy they multiply each element's loss, as PyTorch's
///     `weight`. `.mean` divides by n in every case. The sigmoid focal loss takes none.
///   - reduction: `.none`, `.sum` or `.mean`.
///   - unreduced: for `.none`, a buffer of n values that receives each element's loss (or nil).
///   - gradient: a buffer of n values that receives the gradient of the reduced
///     loss with respect to `predictions`, or nil to skip the backward work.
///   - execution: backend and thread cap.
/// - Returns: the reduced loss (for `.none`: the sum of the element losses).
/// - Throws: ``LossKitError`` for mismatched sizes or invalid parameters.
@discardableResult
public func elementwiseLoss(
    _ loss: ElementwiseLoss,
    predictions: UnsafeBufferPointer<Float>,
    targets: UnsafeBufferPointer<Float>,
    weights: UnsafeBufferPointer<Float>? = nil,
    reduction: Reduction = .mean,
    unreduced: UnsafeMutableBufferPointer<Float>? = nil,
    gradient: UnsafeMutableBufferPointer<Float>? = nil,
    execution: Execution = .default
) throws -> Float {
    let n = predictions.count
    try Check.sameCount("targets", targets.count, as: "predictions", n)
    if let weights {
        if case .sigmoidFocal = loss {
            throw LossKitError.invalidParameter(argument: "weights", value: "\(weights.count) values",
                                                reason: "the sigmoid focal loss takes no per-element weights")
        }
        try Check.sameCount("weights", weights.count, as: "predictions", n)
    }
    try Check.output("gradient", gradient, n)
    if reduction == .none { try Check.output("unreduced", unreduced, n) }
    try loss.validate(count: n, reduction: reduction)
    let threads = try execution.validatedThreads()

    // For .none the per-element losses are needed to report their sum.
    var scratch: UnsafeMutableBufferPointer<Float>? = nil
    defer { scratch?.deallocate() }
    var perElement: UnsafeMutableBufferPointer<Float>? = nil
    if reduction == .none {
        if unreduced == nil { scratch = .allocate(capacity: n) }
        perElement = unreduced ?? scratch
    }
    switch execution.backend {
    case .c:
        var reduced: Float = 0
        try withUnsafeMutablePointer(to: &reduced) { reducedPtr in
            try runC(loss, predictions.baseAddress, targets.baseAddress, weights?.baseAddress, n, reduction.c,
                     perElement?.baseAddress ?? reducedPtr, gradient?.baseAddress, threads)
        }
        return perElement.map { orderedSum(UnsafeBufferPointer($0)) } ?? reduced
    case .portable:
        let sum = Portable.elementwise(loss, predictions, targets, weights: weights, reduction: reduction,
                                       unreduced: perElement, gradient: gradient,
                                       threads: execution.resolvedThreads)
        return perElement.map { orderedSum(UnsafeBufferPointer($0)) } ?? sum
    }
}

private func runC(_ loss: ElementwiseLoss, _ x: UnsafePointer<Float>?, _ t: UnsafePointer<Float>?,
                  _ w: UnsafePointer<Float>?, _ n: Int,
                  _ reduction: losskit_reduction, _ out: UnsafeMutablePointer<Float>?,
                  _ grad: UnsafeMutablePointer<Float>?, _ threads: Int32) throws {
    let status: Int32
    switch loss {
    case .l1:
        status = losskit_l1(x, t, n, w, reduction, out, grad, threads)
    case .mse:
        status = losskit_mse(x, t, n, w, reduction, out, grad, threads)
    case let .smoothL1(beta):
        status = losskit_smooth_l1(x, t, n, w, beta, reduction, out, grad, threads)
    case let .huber(delta):
        status = losskit_huber(x, t, n, w, delta, reduction, out, grad, threads)
    case let .wing(wingW, epsilon):
        status = losskit_wing(x, t, n, w, wingW, epsilon, reduction, out, grad, threads)
    case let .adaptiveWing(alpha, omega, epsilon, theta):
        status = losskit_adaptive_wing(x, t, n, w, alpha, omega, epsilon, theta, reduction, out, grad, threads)
    case let .focalRegression(gamma):
        status = losskit_focal_regression(x, t, n, w, gamma, reduction, out, grad, threads)
    case let .shrinkage(a, c, weight):
        status = losskit_shrinkage(x, t, n, w, a, c, weight.c, reduction, out, grad, threads)
    case let .binaryCrossEntropyWithLogits(posWeight):
        status = (posWeight ?? []).withUnsafeBufferPointer { pw in
            losskit_bce_logits(x, t, n, w, pw.baseAddress, pw.count, reduction, out, grad, threads)
        }
    case let .sigmoidFocal(alpha, gamma, normalizer):
        status = losskit_sigmoid_focal(x, t, n, alpha, gamma, normalizer ?? 0, reduction, out, grad, threads)
    }
    try checkStatus(status, "\(loss)")
}

/// Array front end shared by the named loss functions.
func elementwiseLoss(
    _ loss: ElementwiseLoss, _ predictions: [Float], _ targets: [Float], weights: [Float]? = nil,
    weightsArgument: String = "targetWeights",
    reduction: Reduction, computeGradient: Bool, execution: Execution
) throws -> LossResult {
    if let weights { try Check.sameCount(weightsArgument, weights.count, as: "predictions", predictions.count) }
    var gradient: [Float] = computeGradient ? .output(predictions.count) : []
    var unreduced: [Float] = reduction == .none ? .output(predictions.count) : []
    // nil weights must stay nil (an empty array's buffer is not nil)
    func run(_ w: UnsafeBufferPointer<Float>?) throws -> Float {
        try predictions.withUnsafeBufferPointer { x in
            try targets.withUnsafeBufferPointer { t in
                try gradient.withUnsafeMutableBufferPointer { g in
                    try unreduced.withUnsafeMutableBufferPointer { u in
                        try elementwiseLoss(loss, predictions: x, targets: t, weights: w, reduction: reduction,
                                            unreduced: reduction == .none ? u : nil,
                                            gradient: computeGradient ? g : nil, execution: execution)
                    }
                }
            }
        }
    }
    let value = try weights.map { try $0.withUnsafeBufferPointer(run) } ?? run(nil)
    return LossResult(value: value, unreduced: reduction == .none ? unreduced : nil,
                      gradient: computeGradient ? gradient : nil)
}
