import CLossKit

/// The result of a loss over tuples of feature rows: the value, per-row
/// losses for ``Reduction/none``, and one gradient per input, in the order
/// the inputs are given (each shaped like its input).
public struct TupleLossResult: Sendable, Equatable {
    public var value: Float
    public var unreduced: [Float]?
    public var gradients: [[Float]]?
}

/// How contrastive loss uses the distance.
public enum ContrastiveForm: Sendable, Hashable {
    /// `y D^2 + (1 - y) max(margin - D, 0)^2` (Hadsell et al. 2006).
    case distance
    /// `y D^2 + (1 - y) max(margin - D^2, 0)^2`: the margin applies to the squared distance.
    case squaredDistance
}

/// Checks that every input is `[n, dimension]` like the first; returns n.
func checkTuples(_ inputs: [(String, [Float])], dimension: Int) throws -> Int {
    try checkDimension(dimension)
    let (firstName, first) = inputs[0]
    guard first.count % dimension == 0 else {
        throw LossKitError.shapeMismatch(argument: firstName, expected: "[n, \(dimension)]", actual: "\(first.count) values")
    }
    for (name, values) in inputs.dropFirst() {
        try Check.sameCount(name, values.count, as: firstName, first.count)
    }
    return first.count / dimension
}

/// Runs a tuple kernel on the C backend. `call` gets the loss output and one
/// gradient pointer per input (nil when not requested), and returns the status.
func runTupleKernel(inputs: Int, rows: Int, dimension: Int, reduction: Reduction, computeGradient: Bool,
                    threads: Int32, name: String,
                    _ call: (UnsafeMutablePointer<Float>, [UnsafeMutablePointer<Float>?], Int32) -> Int32) throws -> TupleLossResult {
    let size = try Check.elementCount("gradients", rows, dimension)
    let total = try Check.elementCount("gradients", inputs, size)
    var grads = [Float](repeating: 0, count: computeGradient ? total : 0) // all gradients, one after another
    var perRow = [Float](repeating: 0, count: max(rows, 1))
    var value: Float = 0
    let status = grads.withUnsafeMutableBufferPointer { g in
        perRow.withUnsafeMutableBufferPointer { pr in
            withUnsafeMutablePointer(to: &value) { v in
                let pointers = (0..<inputs).map { computeGradient ? g.baseAddress! + $0 * size : nil }
                return call(reduction == .none ? pr.baseAddress! : v, pointers, threads)
            }
        }
    }
    try checkStatus(status, name)
    let rowLosses = Array(perRow[0..<rows])
    return TupleLossResult(value: reduction == .none ? rowLosses.withUnsafeBufferPointer { orderedSum($0) } : value,
                           unreduced: reduction == .none ? rowLosses : nil,
                           gradients: !computeGradient ? nil
                               : inputs == 1 ? [grads] // the buffer itself: no copy of an n x d gradient
                               : (0..<inputs).map { Array(grads[$0 * size ..< ($0 + 1) * size]) })
}

