import CLossKit

/// The member of the IoU family a box kernel computes.
public enum IoUKind: Sendable, Hashable, CaseIterable {
    /// `inter / union`, as torchvision `box_iou`.
    case iou
    /// `iou - (C - union) / C`, C the area of the smallest enclosing box (torchvision `generalized_box_iou`).
    case generalized
    /// `iou - rho^2 / (c^2 + 1e-7)`: rho the distance between centres, c the
    /// enclosing box's diagonal (torchvision `distance_box_iou`).
    case distance
    /// `diou - alpha v`, `v = (4 / pi^2) (atan(w2/h2) - atan(w1/h1))^2`,
    /// `alpha = v / (1 - iou + v + 1e-7)` (torchvision `complete_box_iou`).
    case complete

    var c: losskit_iou_kind {
        switch self {
        case .iou: return LOSSKIT_IOU
        case .generalized: return LOSSKIT_GIOU
        case .distance: return LOSSKIT_DIOU
        case .complete: return LOSSKIT_CIOU
        }
    }
}

func checkBoxes(_ name: String, _ values: UnsafeBufferPointer<Float>) throws -> Int {
    guard values.count % 4 == 0 else {
        throw LossKitError.invalidShape(argument: name, shape: [values.count],
                                        reason: "boxes are 4 values each (x1, y1, x2, y2): the count must be a multiple of 4")
    }
    return values.count / 4
}

/// The `[n, m]` matrix of an IoU-family metric between two sets of boxes in
/// corner form `(x1, y1, x2, y2)`, row-major: `out[i * m + j]` compares
/// `boxes1[i]` with `boxes2[j]`.
///
/// Matches torchvision's `box_iou`, `generalized_box_iou`, `distance_box_iou`
/// and `complete_box_iou`, except where torchvision divides 0 by 0: a pair
/// whose union is 0 (a point box against the same point) gives 0, and for
/// ``IoUKind/complete`` so does a box with w = h = 0 (its aspect ratio is
/// undefined). A NaN coordinate gives NaN in that box's row or column.
/// Forward only (these are matching and evaluation metrics).
/// - Parameters:
///   - boxes1: n boxes, 4n values.
///   - boxes2: m boxes, 4m values.
///   - kind: the IoU variant (``IoUKind``).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: n x m values.
public func boxIoUMatrix(_ kind: IoUKind = .iou, _ boxes1: [Float], _ boxes2: [Float],
                         execution: Execution = .default) throws -> [Float] {
    guard boxes1.count % 4 == 0, boxes2.count % 4 == 0 else {
        let bad = boxes1.count % 4 != 0 ? ("boxes1", boxes1.count) : ("boxes2", boxes2.count)
        throw LossKitError.invalidShape(argument: bad.0, shape: [bad.1],
                                        reason: "boxes are 4 values each (x1, y1, x2, y2): the count must be a multiple of 4")
    }
    let (total, overflow) = (boxes1.count / 4).multipliedReportingOverflow(by: boxes2.count / 4)
    guard !overflow else {
        throw LossKitError.invalidShape(argument: "boxes2", shape: [boxes1.count / 4, boxes2.count / 4], reason: "n x m overflows")
    }
    var out = [Float](repeating: 0, count: total)
    try boxes1.withUnsafeBufferPointer { a in
        try boxes2.withUnsafeBufferPointer { b in
            try out.withUnsafeMutableBufferPointer { o in
                try boxIoUMatrix(kind, a, b, into: o, execution: execution)
            }
        }
    }
    return out
}

/// ``boxIoUMatrix(_:_:_:execution:)`` into a caller-owned buffer of n x m
/// values, copying nothing (for large matrices: no allocation per call).
public func boxIoUMatrix(_ kind: IoUKind = .iou, _ boxes1: UnsafeBufferPointer<Float>, _ boxes2: UnsafeBufferPointer<Float>,
                         into out: UnsafeMutableBufferPointer<Float>, execution: Execution = .default) throws {
    let n = try checkBoxes("boxes1", boxes1), m = try checkBoxes("boxes2", boxes2)
    let (total, overflow) = n.multipliedReportingOverflow(by: m)
    guard !overflow else {
        throw LossKitError.invalidShape(argument: "boxes2", shape: [n, m], reason: "n x m overflows")
    }
    try Check.output("out", out, total)
    let threads = try execution.validatedThreads()
    switch execution.backend {
    case .c:
        let status = losskit_box_iou_matrix(kind.c, boxes1.baseAddress, n, boxes2.baseAddress, m, out.baseAddress, threads)
        try checkStatus(status, "boxIoUMatrix(\(kind))")
    case .portable:
        Portable.iouMatrix(kind, boxes1, boxes2, into: out, threads: execution.resolvedThreads)
    }
}

