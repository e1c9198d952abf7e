import CLossKit

/// The result of ``multiBoxLoss(loc:conf:priors:truths:labels:classes:threshold:negPosRatio:variances:computeGradient:execution:)``.
public struct MultiBoxResult: Sendable, Equatable {
    /// Smooth L1 over positive priors, divided by the batch's positive count N.
    public var locLoss: Float
    /// Softmax CE over positives and mined negatives, divided by N.
    public var confLoss: Float
    /// d(locLoss + confLoss)/d loc, `[B, P, 4]` (nil if not requested).
    public var locGradient: [Float]?
    /// d(locLoss + confLoss)/d conf, `[B, P, C]` (nil if not requested).
    public var confGradient: [Float]?
    /// The class each prior was matched to, `[B, P]`: 0 background, else label + 1.
    public var confTarget: [Int]
}

/// Checks ground-truth boxes: finite, x1 <= x2, y1 <= y2; throws naming the first bad one.
func checkTruthBoxes(_ name: String, _ boxes: [Float]) throws {
    guard boxes.count % 4 == 0 else {
        throw LossKitError.invalidShape(argument: name, shape: [boxes.count], reason: "boxes are 4 values each")
    }
    // no array per box: a training step checks thousands of them
    for i in 0..<(boxes.count / 4) {
        let (x1, y1, x2, y2) = (boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3])
        if !(x1.isFinite && y1.isFinite && x2.isFinite && y2.isFinite) {
            throw LossKitError.invalidBox(argument: name, index: i, box: [x1, y1, x2, y2], reason: "non-finite coordinate")
        }
        if x2 < x1 || y2 < y1 {
            throw LossKitError.invalidBox(argument: name, index: i, box: [x1, y1, x2, y2], reason: "x2 < x1 or y2 < y1")
        }
    }
}

func checkPriors(_ priors: [Float]) throws -> Int {
    guard priors.count % 4 == 0, !priors.isEmpty else {
        throw LossKitError.invalidShape(argument: "priors", shape: [priors.count], reason: "priors are 4 values each (cx, cy, w, h), at least one")
    }
    for i in 0..<(priors.count / 4) {
        let (cx, cy, w, h) = (priors[4 * i], priors[4 * i + 1], priors[4 * i + 2], priors[4 * i + 3])
        if !(cx.isFinite && cy.isFinite && w.isFinite && h.isFinite) || w <= 0 || h <= 0 {
            throw LossKitError.invalidBox(argument: "priors", index: i, box: [cx, cy, w, h],
                                          reason: "priors need finite centres and w, h > 0")
        }
    }
    return priors.count / 4
}

func checkVariances(_ v: (Float, Float)) throws {
    try Check.positive("variances.0", v.0)
    try Check.positive("variances.1", v.1)
}

/// SSD box encoding (ssd.pytorch `encode`): matched ground-truth boxes in
/// corner form, relative to their priors `(cx, cy, w, h)`:
///
///     ((cx - pcx) / (v0 pw), (cy - pcy) / (v0 ph), log(w / pw) / v1, log(h / ph) / v1)
///
/// - Parameters: `matched` and `priors` hold n boxes each; variances default (0.1, 0.2).
/// - Throws: ``LossKitError/invalidBox(argument:index:box:reason:)`` for a matched box with
///   x2 < x1 or y2 < y1 (the box rule of every LossKit box input), or a prior without
///   finite centres and w, h > 0.
public func ssdEncode(matched: [Float], priors: [Float], variances: (Float, Float) = (0.1, 0.2),
                      execution: Execution = .default) throws -> [Float] {
    let n = try checkPriors(priors)
    try Check.sameCount("matched", matched.count, as: "priors", priors.count)
    try checkVariances(variances)
    var out = [Float](repeating: 0, count: 4 * n)
    if execution.backend == .portable {
        try checkBoxRule("matched", matched)
        return Portable.ssdEncode(matched, priors, variances)
    }
    let status = out.withUnsafeMutableBufferPointer { losskit_ssd_encode(matched, priors, n, variances.0, variances.1, $0.baseAddress) }
    try matched.withUnsafeBufferPointer { try checkBoxStatus(status, "ssdEncode", [(-1, "matched", $0, .xyxy)]) }
    return out
}

