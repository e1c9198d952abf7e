import CLossKit

/// The hinge of ``contrastiveLoss(queries:labels:references:dimension:metric:positiveMargin:negativeMargin:hinge:normalize:reduction:computeGradient:execution:)``.
public enum ContrastiveHinge: Sendable, Hashable {
    /// `max(D - positiveMargin, 0)` and `max(negativeMargin - D, 0)`: power 1,
    /// pytorch-metric-learning's `ContrastiveLoss`.
    case plain
    /// The same hinges squared: power 2, Hadsell, Chopra and LeCun (2006)
    /// with `positiveMargin` 0 (`D^2` and `max(margin - D, 0)^2`).
    case squared

    var power: Int32 { self == .plain ? 1 : 2 }
}

/// `[Int]` as the `int64_t *` the C ABI takes (Int is 64 bits on every platform LossKit builds for).
private func withInt64Pointer<R>(_ values: [Int]?, _ body: (UnsafePointer<Int64>?) throws -> R) rethrows -> R {
    guard let values else { return try body(nil) }
    return try values.withUnsafeBufferPointer { b in
        try b.withMemoryRebound(to: Int64.self) { try body($0.baseAddress) }
    }
}

/// Rows of `[count, dimension]` features: the count (throws unless `values` is a whole number of rows).
private func featureRows(_ name: String, _ values: [Float], dimension: Int) throws -> Int {
    guard values.count % dimension == 0 else {
        throw LossKitError.shapeMismatch(argument: name, expected: "[n, \(dimension)]", actual: "\(values.count) values")
    }
    return values.count / dimension
}

/// Every index in `0 ..< rows` of its set, else a typed error naming the argument.
private func checkTupleIndices(_ sets: [(String, [Int], Int, String)]) throws {
    for (name, indices, rows, set) in sets {
        for (k, i) in indices.enumerated() where i < 0 || i >= rows {
            throw LossKitError.labelOutOfRange(argument: name, index: k, label: i, validRange: "0..<\(rows) (rows of \(set))")
        }
    }
}

/// Runs an indexed-tuple kernel: `call` gets the loss output (t values for
/// `.none`, else one), the two gradient outputs (nil when not requested) and
/// the thread count, and returns the status.
private func runIndexedTuples(count t: Int, queryValues: Int, referenceValues: Int, reduction: Reduction,
                              computeGradient: Bool, execution: Execution, name: String,
                              _ call: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>?,
                                       UnsafeMutablePointer<Float>?, Int32) -> Int32) throws -> ReferenceLossResult {
    let threads = try execution.validatedThreads()
    var gq = [Float](repeating: 0, count: computeGradient ? queryValues : 0)
    var gr = [Float](repeating: 0, count: computeGradient ? referenceValues : 0)
    var loss = [Float](repeating: 0, count: reduction == .none ? max(t, 1) : 1)
    let status = gq.withUnsafeMutableBufferPointer { gq in
        gr.withUnsafeMutableBufferPointer { gr in
            loss.withUnsafeMutableBufferPointer { l in
                call(l.baseAddress!, computeGradient ? gq.baseAddress : nil, computeGradient ? gr.baseAddress : nil, threads)
            }
        }
    }
    try checkStatus(status, name)
    let perTuple = reduction == .none ? Array(loss[0..<t]) : nil
    return ReferenceLossResult(value: perTuple.map { p in p.withUnsafeBufferPointer { orderedSum($0) } } ?? loss[0],
                               unreduced: perTuple, queryGradient: computeGradient ? gq : nil,
                               referenceGradient: computeGradient ? gr : nil)
}