/// The aligned IoU-family losses on n (prediction, target) box pairs, as
/// torchvision's `generalized_box_iou_loss`, `distance_box_iou_loss` and
/// `complete_box_iou_loss`:
///
///     GIoU: 1 - iou + (C - U) / (C + eps),         iou = I / (U + eps)
///     DIoU: 1 - iou + rho^2 / (c^2 + eps)
///     CIoU: DIoU + alpha v                          (alpha held constant, as torch.no_grad)
///
/// The gradient is with respect to the predictions (n x 4); at ties of the
/// min/max that define the intersection and enclosing box it is split in
/// half, as `torch.maximum`/`torch.minimum` do. CIoU's v is 0 when either
/// box has w = h = 0, and its gradient uses the closed form
/// d atan(w/h) = (h dw - w dh) / (w^2 + h^2), finite for a zero-height box
/// where autograd through w / h gives NaN.
/// - Parameters:
///   - kind: ``IoUKind/generalized``, ``IoUKind/distance`` or ``IoUKind/complete``.
///   - predictions: n predicted boxes, corner form (4n values).
///   - targets: n target boxes, corner form.
///   - eps: default 1e-7 (torchvision's).
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
public func boxIoULoss(_ kind: IoUKind, predictions: [Float], targets: [Float], eps: Float = 1e-7,
                       reduction: Reduction = .mean, computeGradient: Bool = true,
                       execution: Execution = .default) throws -> LossResult {
    guard kind != .iou else {
        throw LossKitError.invalidParameter(argument: "kind", value: "iou",
                                            reason: "the aligned losses are generalized, distance or complete")
    }
    try Check.nonNegative("eps", eps)
    return try predictions.withUnsafeBufferPointer { p in
        try targets.withUnsafeBufferPointer { t in
            let n = try checkBoxes("predictions", p)
            try Check.sameCount("targets", t.count, as: "predictions", p.count)
            let threads = try execution.validatedThreads()
            var gradient = [Float](repeating: 0, count: computeGradient ? 4 * n : 0)
            var unreduced = [Float](repeating: 0, count: n)
            var value: Float = 0
            switch execution.backend {
            case .c:
                let status = gradient.withUnsafeMutableBufferPointer { g in
                    unreduced.withUnsafeMutableBufferPointer { u in
                        withUnsafeMutablePointer(to: &value) { v in
                            losskit_box_iou_loss(kind.c, p.baseAddress, t.baseAddress, n, eps, reduction.c,
                                                 reduction == .none ? u.baseAddress : v,
                                                 computeGradient ? g.baseAddress : nil, threads)
                        }
                    }
                }
                try checkStatus(status, "boxIoULoss(\(kind))")
            case .portable:
                value = Portable.iouLoss(kind, p, t, eps: eps, reduction: reduction, unreduced: &unreduced,
                                         gradient: &gradient)
            }
            if reduction == .none { value = unreduced.withUnsafeBufferPointer { orderedSum($0) } }
            return LossResult(value: value, unreduced: reduction == .none ? unreduced : nil,
                              gradient: computeGradient ? gradient : nil)
        }
    }
}

/// Corner form `(x1, y1, x2, y2)` to centre form `(cx, cy, w, h)`, 4 values per box.
public func boxesCornerToCenter(_ boxes: [Float]) throws -> [Float] {
    try convertBoxes(boxes, losskit_boxes_xyxy_to_cxcywh)
}

/// Centre form `(cx, cy, w, h)` to corner form `(x1, y1, x2, y2)`, 4 values per box.
public func boxesCenterToCorner(_ boxes: [Float]) throws -> [Float] {
    try convertBoxes(boxes, losskit_boxes_cxcywh_to_xyxy)
}

private func convertBoxes(_ boxes: [Float],
                          _ fn: (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Int32) throws -> [Float] {
    var out = [Float](repeating: 0, count: boxes.count)
    try boxes.withUnsafeBufferPointer { b in
        let n = try checkBoxes("boxes", b)
        let status = out.withUnsafeMutableBufferPointer { fn(b.baseAddress, $0.baseAddress, n) }
        try checkStatus(status, "box conversion")
    }
    return out
}
