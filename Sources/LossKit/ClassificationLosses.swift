import CLossKit

/// Binary cross-entropy on logits, as PyTorch `binary_cross_entropy_with_logits`:
///
///     weight ((1 - t) softplus(x) + pw t softplus(-x)),   softplus(x) = log(1 + e^x)
///     gradient  weight ((1 - t) sigmoid(x) - pw t sigmoid(-x))
///
/// This is PyTorch's `(1 - t) x + (1 + (pw - 1) t) softplus(-x)` rewritten so
/// that it never subtracts nearly equal terms: PyTorch's float32 form loses all
/// relative precision on confident correct logits (t = 0, x << 0; t = 1, x >> 0),
/// LossKit keeps every loss and gradient element that is a normal float within
/// 1e-5 relative of float64 for hard targets (for soft targets the gradient's two
/// terms meet at the optimum, sigmoid(x) = t, and it is exact relative to their size).
/// Logits of +-1e4 give finite losses and gradients. Targets may be soft (in [0, 1]).
/// The verification loss of re-identification is this loss on pair scores:
/// see ``verificationLoss(pairLogits:sameIdentity:reduction:computeGradient:execution:)``.
/// - Parameters:
///   - weight: nil, or n per-element weights, each multiplying its element's loss
///     and gradient, as PyTorch's `weight` (a full [n] tensor); `.mean` divides by
///     n, as PyTorch does, not by the sum of the weights.
///   - posWeight: nil; one value; or one per class, broadcast along the last
///     axis (the logit count must be a multiple of it).
///   - logits: n logits.
///   - targets: n targets, one per prediction / logit.
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func binaryCrossEntropyWithLogits(logits: [Float], targets: [Float], weight: [Float]? = nil,
                                         posWeight: [Float]? = nil,
                                         reduction: Reduction = .mean, computeGradient: Bool = true,
                                         execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.binaryCrossEntropyWithLogits(posWeight: posWeight), logits, targets, weights: weight, weightsArgument: "weight",
                        reduction: reduction, computeGradient: computeGradient, execution: execution)
}

/// Sigmoid focal loss for dense detection (Lin et al., RetinaNet), as
/// torchvision `sigmoid_focal_loss`:
///
///     p = sigmoid(x),  p_t = p t + (1 - p)(1 - t)
///     loss = alpha_t (1 - p_t)^gamma BCE(x, t),   alpha_t = alpha t + (1 - alpha)(1 - t)
///
/// `alpha < 0` disables alpha_t. Soft targets are allowed. `.mean` divides by
/// every element (N x C), as torchvision; RetinaNet itself divides the sum by
/// the number of positive anchors: pass `reduction: .sum, normalizer: positives`.
/// `1 - p` is computed from `exp(-|x|)` directly, and BCE is the exact form of
/// ``binaryCrossEntropyWithLogits(logits:targets:weight:posWeight:reduction:computeGradient:execution:)``,
/// so confident logits keep their (tiny) loss and gradient to full relative
/// precision (torchvision's float32 BCE cancels there); non-integer gamma
/// raises the integer part by multiplication and the rest through exp/log.
/// - Parameters:
///   - alpha: default 0.25; `<= 1`.
///   - gamma: focusing exponent, default 2; `>= 0`.
///   - normalizer: divides loss and gradient of a `.sum` (`> 0`), or nil.
///   - logits: n logits.
///   - targets: n targets, one per prediction / logit.
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func sigmoidFocalLoss(logits: [Float], targets: [Float], alpha: Float = 0.25, gamma: Float = 2,
                             normalizer: Float? = nil, reduction: Reduction = .mean,
                             computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try elementwiseLoss(.sigmoidFocal(alpha: alpha, gamma: gamma, normalizer: normalizer), logits, targets,
                        reduction: reduction, computeGradient: computeGradient, execution: execution)
}

/// A loss over the softmax of each row of a `[rows, classes]` logit matrix.
public enum SoftmaxLoss: Sendable, Hashable {
    /// PyTorch `cross_entropy`: row loss
    /// `(1 - eps) w_y (-log p_y) + (eps / C) sum_c w_c (-log p_c)`.
    case crossEntropy(classWeights: [Float]?, labelSmoothing: Float)
    /// RetinaNet's multi-class focal loss `-alpha (1 - p_y)^gamma log p_y`.
    case focal(alpha: Float, gamma: Float)
}

