import CLossKit

/// The result of ``cocoEvaluate(groundTruth:detections:execution:)``: pycocotools'
/// `COCOeval.stats` and the arrays they are means of.
public struct COCOEvaluation: Sendable, Equatable {
    /// The names of ``stats``, in `COCOeval.summarize()`'s order.
    public static let statNames = ["AP", "AP50", "AP75", "APs", "APm", "APl",
                                   "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    /// The 12 summary numbers (-1 where pycocotools prints -1: no ground truth in that area range).
    public var stats: [Double]
    /// pycocotools' `eval['precision']`, row-major [10 IoU thresholds, 101 recall points,
    /// categories, 4 area ranges, 3 maxDets]; -1 where a category has no ground truth in the range.
    public var precision: [Double]
    /// pycocotools' `eval['recall']`, row-major [10, categories, 4, 3].
    public var recall: [Double]
    /// The category ids of the K axis, sorted ascending (as pycocotools' `params.catIds`).
    public var categoryIds: [Int]

    public var ap: Double { stats[0] }
    public var ap50: Double { stats[1] }
    public var ap75: Double { stats[2] }

    /// A category's AP (IoU .50:.95, area all, 100 detections): the mean of its precision
    /// entries > -1, or -1 (the per-class AP detectron-style tools print).
    public func averagePrecision(categoryId: Int) -> Double? {
        guard let k = categoryIds.firstIndex(of: categoryId) else { return nil }
        let K = categoryIds.count
        var sum = 0.0, count = 0
        for t in 0..<10 { for r in 0..<101 {
            let v = precision[(((t * 101 + r) * K + k) * 4 + 0) * 3 + 2]
            if v > -1 { sum += v; count += 1 }
        } }
        return count > 0 ? sum / Double(count) : -1
    }
}

/// VOC's two AP definitions.
public enum VOCMetric: Sendable, Hashable, CaseIterable {
    /// VOC2007's 11-point AP: the mean of the highest precision at recall >= 0, 0.1, ..., 1.
    case voc07
    /// VOC2010 and later: the area under the monotone precision envelope.
    case voc2010
}

/// The result of ``vocEvaluate(groundTruth:detections:metric:iouThreshold:plusOne:execution:)``.
public struct VOCEvaluation: Sendable, Equatable {
    /// The mean of ``averagePrecisions`` over the categories that have a non-difficult
    /// ground truth (NaN when none has).
    public var mAP: Double
    /// The categories, sorted by id.
    public var categories: [COCOGroundTruth.Category]
    /// Per category (same order): its AP, or -1 when it has no non-difficult ground truth.
    public var averagePrecisions: [Double]
}

/// COCO bbox evaluation with pycocotools' exact semantics: `COCOeval(gt, gt.loadRes(dt),
/// "bbox")`, `evaluate()`, `accumulate()`, `summarize()`.
///
/// Per image and category the detections are taken by descending score (ties in file
/// order: pycocotools' mergesort), the first 100 kept, and matched greedily against the
/// ground truths at each IoU threshold .50:.05:.95: a detection takes the unmatched ground
/// truth of highest IoU >= the threshold (the later one on ties), regular ground truths
/// before ignored ones. IoU is maskApi's `bbIou` in double; for a crowd ground truth it is
/// the intersection over the *detection's* area, and a crowd can absorb any number of
/// detections. A ground truth is ignored when it is a crowd or its `area` field lies outside
/// the area range; an unmatched detection is ignored when its w h lies outside it (ranges
/// all [0, 1e10], small [0, 32²], medium [32², 96²], large [96², 1e10], closed at both
/// ends). Precision at the 101 recall points 0:.01:1 comes from the monotone envelope of the
/// category's precision-recall curve over all images (detections sorted by score, ties by
/// image id then rank in the image); AR is the recall reached. Each of the 12 numbers is
/// the mean of the entries > -1 (-1 when none: no ground truth in that range).
///
/// Where LossKit deliberately differs from pycocotools:
/// - pycocotools records a match by annotation id and tests `id > 0`, so a ground truth with
///   `"id": 0` is never counted as matched (its detection becomes a false positive). Here
///   matches are recorded by position: every ground truth counts.
/// - pycocotools silently drops ground truths of images missing from `images` and
///   detections of unknown categories; here both are errors (as detections of unknown
///   images are in pycocotools).
///
/// Runs per category in parallel (`execution.threads`); identical results at any count.
/// - Throws: ``LossKitError`` naming the first bad annotation or detection (unknown image
///   or category id, negative or non-finite box size or area, non-finite score).
public func cocoEvaluate(groundTruth: COCOGroundTruth, detections: COCODetections,
                         execution: Execution = .default) throws -> COCOEvaluation {
    let data = try DetectionEvalData(groundTruth, detections)
    if execution.backend == .portable {
        var result = PortableDetectionAP.coco(data, threads: execution.resolvedThreads)
        result.categoryIds = data.categoryIds
        return result
    }
    let threads = try execution.validatedThreads()
    let K = data.categoryIds.count
    var stats = [Double](repeating: 0, count: 12)
    var precision = [Double](repeating: -1, count: try Check.elementCount("precision", 10, 101, K, 4, 3))
    var recall = [Double](repeating: -1, count: try Check.elementCount("recall", 10, K, 4, 3))
    let status = data.withCBoxes { gt, dt in
        stats.withUnsafeMutableBufferPointer { s in
            precision.withUnsafeMutableBufferPointer { p in
                recall.withUnsafeMutableBufferPointer { r in
                    losskit_coco_evaluate(gt, dt, data.imageIds.count, K, s.baseAddress, p.baseAddress, r.baseAddress, threads)
                }
            }
        }
    }
    try checkEvalStatus(status, "losskit_coco_evaluate")
    return COCOEvaluation(stats: stats, precision: precision, recall: recall, categoryIds: data.categoryIds)
}

/// PASCAL VOC AP per category from COCO-format files, as ssd.pytorch's `voc_eval` /
/// `voc_ap` (itself py-faster-rcnn's): per category, detections over all images by
/// descending score; each takes the ground truth of its image with the highest IoU (the
/// first on ties); IoU > `iouThreshold` on a difficult ground truth (`"difficult": 1`):
/// ignored; on a ground truth not yet taken: true positive; otherwise false positive.
/// Recall divides by the non-difficult ground truths; precision by max(tp + fp, eps).
///
/// Conventions (and where they differ from the peer):
/// - Corners are (x, y, x + w, y + h). `plusOne: false` (the default) computes the IoU as
///   ssd.pytorch's `voc_eval` does, without the +1; `plusOne: true` adds 1 to every width
///   and height (the VOC devkit's and py-faster-rcnn's inclusive pixels). ssd.pytorch also
///   shifts its ground truth by -1 when reading the XML and its detections by +1 when
///   writing them; taking both files as given, LossKit applies neither shift.
/// - Score ties keep file order (ssd.pytorch's `np.argsort` is not stable: its tie order
///   is unspecified).
/// - A category with ground truth and no detection has AP 0 (ssd.pytorch returns -1 and
///   averages it into the mean); a category without non-difficult ground truth has AP -1
///   and is left out of the mAP (ssd.pytorch divides by zero there).
/// - `iscrowd` is not read: VOC has only the difficult flag.
public func vocEvaluate(groundTruth: COCOGroundTruth, detections: COCODetections, metric: VOCMetric = .voc2010,
                        iouThreshold: Double = 0.5, plusOne: Bool = false,
                        execution: Execution = .default) throws -> VOCEvaluation {
    guard iouThreshold >= 0, iouThreshold <= 1 else {
        throw LossKitError.invalidParameter(argument: "iouThreshold", value: "\(iouThreshold)", reason: "must be in [0, 1]")
    }
    let data = try DetectionEvalData(groundTruth, detections)
    let categories = data.categoryIds.map { id in data.categoryNames[id].map { COCOGroundTruth.Category(id: id, name: $0) }! }
    if execution.backend == .portable {
        let ap = PortableDetectionAP.voc(data, metric: metric, iouThreshold: iouThreshold, plusOne: plusOne,
                                         threads: execution.resolvedThreads)
        return VOCEvaluation(mAP: PortableDetectionAP.meanAP(ap), categories: categories, averagePrecisions: ap)
    }
    let threads = try execution.validatedThreads()
    var ap = [Double](repeating: 0, count: categories.count)
    var mean = 0.0
    let status = data.withCBoxes(difficultFlags: true) { gt, dt in
        ap.withUnsafeMutableBufferPointer { a in
            losskit_voc_evaluate(gt, dt, data.imageIds.count, categories.count, iouThreshold,
                                 metric == .voc07 ? 1 : 0, plusOne ? 1 : 0, a.baseAddress, &mean, threads)
        }
    }
    try checkEvalStatus(status, "losskit_voc_evaluate")
    return VOCEvaluation(mAP: mean, categories: categories, averagePrecisions: ap)
}

private func checkEvalStatus(_ status: Int32, _ function: String) throws {
    guard status == LOSSKIT_OK else {
        throw LossKitError.kernelFailure(function: function, status: status,
                                         message: String(cString: losskit_status_string(status)))
    }
}

/// Both files flattened and checked: ids mapped to the ranks of the sorted unique ids.
struct DetectionEvalData {
    var imageIds: [Int] = [], categoryIds: [Int] = []
    var categoryNames: [Int: String] = [:]
    var gtBoxes: [Double] = [], gtAreas: [Double] = [], gtCrowd: [UInt8] = [], gtDifficult: [UInt8] = []
    var gtImages: [Int64] = [], gtCategories: [Int64] = []
    var dtBoxes: [Double] = [], dtScores: [Double] = [], dtImages: [Int64] = [], dtCategories: [Int64] = []

