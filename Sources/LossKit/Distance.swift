import CLossKit

/// The metric of a distance matrix or metric-learning loss.
public enum DistanceMetric: Sendable, Hashable, CaseIterable {
    /// `sqrt(max(|x - y|^2, 1e-12))`: the clamp of reid-strong-baseline keeps
    /// the gradient finite for identical vectors.
    case euclidean
    /// `|x - y|^2`.
    case squaredEuclidean
    /// `1 - x.y / (max(|x|, 1e-8) max(|y|, 1e-8))`.
    case cosine

    var c: losskit_metric {
        switch self {
        case .euclidean: return LOSSKIT_METRIC_EUCLIDEAN
        case .squaredEuclidean: return LOSSKIT_METRIC_SQEUCLIDEAN
        case .cosine: return LOSSKIT_METRIC_COSINE
        }
    }
}

/// The `[n, m]` distance matrix between feature sets `x` `[n, d]` and `y`
/// `[m, d]` (row-major), like `torch.cdist` but accurate for near-duplicates.
///
/// The Euclidean forms run as `|x|^2 + |y|^2 - 2 x.y` through OpenBLAS SGEMM
/// (clamped at 0); where `d^2` is small against `|x|^2 + |y|^2` that form
/// cancels, so those pairs are recomputed directly in double, and every entry
/// is within 1e-4 relative of a float64 reference (torch.cdist's matmul path
/// is not, for vectors that nearly coincide). Cosine distance near 0 is
/// recomputed the same way, from the normalized difference.
/// - Parameters:
///   - x: n x dimension values; y: m x dimension values.
///   - dimension: the feature dimension d (>= 1).
/// - Returns: n x m values.
public func pairwiseDistance(_ x: [Float], _ y: [Float], dimension: Int, metric: DistanceMetric = .euclidean,
                             execution: Execution = .default) throws -> [Float] {
    guard dimension >= 1 else {
        throw LossKitError.invalidParameter(argument: "dimension", value: "\(dimension)", reason: "must be >= 1")
    }
    guard x.count % dimension == 0 else {
        throw LossKitError.shapeMismatch(argument: "x", expected: "[n, \(dimension)]", actual: "\(x.count) values")
    }
    guard y.count % dimension == 0 else {
        throw LossKitError.shapeMismatch(argument: "y", expected: "[m, \(dimension)] (the dimension of x)", actual: "\(y.count) values")
    }
    let n = x.count / dimension, m = y.count / dimension
    let threads = try execution.validatedThreads()
    if execution.backend == .portable { return Portable.pairwiseDistance(x, y, n: n, m: m, d: dimension, metric: metric) }
    var out = [Float](repeating: 0, count: n * m)
    let status = out.withUnsafeMutableBufferPointer { o in
        losskit_pairwise_distance(metric.c, x, n, y, m, dimension, o.baseAddress, threads)
    }
    try checkStatus(status, "pairwiseDistance")
    return out
}