/// Contrastive loss on pairs of feature rows (Hadsell, Chopra and LeCun 2006):
///
///     .distance:         y D^2 + (1 - y) max(margin - D, 0)^2
///     .squaredDistance:  y D^2 + (1 - y) max(margin - D^2, 0)^2
///
/// with `y` 1 where `same[i]` is true (the same identity) and 0 otherwise, D
/// the metric's distance between row i of `x1` and of `x2`. Gradients wrt both
/// inputs. The labels are `[Bool]`, as ``verificationLoss(pairLogits:sameIdentity:reduction:computeGradient:execution:)``'s:
/// a float such as 2 is not a label (the formula would weigh the pair's D^2
/// twice and its hinge by -1). The C entry point takes floats and returns -4
/// for any value other than exactly 0 or 1.
/// - Parameters:
///   - x1: `[n, dimension]` features, row i paired with row i of `x2`.
///   - x2: `[n, dimension]` features.
///   - same: n labels, true for the same identity.
///   - margin: default 1; finite and >= 0 (a negative margin would make every
///     dissimilar pair's term 0, silently stopping training: it throws).
///   - dimension: the feature dimension d (>= 1).
///   - metric: the distance (``DistanceMetric``; default Euclidean).
///   - form: ``ContrastiveForm/distance`` (default) or ``ContrastiveForm/squaredDistance``.
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func contrastiveLoss(x1: [Float], x2: [Float], same: [Bool], dimension: Int, metric: DistanceMetric = .euclidean,
                            margin: Float = 1, form: ContrastiveForm = .distance, reduction: Reduction = .mean,
                            computeGradient: Bool = true, execution: Execution = .default) throws -> TupleLossResult {
    let n = try checkTuples([("x1", x1), ("x2", x2)], dimension: dimension)
    try Check.sameCount("same", same.count, as: "rows of x1", n)
    try Check.nonNegative("margin", margin)
    if execution.backend == .portable {
        return Portable.tupleLoss(.contrastive(same: same, squared: form == .squaredDistance), [x1, x2], d: dimension,
                                  metric: metric, margins: (margin, 0), reduction: reduction, computeGradient: computeGradient)
    }
    let labels: [Float] = same.map { $0 ? 1 : 0 }
    return try runTupleKernel(inputs: 2, rows: n, dimension: dimension, reduction: reduction, computeGradient: computeGradient,
                              threads: execution.validatedThreads(), name: "contrastiveLoss") { loss, g, threads in
        losskit_contrastive(metric.c, x1, x2, labels, n, dimension, margin, form == .squaredDistance ? 1 : 0, reduction.c,
                            loss, g[0], g[1], threads)
    }
}

/// Triplet loss on aligned rows: `max(D(a, p) - D(a, n) + margin, 0)`; with
/// `improved: true`, the improved triplet loss of Cheng et al. (2016), which
/// adds `D(a, p)` to pull positives in. Gradients wrt anchor, positive, negative.
/// - Parameter margin: default 0.3 (reid-strong-baseline); finite and >= 0.
///   `torch.nn.TripletMarginLoss` accepts a negative margin, where every
///   triplet whose negative is farther than its positive by more than
///   |margin| gives 0 and no gradient; LossKit throws instead (0 stays valid).
/// - Parameters:
///   - anchor: `[n, dimension]` anchors.
///   - positive: `[n, dimension]` positives (same identity as the anchor of their row).
///   - negative: `[n, dimension]` negatives.
///   - dimension: the feature dimension d.
///   - metric: the distance (``DistanceMetric``; default Euclidean).
///   - improved: adds D(a, p) to each term (improved triplet, Cheng et al. 2016).
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func tripletLoss(anchor: [Float], positive: [Float], negative: [Float], dimension: Int,
                        metric: DistanceMetric = .euclidean, margin: Float = 0.3, improved: Bool = false,
                        reduction: Reduction = .mean, computeGradient: Bool = true,
                        execution: Execution = .default) throws -> TupleLossResult {
    let n = try checkTuples([("anchor", anchor), ("positive", positive), ("negative", negative)], dimension: dimension)
    try Check.nonNegative("margin", margin)
    if execution.backend == .portable {
        return Portable.tupleLoss(.triplet(improved: improved), [anchor, positive, negative], d: dimension, metric: metric,
                                  margins: (margin, 0), reduction: reduction, computeGradient: computeGradient)
    }
    return try runTupleKernel(inputs: 3, rows: n, dimension: dimension, reduction: reduction, computeGradient: computeGradient,
                              threads: execution.validatedThreads(), name: "tripletLoss") { loss, g, threads in
        losskit_triplet(metric.c, anchor, positive, negative, n, dimension, margin, improved ? 1 : 0, reduction.c,
                        loss, g[0], g[1], g[2], threads)
    }
}

