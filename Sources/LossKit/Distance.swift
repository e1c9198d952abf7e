import CLossKit

/// The metric of a distance matrix or metric-learning loss.
public enum DistanceMetric: Sendable, Hashable, CaseIterable {
    /// `sqrt(max(|x - y|^2, 1e-12))`: the clamp of reid-strong-baseline keeps
    /// the gradient finite for identical vectors.
    case euclidean
    /// `|x - y|^2`.
    case squaredEuclidean
    /// `1 - x.y / (max(|x|, 1e-8) max(|y|, 1e-8))`, the 1e-8 of
    /// `torch.nn.functional.cosine_similarity`; below 0.1 (near-parallel)
    /// computed as `|x/|x| - y/|y||^2 / 2`, equal for unit vectors and free of
    /// the cancellation of `1 - cos`.
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
///
/// At any feature scale: `|x|^2` overflows float past |x| ~ 2e19 (torch.cdist
/// gives NaN for features of magnitude 3e20 one apart) and underflows below
/// ~1e-19. When a row's squared norm (double, computed anyway) is outside
/// `[2^-100, 2^100]`, the call runs SGEMM on copies of the rows scaled by
/// exact powers of two and finishes in double, so entries stay within 1e-4 of
/// float64 (a true value past `Float.greatestFiniteMagnitude` gives +inf).
/// Inputs inside that range take the usual path, unchanged.
///
/// `dimension` 0 throws ``LossKitError/invalidShape(argument:shape:reason:)``
/// (`torch.cdist` returns zeros for it; so does nothing else here).
/// - Parameters:
///   - x: n x dimension values.
///   - dimension: the feature dimension d (>= 1).
///   - y: m x dimension values.
///   - metric: the distance (``DistanceMetric``; default Euclidean).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: n x m values.
public func pairwiseDistance(_ x: [Float], _ y: [Float], dimension: Int, metric: DistanceMetric = .euclidean,
                             execution: Execution = .default) throws -> [Float] {
    let (_, _, count) = try distanceShapes(x.count, y.count, dimension: dimension)
    // uninitialized: the kernel writes every entry, and a large matrix is not zeroed first for nothing
    return try [Float](unsafeUninitializedCapacity: count) { out, initialized in
        try x.withUnsafeBufferPointer { x in
            try y.withUnsafeBufferPointer { y in
                try pairwiseDistance(x, y, dimension: dimension, metric: metric, into: out, execution: execution)
            }
        }
        initialized = count
    }
}

/// ``pairwiseDistance(_:_:dimension:metric:execution:)`` into a caller-owned
/// buffer of n x m values, copying nothing (a trainer that reuses the buffer
/// saves the allocation and the page faults of a fresh matrix every step).
public func pairwiseDistance(_ x: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>, dimension: Int,
                             metric: DistanceMetric = .euclidean, into out: UnsafeMutableBufferPointer<Float>,
                             execution: Execution = .default) throws {
    let (n, m, count) = try distanceShapes(x.count, y.count, dimension: dimension)
    try Check.output("out", out, count)
    let threads = try execution.validatedThreads()
    if execution.backend == .portable {
        let values = Portable.pairwiseDistance(Array(x), Array(y), n: n, m: m, d: dimension, metric: metric)
        _ = out.initialize(from: values)
        return
    }
    let status = losskit_pairwise_distance(metric.c, x.baseAddress, n, y.baseAddress, m, dimension, out.baseAddress, threads)
    try checkStatus(status, "pairwiseDistance")
}

/// The backward pass of ``pairwiseDistance(_:_:dimension:metric:execution:)``:
/// the gradients of `sum_ij upstream[i, j] * distances[i, j]` with respect to
/// `x` and `y`, as `torch.cdist(x, y).backward(upstream)` (Euclidean) gives
/// them.
///
/// Per pair, `d/dx_i` is `(x_i - y_j) / D` (Euclidean), `2 (x_i - y_j)`
/// (squared) or `-y_j / (|x_i| |y_j|) + c x_i / |x_i|^2` (cosine, `c` the
/// cosine). At the clamps of ``DistanceMetric`` no gradient flows: not where
/// `d^2 <= 1e-12` (so identical vectors get 0, not NaN), and not through a
/// norm floored at `1e-8`. NaN in `upstream` or in the features gives NaN.
///
/// The C path runs two SGEMMs (`upstream`-weighted `y` and `x`) in blocks of
/// 512 rows plus a diagonal term; pairs that nearly coincide, where that form
/// cancels as the forward's does, are computed directly in double from the
/// features, so near-duplicates keep their accuracy. Bitwise identical at
/// any thread count. For 4096 x 4096 pairs of dimension 512 it takes ~2.3x
/// the forward's time at 1 thread. At any feature scale: the Euclidean forms'
/// weights (`upstream / D`, `upstream`) stay normal floats however large or
/// small the features; the cosine's (`upstream / (|x| |y|)`) do not, so
/// features outside the float-safe range of the forward (a squared norm
/// outside `[2^-100, 2^100]`) take every cosine pair directly in double:
/// exact, and O(n m d) scalar work.
///
/// Under a Mahalanobis metric, differentiate through its factor: with `A`
/// from ``mahalanobisFactor(_:dimension:)``, `x' = A x` row by row, the
/// Euclidean gradient of the transformed features `g'` maps back as `g = g' A`.
/// - Parameters:
///   - x: n x dimension values.
///   - y: m x dimension values.
///   - dimension: the feature dimension d (>= 1).
///   - metric: the distance; the same as the forward's.
///   - distances: the forward's n x m output for these `x`, `y` and `metric`
///     (the Euclidean and cosine gradients reuse it).
///   - upstream: n x m, the gradient of the loss with respect to `distances`.
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: the gradient with respect to `x` (n x dimension) and to `y`
///   (m x dimension).
public func pairwiseDistanceGradient(_ x: [Float], _ y: [Float], dimension: Int, metric: DistanceMetric = .euclidean,
                                     distances: [Float], upstream: [Float],
                                     execution: Execution = .default) throws -> (x: [Float], y: [Float]) {
    let (n, m, count) = try distanceShapes(x.count, y.count, dimension: dimension)
    guard distances.count == count else {
        throw LossKitError.shapeMismatch(argument: "distances", expected: "[\(n), \(m)] (x's rows by y's)",
                                         actual: "\(distances.count) values")
    }
    guard upstream.count == count else {
        throw LossKitError.shapeMismatch(argument: "upstream", expected: "[\(n), \(m)] (x's rows by y's)",
                                         actual: "\(upstream.count) values")
    }
    let threads = try execution.validatedThreads()
    if execution.backend == .portable {
        return Portable.pairwiseDistanceGradient(x, y, n: n, m: m, d: dimension, metric: metric, upstream: upstream)
    }
    var gx = [Float](repeating: 0, count: x.count), gy = [Float](repeating: 0, count: y.count)
    let status = gx.withUnsafeMutableBufferPointer { gx in
        gy.withUnsafeMutableBufferPointer { gy in
            losskit_pairwise_distance_backward(metric.c, x, n, y, m, dimension, distances, upstream, gx.baseAddress,
                                               gy.baseAddress, threads)
        }
    }
    try checkStatus(status, "pairwiseDistanceGradient")
    return (gx, gy)
}

/// The feature dimension every distance and metric loss takes: d >= 1 (no
/// feature, no distance: LossKit rejects d = 0, where `torch.cdist` returns
/// zeros; the C ABI returns the argument's status) and at most `Int32.max`
/// (BLAS's index type).
func checkDimension(_ dimension: Int) throws {
    guard dimension >= 1, dimension <= Int(Int32.max) else {
        throw LossKitError.invalidShape(argument: "dimension", shape: [dimension],
                                        reason: "feature rows need 1 ... \(Int32.max) values")
    }
}

/// n, m and n x m (checked) of feature sets with `xCount` and `yCount` values of `dimension`.
func distanceShapes(_ xCount: Int, _ yCount: Int, dimension: Int) throws -> (n: Int, m: Int, count: Int) {
    try checkDimension(dimension)
    guard xCount % dimension == 0 else {
        throw LossKitError.shapeMismatch(argument: "x", expected: "[n, \(dimension)]", actual: "\(xCount) values")
    }
    guard yCount % dimension == 0 else {
        throw LossKitError.shapeMismatch(argument: "y", expected: "[m, \(dimension)] (the dimension of x)", actual: "\(yCount) values")
    }
    let n = xCount / dimension, m = yCount / dimension
    return (n, m, try Check.elementCount("distances", n, m))
}

/// The matrix of a Mahalanobis metric `d(x, y) = sqrt((x - y)^T M (x - y))`.
public enum MahalanobisMatrix: Sendable, Hashable {
    /// `M` itself, `[d, d]` row-major, symmetric positive semi-definite (an
    /// inverse covariance, or a learned metric). LossKit factors it once, in
    /// double, as `M = A^T A`: Cholesky (LAPACKE `dpotrf`) when it is
    /// positive definite, else an eigendecomposition (`dsyevd`) that drops
    /// the null directions. Asymmetry beyond `1e-5 max|M|`, a non-finite
    /// entry or an eigenvalue below `-d * Float.ulpOfOne * max|eigenvalue|`
    /// throws ``LossKitError/notPositiveSemidefinite(argument:reason:)``.
    case full([Float])
    /// The factor `A` `[rows, d]` with `M = A^T A`, as metric-learning papers
    /// write it (`rows < d` is a low-rank projection). Not checked further:
    /// every such `M` is PSD.
    case factor([Float], rows: Int)
}

/// The `[n, m]` Mahalanobis distance matrix `sqrt((x_i - y_j)^T M (x_i - y_j))`
/// between `x` `[n, d]` and `y` `[m, d]` (row-major), or its square.
///
/// The features are transformed once, `x' = A x` with `M = A^T A`, and the
/// Euclidean kernel of ``pairwiseDistance(_:_:dimension:metric:execution:)``
/// runs on them (SGEMM, with its `1e-12` clamp under the square root). Pairs
/// whose SGEMM form cancels are recomputed in double from the *original*
/// features, so near-duplicates stay within 1e-4 relative of a float64
/// `sqrt(diff^T M diff)`, the reference scipy and PyTorch formulas give.
/// Transformed features outside the float-safe range go through the
/// rescaled path of ``pairwiseDistance(_:_:dimension:metric:execution:)``;
/// the transform `A x` itself is in float, so it must stay finite there
/// (|A x| below ~3e38).
/// - Parameters:
///   - x: n x dimension values.
///   - dimension: the feature dimension d (>= 1).
///   - matrix: `M` or its factor `A` (see ``MahalanobisMatrix``).
///   - squared: return `(x - y)^T M (x - y)` instead of its square root.
///   - y: m x dimension values.
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: n x m values.
public func mahalanobisDistance(_ x: [Float], _ y: [Float], dimension: Int, matrix: MahalanobisMatrix,
                                squared: Bool = false, execution: Execution = .default) throws -> [Float] {
    let (n, m, count) = try distanceShapes(x.count, y.count, dimension: dimension)
    let (values, factorRows) = try validatedMahalanobis(matrix, dimension: dimension)
    let threads = try execution.validatedThreads()
    if execution.backend == .portable {
        return try Portable.mahalanobisDistance(x, y, n: n, m: m, d: dimension, matrix: values, factorRows: factorRows,
                                                squared: squared)
    }
    var out = [Float](repeating: 0, count: count)
    let status = out.withUnsafeMutableBufferPointer { o in
        losskit_mahalanobis_distance(squared ? LOSSKIT_METRIC_SQEUCLIDEAN : LOSSKIT_METRIC_EUCLIDEAN, x, n, y, m,
                                     dimension, values, factorRows, o.baseAddress, threads)
    }
    if status == LOSSKIT_ERR_NOT_PSD { throw notPSD() }
    try checkStatus(status, "mahalanobisDistance")
    return out
}

/// The factor `A` of a symmetric positive semi-definite `M` `[d, d]`, with
/// `M = A^T A`, as ``mahalanobisDistance(_:_:dimension:matrix:squared:execution:)``
/// computes it: `rows` is the rank LossKit kept (`d` for a positive-definite
/// `M`). Transform features once with it (`x' = A x`) to train any loss
/// of this package under the Mahalanobis metric.
/// - Returns: `factor`, `rows x d` values, and `rows`.
public func mahalanobisFactor(_ matrix: [Float], dimension: Int) throws -> (factor: [Float], rows: Int) {
    try checkDimension(dimension)
    _ = try validatedMahalanobis(.full(matrix), dimension: dimension)
    var factor = [Float](repeating: 0, count: matrix.count) // d x d, as validated
    var rank = 0
    let status = factor.withUnsafeMutableBufferPointer { f in
        losskit_mahalanobis_factor(matrix, dimension, f.baseAddress, &rank)
    }
    if status == LOSSKIT_ERR_NOT_PSD { throw notPSD() }
    try checkStatus(status, "mahalanobisFactor")
    return (Array(factor.prefix(rank * dimension)), rank)
}

private func notPSD() -> LossKitError {
    .notPositiveSemidefinite(argument: "matrix", reason: "it has an eigenvalue below -d * Float.ulpOfOne * max|eigenvalue|")
}

/// Checks shape, finiteness and symmetry (what names an index), and returns
/// the values with the C kernel's `factor_rows` (0 for a full `M`).
func validatedMahalanobis(_ matrix: MahalanobisMatrix, dimension d: Int) throws -> ([Float], Int) {
    switch matrix {
    case let .factor(a, rows):
        guard rows >= 1 else {
            throw LossKitError.invalidParameter(argument: "matrix.rows", value: "\(rows)", reason: "must be >= 1")
        }
        guard a.count == (try Check.elementCount("matrix", rows, d)) else {
            throw LossKitError.shapeMismatch(argument: "matrix", expected: "factor [\(rows), \(d)]", actual: "\(a.count) values")
        }
        return (a, rows)
    case let .full(m):
        guard m.count == (try Check.elementCount("matrix", d, d)) else {
            throw LossKitError.shapeMismatch(argument: "matrix", expected: "[\(d), \(d)]", actual: "\(m.count) values")
        }
        if let bad = m.firstIndex(where: { !$0.isFinite }) {
            throw LossKitError.notPositiveSemidefinite(argument: "matrix",
                                                       reason: "M[\(bad / d)][\(bad % d)] = \(m[bad]) is not finite")
        }
        let tolerance = 1e-5 * Double(m.lazy.map { abs($0) }.max() ?? 0)
        for i in 0..<d {
            for j in (i + 1)..<d where abs(Double(m[i * d + j]) - Double(m[j * d + i])) > tolerance {
                throw LossKitError.notPositiveSemidefinite(
                    argument: "matrix", reason: "not symmetric: M[\(i)][\(j)] = \(m[i * d + j]), M[\(j)][\(i)] = \(m[j * d + i])")
            }
        }
        return (m, 0)
    }
}