/// Computes a softmax loss into caller-owned buffers, copying nothing.
///
/// - Parameters:
///   - logits: `rows x classes` values, row-major.
///   - labels: `rows` labels in `0..<classes`, or `ignoreIndex` (that row gives 0 and no gradient).
///   - unreduced: for `.none`, `rows` values receiving each row's loss (or nil).
///   - gradient: `rows x classes` values receiving the gradient wrt the logits, or nil.
///   - loss: which softmax loss: ``SoftmaxLoss/crossEntropy(classWeights:labelSmoothing:)`` or ``SoftmaxLoss/focal(alpha:gamma:)``.
///   - classes: the number of classes C (logits are `[rows, C]`, row-major).
///   - ignoreIndex: rows with this label count for nothing (default -100, as PyTorch).
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: the reduced loss. `.mean` divides by the sum of `w_y` over rows not
///   ignored (their count without weights). A mean over zero total weight (all
///   rows ignored, no rows, or every counted row's class weight 0 - with or
///   without smoothing) is 0/0: NaN, and a NaN gradient on the counted rows
///   (ignored rows keep 0), exactly as PyTorch.
@discardableResult
public func softmaxLoss(
    _ loss: SoftmaxLoss, logits: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int>, classes: Int,
    ignoreIndex: Int = -100, reduction: Reduction = .mean,
    unreduced: UnsafeMutableBufferPointer<Float>? = nil, gradient: UnsafeMutableBufferPointer<Float>? = nil,
    execution: Execution = .default
) throws -> Float {
    let rows = labels.count
    guard classes >= 1 else {
        throw LossKitError.invalidParameter(argument: "classes", value: "\(classes)", reason: "must be >= 1")
    }
    let total = try Check.elementCount("logits", rows, classes)
    guard logits.count == total else {
        throw LossKitError.shapeMismatch(argument: "logits", expected: "[\(rows), \(classes)] (labels x classes)",
                                         actual: "\(logits.count) values")
    }
    try Check.output("gradient", gradient, logits.count)
    if reduction == .none { try Check.output("unreduced", unreduced, rows) }
    try Check.labels("labels", labels, classes: classes, ignoreIndex: ignoreIndex)
    switch loss {
    case let .crossEntropy(weights, smoothing):
        try checkCrossEntropyParameters(classWeights: weights, labelSmoothing: smoothing, classes: classes)
    case let .focal(alpha, gamma):
        try Check.finite("alpha", alpha)
        try Check.nonNegative("gamma", gamma)
    }
    let threads = try execution.validatedThreads()

    return try withRowLosses(rows: rows, reduction: reduction, unreduced: unreduced) { perRow in
        switch execution.backend {
        case .c:
            var reduced: Float = 0
            let status: Int32 = labels.withMemoryRebound(to: Int64.self) { y in
                withUnsafeMutablePointer(to: &reduced) { r in
                    let out = perRow?.baseAddress ?? r
                    switch loss {
                    case let .crossEntropy(weights, smoothing):
                        return withClassWeights(weights) { w in
                            losskit_softmax_ce(logits.baseAddress, y.baseAddress, rows, classes, w,
                                               Int64(ignoreIndex), smoothing, reduction.c, out, gradient?.baseAddress, threads)
                        }
                    case let .focal(alpha, gamma):
                        return losskit_softmax_focal(logits.baseAddress, y.baseAddress, rows, classes, alpha, gamma,
                                                     Int64(ignoreIndex), reduction.c, out, gradient?.baseAddress, threads)
                    }
                }
            }
            try checkStatus(status, "softmaxLoss(\(loss))")
            return reduced
        case .portable:
            return Portable.softmax(loss, logits, labels, classes: classes, ignoreIndex: ignoreIndex,
                                    reduction: reduction, unreduced: perRow, gradient: gradient,
                                    threads: execution.resolvedThreads)
        }
    }
}

/// Runs a softmax kernel with the per-row loss buffer `.none` needs (the
/// caller's, or scratch when the caller passed none) and returns the reduced
/// value: the kernel's, or for `.none` the ordered sum of the row losses.
func withRowLosses(rows: Int, reduction: Reduction, unreduced: UnsafeMutableBufferPointer<Float>?,
                   _ kernel: (UnsafeMutableBufferPointer<Float>?) throws -> Float) rethrows -> Float {
    guard reduction == .none else { return try kernel(nil) }
    let scratch: UnsafeMutableBufferPointer<Float>? = unreduced == nil ? .allocate(capacity: rows) : nil
    defer { scratch?.deallocate() }
    let perRow = unreduced ?? scratch!
    _ = try kernel(perRow)
    return orderedSum(UnsafeBufferPointer(perRow))
}