/// Quadruplet loss (Chen et al. 2017):
/// `max(D(a,p) - D(a,n1) + margin1, 0) + max(D(a,p) - D(n1,n2) + margin2, 0)`,
/// with n2 of an identity different from n1's. Gradients wrt all four inputs.
/// - Parameters: margins default 1 and 0.5, each finite and >= 0 (a negative
///   margin throws, as for ``tripletLoss(anchor:positive:negative:dimension:metric:margin:improved:reduction:computeGradient:execution:)``).
public func quadrupletLoss(anchor: [Float], positive: [Float], negative1: [Float], negative2: [Float], dimension: Int,
                           metric: DistanceMetric = .euclidean, margin1: Float = 1, margin2: Float = 0.5,
                           reduction: Reduction = .mean, computeGradient: Bool = true,
                           execution: Execution = .default) throws -> TupleLossResult {
    let n = try checkTuples([("anchor", anchor), ("positive", positive), ("negative1", negative1), ("negative2", negative2)],
                            dimension: dimension)
    try Check.nonNegative("margin1", margin1)
    try Check.nonNegative("margin2", margin2)
    if execution.backend == .portable {
        return Portable.tupleLoss(.quadruplet, [anchor, positive, negative1, negative2], d: dimension, metric: metric,
                                  margins: (margin1, margin2), reduction: reduction, computeGradient: computeGradient)
    }
    return try runTupleKernel(inputs: 4, rows: n, dimension: dimension, reduction: reduction, computeGradient: computeGradient,
                              threads: execution.validatedThreads(), name: "quadrupletLoss") { loss, g, threads in
        losskit_quadruplet(metric.c, anchor, positive, negative1, negative2, n, dimension, margin1, margin2, reduction.c,
                           loss, g[0], g[1], g[2], g[3], threads)
    }
}

/// How TriHard picks each anchor's negative.
public enum NegativeMining: Sendable, Hashable {
    /// Batch hard: the closest negative.
    case hardest
    /// FaceNet's semi-hard: the closest negative farther than the hardest positive, else the closest.
    case semiHard

    var c: losskit_mining { self == .hardest ? LOSSKIT_MINING_HARDEST : LOSSKIT_MINING_SEMIHARD }
}

/// TriHard, the batch-hard triplet loss (Hermans et al. 2017), as in
/// reid-strong-baseline, on a P x K batch of features with identity labels.
///
/// For each anchor: the hardest positive (the farthest sample of its identity,
/// itself excluded) and the hardest negative (the closest of another identity;
/// see ``NegativeMining``); ties take the lowest index. Its loss is
/// `max(D(a,p) - D(a,n) + margin, 0)`, or `softplus(D(a,p) - D(a,n))` when
/// `margin` is nil (soft margin). Anchors with no positive or no negative are
/// skipped: `.mean` averages over the rest, and a batch where none remain -
/// one sample, or a single identity - gives 0 and a zero gradient (as
/// pytorch-metric-learning's miners do; reid-strong-baseline's
/// `hard_example_mining` assumes P x K batches and raises on them). The C ABI
/// follows the same rule.
///
/// The C path never holds the N x N distance matrix past 2048 rows. With
/// batch-hard mining it uses the matrix's symmetry: up to 2048 rows one
/// SSYRK computes the upper triangle; past that a block of rows goes through
/// SGEMM against the columns from its own first row on (half the flops), and
/// each value updates both its row's best positive / negative and its
/// column's, so every pair is computed once (scratch O(block x N)); the
/// chosen pairs' losses and gradients are then recomputed exactly, in double.
/// Semi-hard mining needs a row's hardest positive before its negatives, so it
/// reduces whole rows instead.
/// - Parameters:
///   - features: `[n, dimension]`.
///   - labels: n identity labels.
///   - margin: default 0.3, finite and >= 0 (a negative margin throws); nil
///     selects the soft margin.
///   - dimension: the feature dimension d (>= 1).
///   - metric: the distance (``DistanceMetric``; default Euclidean).
///   - mining: how each anchor's negative is picked (``NegativeMining``; default the hardest).
///   - normalize: L2-normalize every row first, `x / max(|x|, 1e-12)`
///     (`torch.nn.functional.normalize`), with the gradient chained through
///     it: reid-strong-baseline's `normalize_feature=True` (whose `normalize`
///     divides by `|x| + 1e-12`; the two differ only for rows of norm near
///     1e-12). Default false. This runs the batch as its own reference set,
///     ``triHardLoss(queries:labels:references:dimension:metric:margin:mining:normalize:reduction:meanCount:computeGradient:execution:)``
///     with ``ReferenceSet/batch(_:labels:)``; the gradient is the sum of its
///     query and reference gradients.
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: the loss and `gradients[0]`, d loss / d features.
public func triHardLoss(features: [Float], labels: [Int], dimension: Int, metric: DistanceMetric = .euclidean,
                        margin: Float? = 0.3, mining: NegativeMining = .hardest, normalize: Bool = false,
                        reduction: Reduction = .mean, computeGradient: Bool = true,
                        execution: Execution = .default) throws -> TupleLossResult {
    try triHard(features: features, labels: labels, dimension: dimension, metric: metric, margin: margin, mining: mining,
                normalize: normalize, reduction: reduction, computeGradient: computeGradient, execution: execution).result
}