/// Contrastive loss of queries against a ``ReferenceSet``, over every
/// (query, reference) pair but a query's pairs with itself (the references
/// marked as it in ``ReferenceSet/queryIndex``):
///
///     same label:       max(D - positiveMargin, 0)^p
///     different label:  max(negativeMargin - D, 0)^p
///
/// with `p` 1 for ``ContrastiveHinge/plain`` (pytorch-metric-learning's
/// `ContrastiveLoss(pos_margin, neg_margin)` with `ref_emb` / `ref_labels`)
/// and 2 for ``ContrastiveHinge/squared`` (Hadsell et al. 2006 when
/// `positiveMargin` is 0). A hinge at exactly 0 has gradient 0.
///
/// Reductions (``PairReduction``): `.sum`; `.mean` over the counted pairs;
/// `.meanOfNonzero` (default), pytorch-metric-learning's `AvgNonZeroReducer`:
/// the positive pairs' sum over the number of positive pairs above 0, plus
/// the negative pairs' likewise (none above 0: that half is 0). Where LossKit
/// differs: a NaN pair loss makes the value NaN (pml's `losses > 0` filter
/// drops it), and the Euclidean distance is `sqrt(max(d^2, 1e-12))` (pml
/// runs `torch.cdist`); pml's default `LpDistance` normalizes the embeddings,
/// which is `normalize: true` here.
///
/// The C path streams blocks of queries through the distance kernel against
/// every reference (the q x m matrix never exists: scratch about 2 x 4 Mi
/// floats, plus an m x dimension gradient block when there is more than one
/// block); `.meanOfNonzero` with a gradient runs the distances twice (the
/// first pass counts the pairs above 0). Bitwise the same at any thread count.
/// - Parameters:
///   - queries: `[q, dimension]` features (anchors).
///   - labels: q identity labels of the queries.
///   - references: the rows pairs are formed with (``ReferenceSet``; ``ReferenceSet/batch(_:labels:)``
///     for the batch against itself).
///   - dimension: the feature dimension d (>= 1).
///   - metric: the distance (``DistanceMetric``; default Euclidean).
///   - positiveMargin: default 0; finite and >= 0.
///   - negativeMargin: default 1; finite and >= 0.
///   - hinge: power 1 (default, pml) or 2 (Hadsell).
///   - normalize: L2-normalize every row first (`F.normalize`, eps 1e-12), the
///     gradients chained through it to the rows passed in.
///   - reduction: see above; default `.meanOfNonzero`.
///   - computeGradient: `false` skips the backward work.
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: the value, ``ReferenceLossResult/queryGradient`` `[q, dimension]` and
///   ``ReferenceLossResult/referenceGradient`` `[m, dimension]`.
public func contrastiveLoss(queries: [Float], labels: [Int], references: ReferenceSet, dimension: Int,
                            metric: DistanceMetric = .euclidean, positiveMargin: Float = 0, negativeMargin: Float = 1,
                            hinge: ContrastiveHinge = .plain, normalize: Bool = false,
                            reduction: PairReduction = .meanOfNonzero, computeGradient: Bool = true,
                            execution: Execution = .default) throws -> ReferenceLossResult {
    try checkDimension(dimension)
    let q = try featureRows("queries", queries, dimension: dimension)
    try Check.sameCount("labels", labels.count, as: "rows of queries", q)
    let m = try references.validated(dimension: dimension, queryCount: q)
    _ = try Check.elementCount("query x reference pairs", q, m)
    try Check.nonNegative("positiveMargin", positiveMargin)
    try Check.nonNegative("negativeMargin", negativeMargin)
    if execution.backend == .portable {
        return Portable.contrastiveReference(queries, labels, references, d: dimension, metric: metric,
                                             margins: (positiveMargin, negativeMargin), power: Int(hinge.power),
                                             normalize: normalize, reduction: reduction, computeGradient: computeGradient)
    }
    let threads = try execution.validatedThreads()
    var gq = [Float](repeating: 0, count: computeGradient ? queries.count : 0)
    var gr = [Float](repeating: 0, count: computeGradient ? references.features.count : 0)
    var value: Float = 0
    let status = withInt64Pointer(labels) { ql in
        withInt64Pointer(references.labels) { rl in
            withInt64Pointer(references.queryIndex) { marks in
                gq.withUnsafeMutableBufferPointer { gq in
                    gr.withUnsafeMutableBufferPointer { gr in
                        losskit_contrastive_reference(metric.c, queries, ql, q, references.features, rl, marks, m, dimension,
                                                      positiveMargin, negativeMargin, hinge.power, normalize ? 1 : 0,
                                                      reduction.c, &value, computeGradient ? gq.baseAddress : nil,
                                                      computeGradient ? gr.baseAddress : nil, threads)
                    }
                }
            }
        }
    }
    try checkStatus(status, "contrastiveLoss")
    return ReferenceLossResult(value: value, queryGradient: computeGradient ? gq : nil,
                               referenceGradient: computeGradient ? gr : nil)
}