/// Label smoothing in [0, 1]; class weights nil or `classes` values, finite and `>= 0`.
func checkCrossEntropyParameters(classWeights weights: [Float]?, labelSmoothing smoothing: Float, classes: Int) throws {
    try Check.parameter(!smoothing.isNaN && smoothing >= 0 && smoothing <= 1, "labelSmoothing", smoothing, "must be in [0, 1]")
    if let weights {
        try Check.sameCount("classWeights", weights.count, as: "classes", classes)
        if let i = weights.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw LossKitError.invalidParameter(argument: "classWeights[\(i)]", value: "\(weights[i])", reason: "must be finite and >= 0")
        }
    }
}

/// Runs `body` with the class weights as a C pointer: NULL for nil (an empty
/// array's baseAddress is not nil, so nil must not go through an array).
func withClassWeights<R>(_ weights: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    weights.map { $0.withUnsafeBufferPointer { body($0.baseAddress) } } ?? body(nil)
}

func softmaxLoss(_ loss: SoftmaxLoss, _ logits: [Float], _ labels: [Int], classes: Int, ignoreIndex: Int,
                 reduction: Reduction, computeGradient: Bool, execution: Execution) throws -> LossResult {
    var gradient: [Float] = computeGradient ? .output(logits.count) : []
    var unreduced: [Float] = reduction == .none ? .output(labels.count) : []
    let value = try logits.withUnsafeBufferPointer { x in
        try labels.withUnsafeBufferPointer { y in
            try gradient.withUnsafeMutableBufferPointer { g in
                try unreduced.withUnsafeMutableBufferPointer { u in
                    try softmaxLoss(loss, logits: x, labels: y, classes: classes, ignoreIndex: ignoreIndex,
                                    reduction: reduction, unreduced: reduction == .none ? u : nil,
                                    gradient: computeGradient ? g : nil, execution: execution)
                }
            }
        }
    }
    return LossResult(value: value, unreduced: reduction == .none ? unreduced : nil,
                      gradient: computeGradient ? gradient : nil)
}

/// Softmax cross-entropy over `[rows, classes]` logits, as PyTorch `cross_entropy`:
///
///     row loss = (1 - eps) w_y (-log p_y) + (eps / C) sum_c w_c (-log p_c),   p = softmax(row)
///
/// computed through a max-subtracted log-sum-exp, so logits of +-1e4 are fine.
/// - Parameters:
///   - logits: `labels.count x classes` values, row-major.
///   - labels: class indices in `0..<classes`, or `ignoreIndex`.
///   - classWeights: nil (all 1) or `classes` values `>= 0`.
///   - ignoreIndex: rows with this label give 0 loss and no gradient. Default -100.
///   - labelSmoothing: eps in [0, 1], default 0.
///   - reduction: `.mean` divides by the sum of `w_y` over rows not ignored
///     (their count when unweighted), exactly as PyTorch. When that sum is 0
///     (all rows ignored, no rows, or every counted label's weight 0, with or
///     without smoothing) the mean is NaN and the counted rows' gradient NaN
///     (ignored rows' stays 0), as PyTorch's `F.cross_entropy`.
///   - classes: the number of classes C (logits are `[rows, C]`, row-major).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
///
/// For probability targets (soft labels) see
/// ``softmaxCrossEntropy(logits:targetProbabilities:classes:classWeights:labelSmoothing:reduction:computeGradient:execution:)``.
public func softmaxCrossEntropy(logits: [Float], labels: [Int], classes: Int, classWeights: [Float]? = nil,
                                ignoreIndex: Int = -100, labelSmoothing: Float = 0, reduction: Reduction = .mean,
                                computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try softmaxLoss(.crossEntropy(classWeights: classWeights, labelSmoothing: labelSmoothing), logits, labels,
                    classes: classes, ignoreIndex: ignoreIndex, reduction: reduction,
                    computeGradient: computeGradient, execution: execution)
}

