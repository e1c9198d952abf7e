import LossKit

/// The anchors TriHard keeps in a batch with these labels: those with
/// another row of their label and a row of another label. Computed from
/// labels alone, it is the count every rank can derive from the gathered
/// labels; it equals the kernels' own count of kept anchors for any feature
/// values, NaN included (a NaN distance still selects a positive and a
/// negative: NaN wins the comparisons), so only the loss becomes NaN.
public func triHardKeptAnchors(labels: [Int]) -> Int {
    var perLabel: [Int: Int] = [:]
    for l in labels { perLabel[l, default: 0] += 1 }
    guard perLabel.count >= 2 else { return 0 }
    return perLabel.values.reduce(0) { $0 + ($1 >= 2 ? $1 : 0) }
}

/// Data-parallel TriHard: the batch-hard triplet loss of the batch formed by
/// every rank's rows, each rank holding and differentiating only its own.
///
/// Each rank passes its rows (`features` `[n_r, dimension]`, `labels` n_r;
/// ranks may hold different counts, 0 included, and an identity's rows may
/// sit on several ranks). The call:
/// 1. gathers every rank's row count (`MPI_Allgather`), then every rank's
///    features and labels (`MPI_Allgatherv`), in rank order: the global
///    batch of N = sum n_r rows, this rank's rows at offset
///    `n_0 + ... + n_(r-1)`;
/// 2. runs the reference-set TriHard with this rank's rows as the queries
///    and the gathered batch as the references, this rank's rows marked as
///    themselves (``ReferenceSet/init(features:labels:queriesAt:queryCount:)``),
///    so every anchor mines its hardest positive and negative over the whole
///    global batch;
/// 3. reduces with `.mean` over the anchors kept on every rank together
///    (``triHardKeptAnchors(labels:)`` of the gathered labels: an anchor is
///    kept when the global batch has another row of its label and a row of
///    another label), so each rank's value and gradient are its share of the
///    global mean;
/// 4. sends each rank the gradients that the other ranks' anchors put on its
///    rows (their reference gradients, sliced per owner) and adds them, in
///    rank order (``Communicator/reduceScatterSum(_:counts:)``), to its query
///    gradient.
///
/// The value returned on every rank is the global mean: the ranks' shares
/// (each its anchors' loss sum over the global kept count, a Float) gathered
/// and added in double in rank order, then rounded to Float - the same bits on
/// every rank and in every run. The gradient is d value / d this rank's rows.
///
/// Against one process's ``triHardLoss(features:labels:dimension:metric:margin:mining:reduction:computeGradient:execution:)``
/// on the concatenated batch (`.mean`) the same pairs are mined (the same
/// distances, ties to the lowest global index); value and gradient agree to a
/// few float ulps, not bitwise, because the sums are associated differently
/// (per-rank partial sums, then across ranks). MPI/README.md gives the
/// measured error and the check's tolerance.
///
/// **Peer.** pytorch-metric-learning's `DistributedLossWrapper` with a
/// `BatchHardMiner`-driven `TripletMarginLoss` (or the `TripletLoss` of
/// reid-strong-baseline run under DDP with the same wrapper). By default pml
/// computes the loss of the whole gathered batch on every rank (each rank
/// repeats all N anchors' mining) and gets the exact gradient for its rows;
/// with `efficient=True` each rank mines only its own anchors against the
/// gathered batch, as here, but the other ranks' rows are detached copies,
/// so the gradient their anchors put on this rank's rows is dropped and the
/// result is not the one-process gradient. LossKit mines only this rank's
/// anchors and returns those dropped terms to their owners, so it is both:
/// 1/R of the mining work and the one-process gradient. pml also puts the
/// local rows first in the gathered batch, so ties between equally hard
/// candidates can resolve differently on different ranks; here the batch is
/// in rank order on every rank, and ties go to the lowest index of that
/// one batch, as in one process. The value here is the global mean itself;
/// pml returns `loss * world_size` and relies on DDP's averaging of the
/// weight gradients.
///
/// Every rank must call it together (a collective). A bad argument on one
/// rank (shapes, a dimension that differs between ranks, a margin out of
/// range, a kernel error) makes every rank throw: that rank its own error,
/// the others ``MPIError/remoteFailure(ranks:operation:)``; no rank is left
/// waiting in a collective.
/// - Parameters:
///   - features: this rank's rows, `[n_r, dimension]`.
///   - labels: their n_r identity labels (the same identity on any rank).
///   - dimension: d >= 1, the same on every rank.
///   - metric: the distance (default Euclidean).
///   - margin: the hinge (default `.hinge(0.3)`, reid-strong-baseline's) or soft margin.
///   - mining: hardest (default) or semi-hard negatives, over the global batch.
///   - normalize: L2-normalize every row first (reid-strong-baseline's
///     `normalize_feature`); the gradient is with respect to the rows passed.
///   - communicator: the ranks that share the batch.
///   - execution: the backend and thread cap of this rank's kernel call.
/// - Returns: the global mean loss and d loss / d `features`, `[n_r, dimension]`.
public func distributedTriHardLoss(features: [Float], labels: [Int], dimension: Int,
                                   metric: DistanceMetric = .euclidean, margin: TripletMargin = .hinge(0.3),
                                   mining: NegativeMining = .hardest, normalize: Bool = false,
                                   communicator: Communicator, execution: Execution = .default)
    throws -> (value: Float, gradient: [Float]) {
    let comm = communicator
    // 1. Local checks; the verdict travels with the row counts, so that every rank throws or none.
    var localError: Error?
    do {
        guard dimension >= 1 else {
            throw LossKitError.invalidParameter(argument: "dimension", value: "\(dimension)", reason: "must be >= 1")
        }
        guard features.count % dimension == 0 else {
            throw LossKitError.shapeMismatch(argument: "features", expected: "[n, \(dimension)]",
                                             actual: "\(features.count) values")
        }
        guard labels.count == features.count / dimension else {
            throw LossKitError.shapeMismatch(argument: "labels", expected: "\(features.count / dimension) (rows of features)",
                                             actual: "\(labels.count)")
        }
        guard margin.value.isFinite, margin.value >= 0 else {
            throw LossKitError.invalidParameter(argument: "margin", value: "\(margin.value)", reason: "must be finite and >= 0")
        }
        _ = try mpiCount("features", features.count)
    } catch {
        localError = error
    }
    let header = try comm.allGather([Int64(labels.count), Int64(dimension), localError == nil ? 1 : 0])
    let failed = (0..<comm.size).filter { header[3 * $0 + 2] == 0 }
    if let localError { throw localError }
    if !failed.isEmpty { throw MPIError.remoteFailure(ranks: failed, operation: "distributedTriHardLoss (arguments)") }
    for r in 0..<comm.size where header[3 * r + 1] != Int64(dimension) {
        throw LossKitError.shapeMismatch(argument: "dimension", expected: "the same on every rank (\(dimension) here)",
                                         actual: "\(header[3 * r + 1]) on rank \(r)")
    }
    let rows = (0..<comm.size).map { Int(header[3 * $0]) }
    let offset = rows[..<comm.rank].reduce(0, +)
    let total = rows.reduce(0, +)

    // The global batch, in rank order.
    let allFeatures = try comm.allGatherV(features, counts: rows.map { $0 * dimension })
    let allLabels = try comm.allGatherV(labels.map { Int64($0) }, counts: rows).map { Int($0) }
    let kept = triHardKeptAnchors(labels: allLabels)

    // 2-3. This rank's anchors against the global batch, .mean over the global kept count.
    var share: Float = 0
    var queryGradient = [Float](repeating: 0, count: features.count)
    var referenceGradient = [Float](repeating: 0, count: total * dimension)
    var kernelError: Error?
    if !labels.isEmpty {
        do {
            let result = try triHardLoss(
                queries: features, labels: labels,
                references: ReferenceSet(features: allFeatures, labels: allLabels, queriesAt: offset,
                                         queryCount: labels.count),
                dimension: dimension, metric: metric, margin: margin, mining: mining, normalize: normalize,
                reduction: .mean, meanCount: kept > 0 ? kept : nil, computeGradient: true, execution: execution)
            guard let qg = result.queryGradient, let rg = result.referenceGradient else {
                throw LossKitError.kernelFailure(function: "distributedTriHardLoss", status: -1,
                                                 message: "triHardLoss returned no gradient")
            }
            share = result.value
            queryGradient = qg
            referenceGradient = rg
        } catch {
            kernelError = error
        }
    }
    let shares = try comm.allGather([Double(share), kernelError == nil ? 1 : 0])
    let kernelFailed = (0..<comm.size).filter { shares[2 * $0 + 1] == 0 }
    if let kernelError { throw kernelError }
    if !kernelFailed.isEmpty { throw MPIError.remoteFailure(ranks: kernelFailed, operation: "distributedTriHardLoss (kernel)") }
    var value = 0.0
    for r in 0..<comm.size { value += shares[2 * r] }

    // 4. The other ranks' anchors' gradients on this rank's rows, summed in rank order.
    let incoming = try comm.reduceScatterSum(referenceGradient, counts: rows.map { $0 * dimension })
    for i in queryGradient.indices { queryGradient[i] += incoming[i] }
    return (Float(value), queryGradient)
}

extension TripletMargin {
    var value: Float {
        switch self { case let .hinge(m), let .soft(m): m }
    }
}