/// Triplet loss over triplets given by index: anchor `anchors[k]` is a row of
/// `queries`, its positive `positives[k]` and negative `negatives[k]` rows of
/// `references` (a miner's output, a memory, or the gathered batch):
///
///     z = D(a, p) - D(a, n) + margin
///     loss = max(z, 0)              (TripletMargin.hinge(margin))
///          = softplus(z)            (TripletMargin.soft(margin): pml's smooth_loss)
///          (+ D(a, p) with improved: Cheng et al. 2016)
///
/// `swap: true` replaces D(a, n) by min(D(a, n), D(p, n)), PyTorch's
/// `TripletMarginLoss(swap=True)` (the distance swap of Balntas et al. 2016);
/// a tie splits the gradient in halves, as `torch.min`'s backward does.
/// Where LossKit differs from `TripletMarginLoss`: its Euclidean distance is
/// `sqrt(max(d^2, 1e-12))`, not `|a - p + 1e-6|`; margin 0 is valid (PyTorch
/// refuses margin <= 0); a negative margin throws.
///
/// `.mean` divides by the number of triplets; no triplets give 0 and a zero
/// gradient (a miner that found none). The C path computes each triplet's
/// terms in fixed chunks, then every gradient row gathers the terms of the
/// triplets that touch it, in triplet order: bitwise the same at any thread
/// count. Scratch: about 170 bytes and 4 indices per triplet (plus normalized
/// copies of both sets with `normalize`).
/// - Parameters:
///   - queries: `[q, dimension]` anchor features.
///   - references: `[m, dimension]` positive and negative features.
///   - dimension: the feature dimension d (>= 1).
///   - anchors: t indices into the queries.
///   - positives: t indices into the references.
///   - negatives: t indices into the references.
///   - metric: the distance (``DistanceMetric``; default Euclidean).
///   - margin: ``TripletMargin``; default `.hinge(0.3)` (reid-strong-baseline).
///   - improved: adds D(a, p) to each triplet's loss.
///   - swap: the distance swap (see above).
///   - normalize: L2-normalize every row first (`F.normalize`), gradients chained to the rows passed in.
///   - reduction: `.none` (per triplet in ``ReferenceLossResult/unreduced``), `.sum` or `.mean` (default).
///   - computeGradient: `false` skips the backward work.
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func tripletLoss(queries: [Float], references: [Float], dimension: Int, anchors: [Int], positives: [Int],
                        negatives: [Int], metric: DistanceMetric = .euclidean, margin: TripletMargin = .hinge(0.3),
                        improved: Bool = false, swap: Bool = false, normalize: Bool = false,
                        reduction: Reduction = .mean, computeGradient: Bool = true,
                        execution: Execution = .default) throws -> ReferenceLossResult {
    try checkDimension(dimension)
    let q = try featureRows("queries", queries, dimension: dimension)
    let m = try featureRows("references", references, dimension: dimension)
    let t = anchors.count
    try Check.sameCount("positives", positives.count, as: "anchors", t)
    try Check.sameCount("negatives", negatives.count, as: "anchors", t)
    try checkTupleIndices([("anchors", anchors, q, "queries"), ("positives", positives, m, "references"),
                           ("negatives", negatives, m, "references")])
    try margin.validated()
    if execution.backend == .portable {
        return Portable.tripletReference(queries, references, d: dimension, anchors: anchors, positives: positives,
                                         negatives: negatives, metric: metric, margin: margin, improved: improved,
                                         swap: swap, normalize: normalize, reduction: reduction,
                                         computeGradient: computeGradient)
    }
    return try runIndexedTuples(count: t, queryValues: queries.count, referenceValues: references.count,
                                reduction: reduction, computeGradient: computeGradient, execution: execution,
                                name: "tripletLoss") { loss, gq, gr, threads in
        losskit_triplet_reference(metric.c, queries, q, references, m, dimension, anchors.map(Int64.init),
                                  positives.map(Int64.init), negatives.map(Int64.init), t, margin.margin, margin.isSoft,
                                  improved ? 1 : 0, swap ? 1 : 0, normalize ? 1 : 0, reduction.c, loss, gq, gr, threads)
    }
}