/// Softmax cross-entropy with probability targets (soft labels: mixup,
/// CutMix, knowledge distillation), copying nothing, as PyTorch
/// `F.cross_entropy(input, target)` with a float `[rows, classes]` target:
///
///     t'_c = (1 - eps) t_c + eps / C                  (label smoothing)
///     row loss = sum_c w_c t'_c (-log p_c),   p = softmax(row)
///     gradient = p_j sum_c w_c t'_c - w_j t'_j
///
/// computed through a max-subtracted log-sum-exp in one fused pass.
/// - `.mean` divides by the row count - not by a sum of weights, unlike the
///   class-index form (PyTorch does the same); no rows gives NaN.
/// - Targets are used as given, as PyTorch: rows need not sum to 1 (an
///   all-zero row gives 0 loss with smoothing 0), and entries are not
///   checked - a negative entry enters the formula, a NaN gives a NaN row.
/// - A `-inf` logit where `w_c t'_c = 0` makes the row's loss NaN (0 x inf,
///   exactly as PyTorch), while its gradient stays finite (as PyTorch's);
///   mask classes with a large negative finite logit instead.
/// - There is no ignore index (PyTorch rejects one for probability targets):
///   give an ignored row weight by zeroing its targets, with smoothing 0.
/// - Parameters:
///   - logits: `rows x classes` values, row-major.
///   - targetProbabilities: `rows x classes` target values, row-major.
///   - classes: the number of classes C.
///   - classWeights: nil (all 1) or `classes` values, finite and `>= 0`.
///   - labelSmoothing: eps in [0, 1], default 0.
///   - reduction: `.none`, `.sum` or `.mean` (default); the gradient is that of the reduced value (of the sum for `.none`).
///   - unreduced: for `.none`, `rows` values receiving each row's loss (or nil).
///   - gradient: `rows x classes` values receiving the gradient wrt the logits, or nil.
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: the reduced loss (for `.none`, the sum of the row losses).
@discardableResult
public func softmaxCrossEntropy(
    logits: UnsafeBufferPointer<Float>, targetProbabilities: UnsafeBufferPointer<Float>, classes: Int,
    classWeights: [Float]? = nil, labelSmoothing: Float = 0, reduction: Reduction = .mean,
    unreduced: UnsafeMutableBufferPointer<Float>? = nil, gradient: UnsafeMutableBufferPointer<Float>? = nil,
    execution: Execution = .default
) throws -> Float {
    guard classes >= 1 else {
        throw LossKitError.invalidParameter(argument: "classes", value: "\(classes)", reason: "must be >= 1")
    }
    guard logits.count % classes == 0 else {
        throw LossKitError.shapeMismatch(argument: "logits", expected: "[rows, \(classes)] (a multiple of classes)",
                                         actual: "\(logits.count) values")
    }
    let rows = logits.count / classes
    guard targetProbabilities.count == logits.count else {
        throw LossKitError.shapeMismatch(argument: "targetProbabilities", expected: "[\(rows), \(classes)] (as logits)",
                                         actual: "\(targetProbabilities.count) values")
    }
    try Check.output("gradient", gradient, logits.count)
    if reduction == .none { try Check.output("unreduced", unreduced, rows) }
    try checkCrossEntropyParameters(classWeights: classWeights, labelSmoothing: labelSmoothing, classes: classes)
    let threads = try execution.validatedThreads()

    return try withRowLosses(rows: rows, reduction: reduction, unreduced: unreduced) { perRow in
        switch execution.backend {
        case .c:
            var reduced: Float = 0
            let status = withUnsafeMutablePointer(to: &reduced) { r in
                withClassWeights(classWeights) { w in
                    losskit_softmax_ce_soft(logits.baseAddress, targetProbabilities.baseAddress, rows, classes, w,
                                            labelSmoothing, reduction.c, perRow?.baseAddress ?? r, gradient?.baseAddress,
                                            threads)
                }
            }
            try checkStatus(status, "softmaxCrossEntropy(targetProbabilities:)")
            return reduced
        case .portable:
            return Portable.softmaxSoft(logits, targetProbabilities, classes: classes, classWeights: classWeights,
                                        labelSmoothing: labelSmoothing, reduction: reduction, unreduced: perRow,
                                        gradient: gradient, threads: execution.resolvedThreads)
        }
    }
}