/// SSD box decoding (ssd.pytorch `decode`): predicted offsets back to corner-form boxes.
public func ssdDecode(loc: [Float], priors: [Float], variances: (Float, Float) = (0.1, 0.2),
                      execution: Execution = .default) throws -> [Float] {
    let n = try checkPriors(priors)
    try Check.sameCount("loc", loc.count, as: "priors", priors.count)
    try checkVariances(variances)
    if execution.backend == .portable { return Portable.ssdDecode(loc, priors, variances) }
    var out = [Float](repeating: 0, count: 4 * n)
    let status = out.withUnsafeMutableBufferPointer { losskit_ssd_decode(loc, priors, n, variances.0, variances.1, $0.baseAddress) }
    try checkStatus(status, "ssdDecode")
    return out
}

/// SSD's two-rule prior matching (ssd.pytorch `match`) for one image.
///
/// 1. Every ground truth claims its best prior (highest IoU, first index on
///    ties); when two claim the same prior, the later one keeps it.
/// 2. Every other prior takes its best ground truth (first on ties) if their
///    IoU is at least `threshold`.
/// 3. The rest are background.
///
/// The IoU is float32 torchvision `box_iou`'s, in its operation order, on
/// both backends: where two priors tie in exact arithmetic the rounding
/// decides, and LossKit picks the prior ssd.pytorch picks.
/// - Parameters:
///   - truths: ground-truth boxes, corner form (validated: finite, x1 <= x2, y1 <= y2).
///   - labels: one 0-based class per truth.
///   - priors: centre form `(cx, cy, w, h)`.
///   - threshold: the IoU at or above which a prior matches a ground truth (default 0.5).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: per prior, the matched truth index (-1 = background) and the
///   class target (0 = background, else label + 1).
public func ssdMatch(truths: [Float], labels: [Int], priors: [Float], threshold: Float = 0.5,
                     execution: Execution = .default) throws -> (matchedIndex: [Int], confTarget: [Int]) {
    let p = try checkPriors(priors)
    try checkTruthBoxes("truths", truths)
    try Check.sameCount("labels", labels.count, as: "truths / 4", truths.count / 4)
    if let i = labels.firstIndex(where: { $0 < 0 }) {
        throw LossKitError.labelOutOfRange(argument: "labels", index: i, label: labels[i], validRange: "0...")
    }
    try Check.finite("threshold", threshold)
    if execution.backend == .portable { return Portable.ssdMatch(truths, labels, priors, threshold) }
    var matched = [Int](repeating: 0, count: p), conf = [Int](repeating: 0, count: p)
    let status = labels.withUnsafeBufferPointer { l in
        matched.withUnsafeMutableBufferPointer { m in
            conf.withUnsafeMutableBufferPointer { c in
                l.withMemoryRebound(to: Int64.self) { l64 in
                    m.withMemoryRebound(to: Int64.self) { m64 in
                        c.withMemoryRebound(to: Int64.self) { c64 in
                            losskit_ssd_match(truths, l64.baseAddress, labels.count, priors, p, threshold, m64.baseAddress, c64.baseAddress)
                        }
                    }
                }
            }
        }
    }
    try checkStatus(status, "ssdMatch")
    return (matched, conf)
}