/// ``triHardLoss(features:labels:dimension:metric:margin:mining:normalize:reduction:computeGradient:execution:)``
/// with each anchor's chosen positive and negative index (-1 when the anchor was skipped), for logging.
public func triHard(features: [Float], labels: [Int], dimension: Int, metric: DistanceMetric = .euclidean,
                    margin: Float? = 0.3, mining: NegativeMining = .hardest, normalize: Bool = false,
                    reduction: Reduction = .mean, computeGradient: Bool = true, execution: Execution = .default)
    throws -> (result: TupleLossResult, hardestPositive: [Int], hardestNegative: [Int]) {
    let n = try checkTuples([("features", features)], dimension: dimension)
    try Check.sameCount("labels", labels.count, as: "rows of features", n)
    if let margin { try Check.nonNegative("margin", margin) }
    if normalize {
        let r = try triHardLoss(queries: features, labels: labels, references: .batch(features, labels: labels),
                                dimension: dimension, metric: metric, margin: margin.map { .hinge($0) } ?? .soft(0),
                                mining: mining, normalize: true, reduction: reduction,
                                computeGradient: computeGradient, execution: execution)
        let gradient = zip(r.queryGradient ?? [], r.referenceGradient ?? []).map { $0 + $1 }
        return (TupleLossResult(value: r.value, unreduced: r.unreduced, gradients: computeGradient ? [gradient] : nil),
                r.hardestPositive!, r.hardestNegative!)
    }
    if execution.backend == .portable {
        return Portable.triHard(features, labels, d: dimension, metric: metric, margin: margin, mining: mining,
                                reduction: reduction, computeGradient: computeGradient, threads: execution.resolvedThreads)
    }
    var positive = [Int](repeating: -1, count: n), negative = [Int](repeating: -1, count: n)
    let result = try runTupleKernel(inputs: 1, rows: n, dimension: dimension, reduction: reduction,
                                    computeGradient: computeGradient, threads: execution.validatedThreads(),
                                    name: "triHardLoss") { loss, g, threads in
        labels.withUnsafeBufferPointer { l in
            positive.withUnsafeMutableBufferPointer { p in
                negative.withUnsafeMutableBufferPointer { q in
                    l.withMemoryRebound(to: Int64.self) { l64 in
                        p.withMemoryRebound(to: Int64.self) { p64 in
                            q.withMemoryRebound(to: Int64.self) { q64 in
                                losskit_trihard(metric.c, features, l64.baseAddress, n, dimension, margin ?? 0,
                                                margin == nil ? 1 : 0, mining.c, reduction.c, loss, g[0],
                                                p64.baseAddress, q64.baseAddress, threads)
                            }
                        }
                    }
                }
            }
        }
    }
    return (result, positive, negative)
}
