// Regression losses. Every function takes n predictions and n targets
// (any shape, flattened row-major), with r = prediction - target, and returns
// the reduced loss and, unless `computeGradient` is false, its gradient with
// respect to the predictions (for `.none`: the gradient of the sum).
//
// `targetWeights` (nil, or n values) are mmpose's target weights
// (`use_target_weight`: 0 for an invisible keypoint). L1, MSE, Smooth L1,
// Huber, Wing and Adaptive Wing apply them as mmpose's losses of those names
// do, to prediction and target before the loss: `loss(w x, w t)`, gradient
// `w loss'(w x, w t)` (so MSE weighs r^2 by w^2; mmpose's heatmap
// KeypointMSELoss multiplies the loss by w instead - the same for 0/1
// weights). Focal regression and shrinkage, which mmpose does not have,
// multiply each element's loss by w. `.mean` divides by n either way, as
// mmpose's `mean` does; weight 0 gives that element loss 0 and gradient 0.

/// L1 loss, `|r|`, as PyTorch `l1_loss`.
///
///     loss  |        gradient
///       \   |   /       +1 |------
///        \  |  /           |
///     ----\-|-/----     ---0------   sign(r), 0 at r = 0
///          \|/       ------| -1
///
/// - Throws: ``LossKitError`` if the counts differ.
/// `targetWeights`: nil, or n mmpose target weights applied to prediction and target before the loss (see the top of this file).
public func l1Loss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, reduction: Reduction = .mean,
                   computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.l1, predictions, targets, weights: targetWeights, reduction: reduction, computeGradient: computeGradient, execution: execution)
}

/// Mean squared error term `r^2`, as PyTorch `mse_loss`; gradient `2 r`.
/// `targetWeights`: nil, or n mmpose target weights applied to prediction and target before the loss (see the top of this file).
public func mseLoss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, reduction: Reduction = .mean,
                    computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.mse, predictions, targets, weights: targetWeights, reduction: reduction, computeGradient: computeGradient, execution: execution)
}

/// Smooth L1 loss, as PyTorch `smooth_l1_loss`:
///
///     0.5 r^2 / beta      if |r| < beta
///     |r| - 0.5 beta      otherwise
///
/// `beta = 0` is exactly L1 (gradient `sign(r)`); SSD and Faster R-CNN use 1
/// and 1/9. - Parameter beta: `>= 0`, default 1.
/// `targetWeights`: nil, or n mmpose target weights applied to prediction and target before the loss (see the top of this file).
public func smoothL1Loss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, beta: Float = 1, reduction: Reduction = .mean,
                         computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.smoothL1(beta: beta), predictions, targets, weights: targetWeights, reduction: reduction,
                        computeGradient: computeGradient, execution: execution)
}

/// Huber loss, as PyTorch `huber_loss`:
///
///     0.5 r^2                    if |r| < delta
///     delta (|r| - 0.5 delta)    otherwise
///
/// It equals `delta` times Smooth L1 with `beta = delta`. - Parameter delta: `> 0`, default 1.
/// `targetWeights`: nil, or n mmpose target weights applied to prediction and target before the loss (see the top of this file).
public func huberLoss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, delta: Float = 1, reduction: Reduction = .mean,
                      computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.huber(delta: delta), predictions, targets, weights: targetWeights, reduction: reduction,
                        computeGradient: computeGradient, execution: execution)
}

/// Wing loss for facial landmarks (Feng et al., CVPR 2018):
///
///     w ln(1 + |r| / eps)    if |r| < w
///     |r| - C                otherwise,   C = w - w ln(1 + w / eps)
///
/// The log branch amplifies small and medium errors, which L2 neglects.
/// `.mean` averages over elements; mmpose's `WingLoss` sums over the
/// landmark coordinates and averages over the batch - multiply by the
/// coordinates per sample to get its value.
/// - Parameters:
///   - targetWeights: nil, or n mmpose target weights, applied to prediction and
///     target before the loss as mmpose's `WingLoss(use_target_weight=True)` does.
///   - w: the width of the non-linear part, `> 0`, default 10.
///   - epsilon: its curvature, `> 0`, default 2.
///   - predictions: n predictions.
///   - targets: n targets, one per prediction / logit.
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func wingLoss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, w: Float = 10, epsilon: Float = 2,
                     reduction: Reduction = .mean, computeGradient: Bool = true,
                     execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.wing(w: w, epsilon: epsilon), predictions, targets, weights: targetWeights, reduction: reduction,
                        computeGradient: computeGradient, execution: execution)
}

/// Adaptive Wing loss for heatmap regression (Wang et al., ICCV 2019), as
/// mmpose's `AdaptiveWingLoss`, with y the target heatmap value:
///
///     omega ln(1 + (|r| / eps)^(alpha - y))    if |r| < theta
///     A |r| - C                                otherwise
///
/// where A and C make the two pieces meet smoothly at theta. The gradient at
/// r = 0 is 0. Defaults alpha 2.1, omega 14, epsilon 1, theta 0.5.
/// `targetWeights`: nil, or n mmpose target weights applied to prediction and target before the loss (see the top of this file).
public func adaptiveWingLoss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, alpha: Float = 2.1, omega: Float = 14,
                             epsilon: Float = 1, theta: Float = 0.5, reduction: Reduction = .mean,
                             computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.adaptiveWing(alpha: alpha, omega: omega, epsilon: epsilon, theta: theta),
                        predictions, targets, weights: targetWeights, reduction: reduction, computeGradient: computeGradient, execution: execution)
}

/// Focal regression loss `|r|^(2 + gamma)`, the `L_F` of the DSLT paper
/// (Lu et al., ECCV 2018): it down-weights easy (small-error) samples.
/// Gradient `(2 + gamma) |r|^(1 + gamma) sign(r)`. - Parameter gamma: `>= 0`, default 1.
/// `targetWeights`: nil, or n target weights, each multiplying its element's loss (see the top of this file).
public func focalRegressionLoss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, gamma: Float = 1,
                                reduction: Reduction = .mean, computeGradient: Bool = true,
                                execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.focalRegression(gamma: gamma), predictions, targets, weights: targetWeights, reduction: reduction,
                        computeGradient: computeGradient, execution: execution)
}

/// Shrinkage loss for regression tracking (DSLT, Lu et al., ECCV 2018),
/// with l = |r| and y the target:
///
///     weight(y) l^2 / (1 + exp(a (c - l)))
///
/// The sigmoid factor shrinks the loss of easy samples (l well below c)
/// and leaves hard ones near plain L2. The gradient carries `sign(r)` (the
/// authors' Matlab gradient omits it; that is a bug LossKit does not copy).
/// - Parameters:
///   - targetWeights: nil, or n weights, each multiplying its element's loss.
///   - a: shrinkage speed, default 10.
///   - c: localization of the shrinkage, default 0.2.
///   - weight: ``ShrinkageWeight``, default `exp(y)` (the paper's form).
///   - predictions: n predictions.
///   - targets: n targets, one per prediction / logit.
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func shrinkageLoss(predictions: [Float], targets: [Float], targetWeights: [Float]? = nil, a: Float = 10, c: Float = 0.2,
                          weight: ShrinkageWeight = .exponentialTarget, reduction: Reduction = .mean,
                          computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.shrinkage(a: a, c: c, weight: weight), predictions, targets, weights: targetWeights, reduction: reduction,
                        computeGradient: computeGradient, execution: execution)
}