/// SSD's MultiBox loss (ssd.pytorch `MultiBoxLoss`) for a batch of B images.
///
/// Each image is matched to its own ground truths (``ssdMatch(truths:labels:priors:threshold:execution:)``,
/// any number, 0 allowed); then
///
///     locLoss  = sum over positive priors of SmoothL1(loc - encode(matched, prior)) / N     (beta 1)
///     confLoss = sum over positives and mined negatives of CE(conf, target) / N
///
/// where N is the batch's positive count and each image mines its
/// `min(ceil(negPosRatio * positives), P - 1)` hardest negatives, ranked by
/// their background CE (ties by prior index). The count is ssd.pytorch's
/// exactly: its `idx_rank < negpos_ratio * num_pos` compares with a float32
/// product and so keeps the ceiling for a fractional ratio (2.5 with 31
/// positives: 78 negatives, not 77). N = 0 gives 0 and zero gradients; an
/// image without ground truth has no positives, mines nothing and adds nothing.
/// - Parameters:
///   - loc: `[B, P, 4]` predicted offsets.
///   - conf: `[B, P, classes]` logits; class 0 is background.
///   - priors: `P` priors, centre form.
///   - truths: per image, its ground-truth boxes (corner form, 4 values each).
///   - labels: per image, 0-based object classes in `0..<classes - 1`.
///   - classes: the number of classes C (logits are `[rows, C]`, row-major).
///   - threshold: the IoU at or above which a prior matches a ground truth (default 0.5).
///   - negPosRatio: hard negatives per positive in each image (default 3).
///   - variances: SSD's encoding variances for the centre and the size (default 0.1, 0.2).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func multiBoxLoss(loc: [Float], conf: [Float], priors: [Float], truths: [[Float]], labels: [[Int]],
                         classes: Int, threshold: Float = 0.5, negPosRatio: Float = 3,
                         variances: (Float, Float) = (0.1, 0.2), computeGradient: Bool = true,
                         execution: Execution = .default) throws -> MultiBoxResult {
    try validateMultiBox(locCount: loc.count, confCount: conf.count, priors: priors, truths: truths, labels: labels,
                         classes: classes, threshold: threshold, negPosRatio: negPosRatio, variances: variances)
    let threads = try execution.validatedThreads()
    if execution.backend == .portable {
        return Portable.multiBox(loc, conf, priors, truths, labels, classes: classes, threshold: threshold,
                                 negPosRatio: negPosRatio, variances: variances, computeGradient: computeGradient)
    }
    var gLoc = [Float](repeating: 0, count: computeGradient ? loc.count : 0)
    var gConf = [Float](repeating: 0, count: computeGradient ? conf.count : 0)
    var target = [Int](repeating: 0, count: try Check.elementCount("confTarget", truths.count, priors.count / 4))
    let (locLoss, confLoss) = try loc.withUnsafeBufferPointer { l in
        try conf.withUnsafeBufferPointer { c in
            try gLoc.withUnsafeMutableBufferPointer { gl in
                try gConf.withUnsafeMutableBufferPointer { gc in
                    try target.withUnsafeMutableBufferPointer { t in
                        try runMultiBoxC(l, c, priors: priors, truths: truths, labels: labels, classes: classes,
                                         threshold: threshold, negPosRatio: negPosRatio, variances: variances,
                                         locGradient: computeGradient ? gl : nil, confGradient: computeGradient ? gc : nil,
                                         confTarget: t, threads: threads)
                    }
                }
            }
        }
    }
    return MultiBoxResult(locLoss: locLoss, confLoss: confLoss, locGradient: computeGradient ? gLoc : nil,
                          confGradient: computeGradient ? gConf : nil, confTarget: target)
}

/// ``multiBoxLoss(loc:conf:priors:truths:labels:classes:threshold:negPosRatio:variances:computeGradient:execution:)``
/// on the C backend into caller-owned gradient buffers (`[B, P, 4]` and
/// `[B, P, C]`, or nil to skip), copying nothing: what a training loop calls
/// every step.
/// - Returns: the localization and confidence losses.
public func multiBoxLoss(loc: UnsafeBufferPointer<Float>, conf: UnsafeBufferPointer<Float>, priors: [Float],
                         truths: [[Float]], labels: [[Int]], classes: Int, threshold: Float = 0.5, negPosRatio: Float = 3,
                         variances: (Float, Float) = (0.1, 0.2),
                         locGradient: UnsafeMutableBufferPointer<Float>?, confGradient: UnsafeMutableBufferPointer<Float>?,
                         threads: Int? = nil) throws -> (locLoss: Float, confLoss: Float) {
    try validateMultiBox(locCount: loc.count, confCount: conf.count, priors: priors, truths: truths, labels: labels,
                         classes: classes, threshold: threshold, negPosRatio: negPosRatio, variances: variances)
    try Check.output("locGradient", locGradient, loc.count)
    try Check.output("confGradient", confGradient, conf.count)
    // no matched targets asked for: the kernel keeps them in its own reused scratch
    return try runMultiBoxC(loc, conf, priors: priors, truths: truths, labels: labels, classes: classes, threshold: threshold,
                            negPosRatio: negPosRatio, variances: variances, locGradient: locGradient,
                            confGradient: confGradient, confTarget: nil, threads: Execution(threads: threads).validatedThreads())
}