/// Softmax cross-entropy with probability targets (soft labels), as PyTorch
/// `F.cross_entropy(input, target)` with a float `[rows, classes]` target:
/// row loss `sum_c w_c t'_c (-log p_c)`, `t'_c = (1 - eps) t_c + eps / C`;
/// `.mean` divides by the row count (PyTorch's rule for probability targets).
/// See the buffer form
/// ``softmaxCrossEntropy(logits:targetProbabilities:classes:classWeights:labelSmoothing:reduction:unreduced:gradient:execution:)``
/// for the exact conventions (unnormalized and negative targets, `-inf` logits).
/// - Parameters:
///   - logits: `rows x classes` values, row-major.
///   - targetProbabilities: `rows x classes` target values (e.g. mixup's
///     `lambda onehot(a) + (1 - lambda) onehot(b)`, or a teacher's softmax).
///   - classes: the number of classes C.
///   - classWeights: nil (all 1) or `classes` values `>= 0`.
///   - labelSmoothing: eps in [0, 1], default 0.
///   - reduction: `.none`, `.sum` or `.mean` (default, over rows).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func softmaxCrossEntropy(logits: [Float], targetProbabilities: [Float], classes: Int,
                                classWeights: [Float]? = nil, labelSmoothing: Float = 0, reduction: Reduction = .mean,
                                computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    var gradient: [Float] = computeGradient ? .output(logits.count) : []
    let rows = classes >= 1 ? logits.count / classes : 0
    var unreduced: [Float] = reduction == .none ? .output(rows) : []
    let value = try logits.withUnsafeBufferPointer { x in
        try targetProbabilities.withUnsafeBufferPointer { t in
            try gradient.withUnsafeMutableBufferPointer { g in
                try unreduced.withUnsafeMutableBufferPointer { u in
                    try softmaxCrossEntropy(logits: x, targetProbabilities: t, classes: classes, classWeights: classWeights,
                                            labelSmoothing: labelSmoothing, reduction: reduction,
                                            unreduced: reduction == .none ? u : nil,
                                            gradient: computeGradient ? g : nil, execution: execution)
                }
            }
        }
    }
    return LossResult(value: value, unreduced: reduction == .none ? unreduced : nil,
                      gradient: computeGradient ? gradient : nil)
}

/// Multi-class softmax focal loss (RetinaNet's softmax form): `-alpha (1 - p_y)^gamma log p_y` per row.
/// `1 - p_y` is summed from the other classes, so it keeps its precision as p_y -> 1.
/// Defaults alpha 1, gamma 2; rows labelled `ignoreIndex` give 0 and are not counted by `.mean`;
/// a mean over no counted row is NaN with a zero gradient (as cross-entropy's, and PyTorch's).
public func softmaxFocalLoss(logits: [Float], labels: [Int], classes: Int, alpha: Float = 1, gamma: Float = 2,
                             ignoreIndex: Int = -100, reduction: Reduction = .mean,
                             computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try softmaxLoss(.focal(alpha: alpha, gamma: gamma), logits, labels, classes: classes, ignoreIndex: ignoreIndex,
                    reduction: reduction, computeGradient: computeGradient, execution: execution)
}

/// The ID (identity classification) loss of person re-identification:
/// softmax cross-entropy over identity logits with label smoothing 0.1
/// (Luo et al., "Bag of Tricks and a Strong Baseline for Deep Person
/// Re-identification"). It is ``softmaxCrossEntropy(logits:labels:classes:classWeights:ignoreIndex:labelSmoothing:reduction:computeGradient:execution:)``
/// with `labelSmoothing: 0.1`; no separate kernel. Every row counts (no
/// ignore index), so `.mean` is over the rows; no rows gives NaN, as PyTorch.
public func identityLoss(logits: [Float], identities: [Int], identityCount: Int, labelSmoothing: Float = 0.1,
                         reduction: Reduction = .mean, computeGradient: Bool = true,
                         execution: Execution = .default) throws -> LossResult {
    try softmaxCrossEntropy(logits: logits, labels: identities, classes: identityCount, labelSmoothing: labelSmoothing,
                            reduction: reduction, computeGradient: computeGradient, execution: execution)
}

/// The verification loss of re-identification: binary cross-entropy on the
/// logit that a pair of images shows the same identity (1) or not (0). It is
/// ``binaryCrossEntropyWithLogits(logits:targets:weight:posWeight:reduction:computeGradient:execution:)``
/// on pair scores; no separate kernel. (A 2-class softmax over pair logits is
/// ``softmaxCrossEntropy(logits:labels:classes:classWeights:ignoreIndex:labelSmoothing:reduction:computeGradient:execution:)`` with `classes: 2`.)
public func verificationLoss(pairLogits: [Float], sameIdentity: [Bool], reduction: Reduction = .mean,
                             computeGradient: Bool = true, execution: Execution = .default) throws -> LossResult {
    try binaryCrossEntropyWithLogits(logits: pairLogits, targets: sameIdentity.map { $0 ? 1 : 0 },
                                     reduction: reduction, computeGradient: computeGradient, execution: execution)
}
