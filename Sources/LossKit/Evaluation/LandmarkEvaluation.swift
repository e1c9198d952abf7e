import CLossKit

/// The length an NME divides by, from the target landmarks of each sample.
///
/// Conventions differ between benchmarks; name the landmarks explicitly:
/// - 300W (68 points, 0-based): inter-ocular = the outer eye corners,
///   `.interOcular(left: 36, right: 45)`; inter-pupil = the eye centres, the
///   means of points 36-41 and 42-47: `.interPupil(left: 36, right: 42, points: 6)`.
/// - WFLW (98 points): inter-ocular = outer corners 60 and 72 (mmpose's
///   WFLW NME); inter-pupil = the pupil points `.interPupil(left: 96, right: 97, points: 1)`.
/// - COFW (29 points) in mmpose: points 8 and 9 (its "inter-pupil" pair).
/// mmpose's `NME` metric with `norm_mode='keypoint_distance'` takes the
/// distance between two keypoints, which is `.interOcular` here.
public enum LandmarkNormalization: Sendable, Hashable {
    /// `|t[left] - t[right]|`: the distance between two landmarks.
    case interOcular(left: Int, right: Int)
    /// The distance between the means of landmarks `left ..< left + points`
    /// and `right ..< right + points` (the eye centres).
    case interPupil(left: Int, right: Int, points: Int)
    /// The diagonal `sqrt(w^2 + h^2)` of the target landmarks' bounding box.
    case boundingBoxDiagonal
    /// `sqrt(w h)` of the target landmarks' bounding box (the "face size" of
    /// the Menpo / AFLW benchmarks).
    case boundingBoxArea

    var c: (losskit_landmark_norm, Int, Int, Int) {
        switch self {
        case let .interOcular(l, r): return (LOSSKIT_NORM_INTER_OCULAR, l, r, 1)
        case let .interPupil(l, r, p): return (LOSSKIT_NORM_INTER_PUPIL, l, r, p)
        case .boundingBoxDiagonal: return (LOSSKIT_NORM_BBOX_DIAGONAL, 0, 0, 1)
        case .boundingBoxArea: return (LOSSKIT_NORM_BBOX_AREA, 0, 0, 1)
        }
    }

    func validate(landmarks k: Int) throws {
        let (_, l, r, p) = c
        switch self {
        case .interOcular, .interPupil:
            guard p >= 1 else {
                throw LossKitError.invalidParameter(argument: "points", value: "\(p)", reason: "must be >= 1")
            }
            for (name, v) in [("left", l), ("right", r)] where v < 0 || v > k - p {
                throw LossKitError.invalidParameter(argument: name, value: "\(v)",
                                                    reason: "landmarks \(v)..<\(v + p) must lie in 0..<\(k)")
            }
        case .boundingBoxDiagonal, .boundingBoxArea: break
        }
    }
}

/// NME per sample and its summary at a threshold.
public struct LandmarkEvaluation: Sendable, Equatable {
    /// Each sample's NME (+infinity where its normalizer is 0).
    public var perSample: [Double]
    /// The mean NME.
    public var meanNME: Double
    /// The threshold of ``auc`` and ``failureRate``.
    public var threshold: Double
    /// `mean(max(0, t - NME)) / t`: the area under the CED up to t, over t.
    public var auc: Double
    /// The share of samples with NME > t (NaN NMEs count as failures).
    public var failureRate: Double
}

/// Landmark NME, AUC and failure rate, as the Wing loss paper, 300W and WFLW report them.
///
/// NME of a sample = mean over its K landmarks of `|pred - target|`
/// (Euclidean, in Double) / its normalizer (``LandmarkNormalization``, from
/// the target). AUC at threshold t = `mean(max(0, t - NME)) / t` (exactly
/// the area under the CED curve up to t, divided by t); failure rate = the
/// share of NME > t. 300W reports t = 0.08, WFLW t = 0.1. A zero normalizer
/// gives an infinite NME (a failure); NaN in a sample gives it a NaN NME
/// (a failure, adding 0 to the AUC, NaN to the mean).
/// - Parameters:
///   - predictions: `[n, k, 2]` (x, y) row-major.
///   - targets: `[n, k, 2]`.
///   - k: the landmarks per sample, k (>= 1); the argument label is `landmarks:`.
///   - normalization: how each sample's error is normalized.
///   - threshold: the AUC / failure threshold (default 0.1, WFLW's).
///   - execution: the backend (`.c` or `.portable`).
public func evaluateLandmarks(predictions: [Float], targets: [Float], landmarks k: Int,
                              normalization: LandmarkNormalization, threshold: Double = 0.1,
                              execution: Execution = .default) throws -> LandmarkEvaluation {
    guard k >= 1 else { throw LossKitError.invalidParameter(argument: "landmarks", value: "\(k)", reason: "must be >= 1") }
    let per = try Check.elementCount("targets", k, 2)
    guard targets.count % per == 0 else {
        throw LossKitError.shapeMismatch(argument: "targets", expected: "[n, \(k), 2]", actual: "\(targets.count) values")
    }
    try Check.sameCount("predictions", predictions.count, as: "targets", targets.count)
    guard threshold > 0, threshold.isFinite else {
        throw LossKitError.invalidParameter(argument: "threshold", value: "\(threshold)", reason: "must be finite and > 0")
    }
    try normalization.validate(landmarks: k)
    let n = targets.count / per
    _ = try execution.validatedThreads()
    if execution.backend == .portable {
        return Portable.evaluateLandmarks(predictions, targets, n: n, k: k, normalization: normalization,
                                          threshold: threshold)
    }
    let (norm, l, r, p) = normalization.c
    var nme = [Double](repeating: 0, count: n)
    var status = nme.withUnsafeMutableBufferPointer { out in
        losskit_landmark_nme(predictions, targets, n, k, norm, l, r, p, out.baseAddress)
    }
    try checkStatus(status, "evaluateLandmarks")
    var mean = 0.0, auc = 0.0, failure = 0.0
    status = losskit_landmark_summary(nme, n, threshold, &mean, &auc, &failure)
    try checkStatus(status, "evaluateLandmarks")
    return LandmarkEvaluation(perSample: nme, meanNME: mean, threshold: threshold, auc: auc, failureRate: failure)
}

/// The cumulative error distribution: at `points` thresholds evenly spaced
/// over `[0, threshold]`, the share of samples with NME <= that threshold.
/// - Returns: (thresholds, shares), `points` (>= 2) values each.
public func cumulativeErrorDistribution(_ nme: [Double], threshold: Double, points: Int = 101,
                                        execution: Execution = .default) throws -> (thresholds: [Double], shares: [Double]) {
    guard threshold > 0, threshold.isFinite else {
        throw LossKitError.invalidParameter(argument: "threshold", value: "\(threshold)", reason: "must be finite and > 0")
    }
    guard points >= 2, points <= 1 << 20 else {
        throw LossKitError.invalidParameter(argument: "points", value: "\(points)", reason: "must be in 2...1048576")
    }
    let thresholds = (0..<points).map { threshold * Double($0) / Double(points - 1) }
    if execution.backend == .portable {
        return (thresholds, Portable.ced(nme, thresholds: thresholds))
    }
    var shares = [Double](repeating: 0, count: points)
    let status = shares.withUnsafeMutableBufferPointer { losskit_landmark_ced(nme, nme.count, threshold, points, $0.baseAddress) }
    try checkStatus(status, "cumulativeErrorDistribution")
    return (thresholds, shares)
}