/// Quadruplet loss (Chen et al. 2017) over quadruplets given by index: the
/// anchor `anchors[k]` is a row of `queries`; `positives[k]`, `negatives1[k]`
/// and `negatives2[k]` are rows of `references` (n2 of an identity other
/// than n1's):
///
///     max(D(a, p) - D(a, n1) + margin1, 0) + max(D(a, p) - D(n1, n2) + margin2, 0)
///
/// As ``quadrupletLoss(anchor:positive:negative1:negative2:dimension:metric:margin1:margin2:reduction:computeGradient:execution:)``
/// on the gathered rows, with gradients wrt both sets; margins default 1 and
/// 0.5, finite and >= 0. No quadruplets give 0. The C path runs as the
/// indexed triplets do (per-tuple terms in fixed chunks, then each gradient
/// row gathers its terms in tuple order): bitwise the same at any thread count.
/// - Parameters:
///   - queries: `[q, dimension]` anchor features.
///   - references: `[m, dimension]` positive and negative features.
///   - dimension: the feature dimension d (>= 1).
///   - anchors: t indices into the queries.
///   - positives: t indices into the references.
///   - negatives1: t indices into the references.
///   - negatives2: t indices into the references.
///   - metric: the distance (``DistanceMetric``; default Euclidean).
///   - margin1: default 1.
///   - margin2: default 0.5.
///   - normalize: L2-normalize every row first (`F.normalize`), gradients chained to the rows passed in.
///   - reduction: `.none` (per quadruplet in ``ReferenceLossResult/unreduced``), `.sum` or `.mean` (default).
///   - computeGradient: `false` skips the backward work.
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func quadrupletLoss(queries: [Float], references: [Float], dimension: Int, anchors: [Int], positives: [Int],
                           negatives1: [Int], negatives2: [Int], metric: DistanceMetric = .euclidean, margin1: Float = 1,
                           margin2: Float = 0.5, normalize: Bool = false, reduction: Reduction = .mean,
                           computeGradient: Bool = true, execution: Execution = .default) throws -> ReferenceLossResult {
    try checkDimension(dimension)
    let q = try featureRows("queries", queries, dimension: dimension)
    let m = try featureRows("references", references, dimension: dimension)
    let t = anchors.count
    try Check.sameCount("positives", positives.count, as: "anchors", t)
    try Check.sameCount("negatives1", negatives1.count, as: "anchors", t)
    try Check.sameCount("negatives2", negatives2.count, as: "anchors", t)
    try checkTupleIndices([("anchors", anchors, q, "queries"), ("positives", positives, m, "references"),
                           ("negatives1", negatives1, m, "references"), ("negatives2", negatives2, m, "references")])
    try Check.nonNegative("margin1", margin1)
    try Check.nonNegative("margin2", margin2)
    if execution.backend == .portable {
        return Portable.quadrupletReference(queries, references, d: dimension, indices: (anchors, positives, negatives1, negatives2),
                                            metric: metric, margins: (margin1, margin2), normalize: normalize,
                                            reduction: reduction, computeGradient: computeGradient)
    }
    return try runIndexedTuples(count: t, queryValues: queries.count, referenceValues: references.count,
                                reduction: reduction, computeGradient: computeGradient, execution: execution,
                                name: "quadrupletLoss") { loss, gq, gr, threads in
        losskit_quadruplet_reference(metric.c, queries, q, references, m, dimension, anchors.map(Int64.init),
                                     positives.map(Int64.init), negatives1.map(Int64.init), negatives2.map(Int64.init), t,
                                     margin1, margin2, normalize ? 1 : 0, reduction.c, loss, gq, gr, threads)
    }
}
