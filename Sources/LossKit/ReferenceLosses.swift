import CLossKit

/// TriHard of queries against a reference set: anchors are the `q` query
/// rows, positives and negatives come from the `m` reference rows - a
/// gallery, a ``CrossBatchMemory``, or the batch gathered from every process
/// of a data-parallel step.
///
/// For each query `a`, over the references that are not `a` itself (see
/// *Self marking*):
///
///     p = argmax_j  D(a, r_j)   over references of a's label
///     n = argmin_j  D(a, r_j)   over references of other labels   (.hardest)
///     z = D(a, p) - D(a, n)
///     loss_a = max(z + margin, 0)        margin: .hinge(margin)
///              softplus(z + margin)      margin: .soft(margin)
///
/// With ``NegativeMining/semiHard`` the negative is the closest one farther
/// than `p` (FaceNet's rule), else the closest. Ties take the lowest
/// reference index; a NaN distance wins a max or a min (as `torch.max` in
/// reid-strong-baseline), so NaN in gives NaN out. A query with no positive
/// or no negative among the references is skipped: loss 0, index -1.
///
/// **Self marking.** When the queries are also among the references (the
/// batch passed as both, or a memory that holds it), `references.queryIndex`
/// says which reference row is which query (``ReferenceSet/batch(_:labels:)``
/// and ``ReferenceSet/init(features:labels:queriesAt:queryCount:)`` build
/// it); a query never takes itself as a candidate. A reference that merely
/// equals a query, unmarked, is another sample with the same features.
///
/// **pytorch-metric-learning.** `loss(embeddings, labels, ref_emb=R,
/// ref_labels=L)` with a `BatchHardMiner` is this function with
/// `references: ReferenceSet(features: R, labels: L)` (no marks: pml compares
/// every pair when `ref_emb` is given); without `ref_emb` pml uses the batch
/// and drops the diagonal, which is ``ReferenceSet/batch(_:labels:)``.
/// `smooth_loss=True` is `.soft(margin)`. Where LossKit differs: pml's
/// distance defaults to `LpDistance(normalize_embeddings=True)` (pass
/// `normalize: true` for that), its triplet margin defaults to 0.05 (here
/// 0.3, reid-strong-baseline's), and its `AvgNonZeroReducer` averages over
/// the triplets whose loss is above 0, where `.mean` here averages over every
/// kept query (reid-strong-baseline's `MarginRankingLoss` mean).
///
/// **Normalize.** `normalize: true` L2-normalizes every query and reference
/// row first, `x / max(|x|, 1e-12)` (`torch.nn.functional.normalize`), and
/// chains the gradients through it: reid-strong-baseline's
/// `normalize_feature=True`, whose own `normalize` divides by `|x| + 1e-12`
/// instead (the two differ only for rows of norm near 1e-12). The gradients
/// returned are with respect to the rows passed in.
///
/// **Data parallel.** Each process passes its own batch as the queries and
/// the batch gathered from every process as the references, marked at its
/// own offset. For the gradient of the *global* mean, pass as `meanCount`
/// the number of queries kept on all processes together (the sum of each
/// rank's kept count - the queries whose `hardestPositive` is not -1): every
/// rank's loss and gradients are then its share, and the shares add up to
/// the global loss and gradient. Without it `.mean` divides by the queries
/// kept here.
///
/// The C path never holds the `q x m` distance matrix: blocks of queries go
/// through SGEMM against the references (scratch O(block x m)), and the
/// mined pairs' losses and gradients are recomputed exactly in double; the
/// result is bitwise the same at any thread count.
/// - Parameters:
///   - queries: `[q, dimension]` anchor rows.
///   - labels: q identity labels of the queries.
///   - references: the candidates, `[m, dimension]` with m labels and
///     optional self marks (``ReferenceSet``). A reference marked as query
///     `i` must carry query `i`'s label.
///   - dimension: the feature dimension d (>= 1).
///   - metric: the distance (``DistanceMetric``; default Euclidean,
///     `sqrt(max(d^2, 1e-12))` as reid-strong-baseline).
///   - margin: ``TripletMargin/hinge(_:)`` (default 0.3) or
///     ``TripletMargin/soft(_:)``; the margin finite and >= 0.
///   - mining: how each query's negative is picked (``NegativeMining``; default the hardest).
///   - normalize: L2-normalize the rows first (default false).
///   - reduction: `.none` (per query, skipped ones 0; the value is their
///     sum), `.sum` or `.mean` (default); the gradients are of the reduced value.
///   - meanCount: for `.mean`, divide by this (>= 1) instead of the queries
///     kept here; ignored by `.sum` and `.none`.
///   - computeGradient: `false` skips the backward work (both gradients nil).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: the loss, `queryGradient` `[q, d]`, `referenceGradient`
///   `[m, d]`, and each query's chosen positive and negative reference index.
/// - Throws: ``LossKitError`` for a dimension below 1, queries not `[q, d]`,
///   label counts that do not match, a self mark outside `-1 ..< q` or whose
///   label is not its query's, a negative or non-finite margin, `meanCount`
///   below 1, or a bad thread count.
public func triHardLoss(queries: [Float], labels: [Int], references: ReferenceSet, dimension: Int,
                        metric: DistanceMetric = .euclidean, margin: TripletMargin = .hinge(0.3),
                        mining: NegativeMining = .hardest, normalize: Bool = false, reduction: Reduction = .mean,
                        meanCount: Int? = nil, computeGradient: Bool = true,
                        execution: Execution = .default) throws -> ReferenceLossResult {
    let q = try checkTuples([("queries", queries)], dimension: dimension)
    try Check.sameCount("labels", labels.count, as: "rows of queries", q)
    let m = try references.validated(dimension: dimension, queryCount: q)
    try checkSelfMarks(references, queryLabels: labels)
    try margin.validated()
    if let meanCount, meanCount < 1 {
        throw LossKitError.invalidParameter(argument: "meanCount", value: "\(meanCount)",
                                            reason: "must be >= 1 (nil divides by the queries kept here)")
    }
    let queryValues = try Check.elementCount("queries gradient", q, dimension)
    let referenceValues = try Check.elementCount("references gradient", m, dimension)
    if execution.backend == .portable {
        return Portable.triHardReference(queries: queries, labels: labels, references: references, d: dimension,
                                         metric: metric, margin: margin, mining: mining, normalize: normalize,
                                         reduction: reduction, meanCount: meanCount, computeGradient: computeGradient,
                                         threads: execution.resolvedThreads)
    }
    let threads = try execution.validatedThreads()
    var gq = [Float](repeating: 0, count: computeGradient ? queryValues : 0)
    var gr = [Float](repeating: 0, count: computeGradient ? referenceValues : 0)
    var positive = [Int](repeating: -1, count: q), negative = [Int](repeating: -1, count: q)
    var perQuery = [Float](repeating: 0, count: max(q, 1))
    var value: Float = 0
    let status = withInt64(labels) { ql in
        withInt64(references.labels) { rl in
            withInt64(references.queryIndex) { marks in
                withMutableInt64(&positive) { p in
                    withMutableInt64(&negative) { n in
                        gq.withUnsafeMutableBufferPointer { gq in
                            gr.withUnsafeMutableBufferPointer { gr in
                                perQuery.withUnsafeMutableBufferPointer { pq in
                                    withUnsafeMutablePointer(to: &value) { v in
                                        losskit_trihard_reference(
                                            metric.c, queries, ql, q, references.features, rl, marks, m, dimension,
                                            margin.margin, margin.isSoft, normalize ? 1 : 0, mining.c, reduction.c,
                                            meanCount ?? 0, reduction == .none ? pq.baseAddress : v,
                                            computeGradient ? gq.baseAddress : nil,
                                            computeGradient ? gr.baseAddress : nil, p, n, threads)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    try checkStatus(status, "triHardLoss")
    let rows = Array(perQuery[0..<q])
    return ReferenceLossResult(value: reduction == .none ? rows.withUnsafeBufferPointer { orderedSum($0) } : value,
                               unreduced: reduction == .none ? rows : nil,
                               queryGradient: computeGradient ? gq : nil,
                               referenceGradient: computeGradient ? gr : nil,
                               hardestPositive: positive, hardestNegative: negative)
}

/// A reference marked as query `i` is that query: it must carry its label.
func checkSelfMarks(_ references: ReferenceSet, queryLabels: [Int]) throws {
    guard let marks = references.queryIndex else { return }
    for (j, i) in marks.enumerated() where i >= 0 && references.labels[j] != queryLabels[i] {
        throw LossKitError.shapeMismatch(argument: "references.labels[\(j)]",
                                         expected: "\(queryLabels[i]) (the label of query \(i), which reference \(j) is marked as)",
                                         actual: "\(references.labels[j])")
    }
}

/// Int labels or indices as the C ABI's int64_t (nil stays NULL).
func withInt64<R>(_ values: [Int]?, _ body: (UnsafePointer<Int64>?) -> R) -> R {
    guard let values else { return body(nil) }
    return values.withUnsafeBufferPointer { b in b.withMemoryRebound(to: Int64.self) { body($0.baseAddress) } }
}

/// A mutable Int array as an int64_t output buffer.
func withMutableInt64<R>(_ values: inout [Int], _ body: (UnsafeMutablePointer<Int64>?) -> R) -> R {
    values.withUnsafeMutableBufferPointer { b in b.withMemoryRebound(to: Int64.self) { body($0.baseAddress) } }
}