/// Every check of the MultiBox front ends, naming the argument (and the first bad box).
private func validateMultiBox(locCount: Int, confCount: Int, priors: [Float], truths: [[Float]], labels: [[Int]],
                              classes: Int, threshold: Float, negPosRatio: Float, variances: (Float, Float)) throws {
    let p = try checkPriors(priors)
    let b = truths.count
    guard classes >= 2 else {
        throw LossKitError.invalidParameter(argument: "classes", value: "\(classes)", reason: "background plus at least one class")
    }
    try Check.sameCount("labels (images)", labels.count, as: "truths (images)", b)
    try Check.sameCount("loc", locCount, as: "[B, P, 4] = [\(b), \(p), 4]", try Check.elementCount("loc", b, p, 4))
    try Check.sameCount("conf", confCount, as: "[B, P, C] = [\(b), \(p), \(classes)]",
                        try Check.elementCount("conf", b, p, classes))
    for i in 0..<b {
        try checkTruthBoxes("truths[\(i)]", truths[i])
        try Check.sameCount("labels[\(i)]", labels[i].count, as: "truths[\(i)] / 4", truths[i].count / 4)
        if let j = labels[i].firstIndex(where: { $0 < 0 || $0 >= classes - 1 }) {
            throw LossKitError.labelOutOfRange(argument: "labels[\(i)]", index: j, label: labels[i][j], validRange: "0..<\(classes - 1)")
        }
    }
    try Check.finite("threshold", threshold)
    try Check.nonNegative("negPosRatio", negPosRatio)
    try checkVariances(variances)
}

/// The C call behind both front ends (arguments already validated).
private func runMultiBoxC(_ loc: UnsafeBufferPointer<Float>, _ conf: UnsafeBufferPointer<Float>, priors: [Float],
                          truths: [[Float]], labels: [[Int]], classes: Int, threshold: Float, negPosRatio: Float,
                          variances: (Float, Float), locGradient: UnsafeMutableBufferPointer<Float>?,
                          confGradient: UnsafeMutableBufferPointer<Float>?, confTarget: UnsafeMutableBufferPointer<Int>?,
                          threads: Int32) throws -> (Float, Float) {
    let flatTruths = truths.flatMap { $0 }, flatLabels = labels.flatMap { $0 }.map(Int64.init)
    let counts = truths.map { $0.count / 4 }
    var locLoss: Float = 0, confLoss: Float = 0
    func run(_ target: UnsafeMutablePointer<Int64>?) -> Int32 {
        losskit_multibox_loss(loc.baseAddress, conf.baseAddress, truths.count, priors.count / 4, classes, priors,
                              flatTruths, flatLabels, counts, threshold, negPosRatio, variances.0, variances.1,
                              &locLoss, &confLoss, locGradient?.baseAddress, confGradient?.baseAddress, target, threads)
    }
    let status = confTarget.map { t in t.withMemoryRebound(to: Int64.self) { run($0.baseAddress) } } ?? run(nil)
    try checkStatus(status, "multiBoxLoss")
    return (locLoss, confLoss)
}

/// Greedy non-maximum suppression, as `torchvision.ops.nms`: boxes in
/// decreasing score order (ties: lower index first; NaN scores last), each
/// kept box removing every later box whose IoU with it exceeds `iouThreshold`.
/// The IoU is torchvision's float32 one (same operation order), so near-ties
/// decide the same way.
/// - Returns: the kept indices, in decreasing score order.
/// - Throws: ``LossKitError/invalidBox(argument:index:box:reason:)`` for a box with
///   x2 < x1 or y2 < y1 (the box rule of every LossKit box input).
public func nonMaximumSuppression(boxes: [Float], scores: [Float], iouThreshold: Float,
                                  execution: Execution = .default) throws -> [Int] {
    guard boxes.count % 4 == 0 else {
        throw LossKitError.invalidShape(argument: "boxes", shape: [boxes.count], reason: "boxes are 4 values each")
    }
    try Check.sameCount("scores", scores.count, as: "boxes / 4", boxes.count / 4)
    try Check.parameter(!iouThreshold.isNaN, "iouThreshold", iouThreshold, "must not be NaN")
    if execution.backend == .portable {
        try checkBoxRule("boxes", boxes)
        return Portable.nms(boxes, scores, iouThreshold)
    }
    var keep = [Int64](repeating: 0, count: scores.count)
    var kept = 0
    let status = losskit_nms(boxes, scores, scores.count, iouThreshold, &keep, &kept)
    try boxes.withUnsafeBufferPointer { try checkBoxStatus(status, "nonMaximumSuppression", [(-1, "boxes", $0, .xyxy)]) }
    return keep[0..<kept].map(Int.init)
}