    var gtCount: Int { gtAreas.count }
    var dtCount: Int { dtScores.count }

    init(_ gt: COCOGroundTruth, _ dt: COCODetections) throws {
        imageIds = Array(Set(gt.imageIds)).sorted()
        for c in gt.categories { categoryNames[c.id] = c.name }
        categoryIds = categoryNames.keys.sorted()
        var imageRank: [Int: Int64] = [:], categoryRank: [Int: Int64] = [:]
        for (i, id) in imageIds.enumerated() { imageRank[id] = Int64(i) }
        for (k, id) in categoryIds.enumerated() { categoryRank[id] = Int64(k) }
        func check(_ box: COCOBox, _ name: @autoclosure () -> String) throws {
            guard box.x.isFinite, box.y.isFinite, box.width.isFinite, box.height.isFinite,
                  box.width >= 0, box.height >= 0 else {
                throw LossKitError.invalidParameter(argument: name(), value: "[\(box.x), \(box.y), \(box.width), \(box.height)]",
                                                    reason: "a bbox needs finite coordinates and width, height >= 0")
            }
        }
        func rank(_ table: [Int: Int64], _ id: Int, _ name: @autoclosure () -> String, _ what: String) throws -> Int64 {
            guard let r = table[id] else {
                throw LossKitError.invalidParameter(argument: name(), value: "\(id)", reason: "not among the ground truth's \(what) ids")
            }
            return r
        }
        gtBoxes.reserveCapacity(4 * gt.annotations.count)
        for (i, a) in gt.annotations.enumerated() {
            try check(a.bbox, "annotations[\(i)].bbox")
            guard a.area.isFinite, a.area >= 0 else {
                throw LossKitError.invalidParameter(argument: "annotations[\(i)].area", value: "\(a.area)", reason: "must be finite and >= 0")
            }
            gtImages.append(try rank(imageRank, a.imageId, "annotations[\(i)].image_id", "image"))
            gtCategories.append(try rank(categoryRank, a.categoryId, "annotations[\(i)].category_id", "category"))
            gtBoxes.append(a.bbox.x); gtBoxes.append(a.bbox.y); gtBoxes.append(a.bbox.width); gtBoxes.append(a.bbox.height)
            gtAreas.append(a.area)
            gtCrowd.append(a.isCrowd ? 1 : 0)
            gtDifficult.append(a.isDifficult ? 1 : 0)
        }
        dtBoxes.reserveCapacity(4 * dt.detections.count)
        for (i, d) in dt.detections.enumerated() {
            try check(d.bbox, "detections[\(i)].bbox")
            guard d.score.isFinite else {
                throw LossKitError.invalidParameter(argument: "detections[\(i)].score", value: "\(d.score)", reason: "must be finite")
            }
            dtImages.append(try rank(imageRank, d.imageId, "detections[\(i)].image_id", "image"))
            dtCategories.append(try rank(categoryRank, d.categoryId, "detections[\(i)].category_id", "category"))
            dtBoxes.append(d.bbox.x); dtBoxes.append(d.bbox.y); dtBoxes.append(d.bbox.width); dtBoxes.append(d.bbox.height)
            dtScores.append(d.score)
        }
    }

    /// The two sets as the C ABI's `losskit_eval_boxes` (flags: crowd, or difficult for VOC).
    func withCBoxes<R>(difficultFlags: Bool = false,
                       _ body: (UnsafePointer<losskit_eval_boxes>, UnsafePointer<losskit_eval_boxes>) -> R) -> R {
        let flags = difficultFlags ? gtDifficult : gtCrowd
        return gtBoxes.withUnsafeBufferPointer { gb in gtAreas.withUnsafeBufferPointer { ga in
            flags.withUnsafeBufferPointer { gf in gtImages.withUnsafeBufferPointer { gi in
                gtCategories.withUnsafeBufferPointer { gc in dtBoxes.withUnsafeBufferPointer { db in
                    dtScores.withUnsafeBufferPointer { ds in dtImages.withUnsafeBufferPointer { di in
                        dtCategories.withUnsafeBufferPointer { dc in
                            var gt = losskit_eval_boxes(boxes: gb.baseAddress, scores: nil, areas: ga.baseAddress,
                                                        flags: gf.baseAddress, images: gi.baseAddress,
                                                        categories: gc.baseAddress, n: gtCount)
                            var dt = losskit_eval_boxes(boxes: db.baseAddress, scores: ds.baseAddress, areas: nil,
                                                        flags: nil, images: di.baseAddress,
                                                        categories: dc.baseAddress, n: dtCount)
                            return body(&gt, &dt)
                        }
                    } }
                } }
            } }
        } }
    }
}
