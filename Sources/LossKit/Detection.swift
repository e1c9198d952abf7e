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
    /// `alpha = v / (1 - iou + v + 1e-7)` (torchvision `complete_box_iou`); the
    /// aspect term `alpha v` is 0 when either box has w = h = 0 (torchvision: NaN).
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

/// How the 4 values of a box are laid out, as `torchvision.ops.box_convert`
/// names the formats. The box kernels convert each box to corners as they
/// load it (in `Float`, with box_convert's formulas), so no converted copy
/// of the inputs is made, and the aligned losses' gradients are with
/// respect to the boxes as given.
public enum BoxFormat: Sendable, Hashable, CaseIterable {
    /// Corners `(x1, y1, x2, y2)` (torchvision's `"xyxy"`, the default everywhere).
    case xyxy
    /// Top-left corner and size `(x1, y1, w, h)`: `x2 = x1 + w` (`"xywh"`).
    case xywh
    /// Centre and size `(cx, cy, w, h)`: `x1 = cx - 0.5 w`, `x2 = cx + 0.5 w` (`"cxcywh"`).
    case cxcywh

    var c: losskit_box_format {
        switch self {
        case .xyxy: return LOSSKIT_BOX_XYXY
        case .xywh: return LOSSKIT_BOX_XYWH
        case .cxcywh: return LOSSKIT_BOX_CXCYWH
        }
    }
}

func checkBoxes(_ name: String, _ values: UnsafeBufferPointer<Float>) throws -> Int {
    guard values.count % 4 == 0 else {
        throw LossKitError.invalidShape(argument: name, shape: [values.count],
                                        reason: "boxes are 4 values each: the count must be a multiple of 4")
    }
    return values.count / 4
}

/// The box rule every box input of LossKit follows: `x2 >= x1` and `y2 >= y1`
/// (`w >= 0` and `h >= 0` in the sized formats), as torchvision's box ops
/// document (`0 <= x1 < x2`; zero extents allowed). Throws
/// ``LossKitError/invalidBox(argument:index:box:reason:)`` naming the first
/// box that breaks it. NaN coordinates pass (they give NaN where used).
func checkBoxRule(_ name: String, _ boxes: UnsafeBufferPointer<Float>, _ format: BoxFormat = .xyxy) throws {
    for i in 0..<(boxes.count / 4) {
        let (a, b, c, d) = (boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3])
        let bad = format == .xyxy ? (c < a || d < b) : (c < 0 || d < 0)
        if bad {
            throw LossKitError.invalidBox(argument: name, index: i, box: [a, b, c, d],
                                          reason: format == .xyxy ? "x2 < x1 or y2 < y1" : "w < 0 or h < 0")
        }
    }
}

func checkBoxRule(_ name: String, _ boxes: [Float], _ format: BoxFormat = .xyxy) throws {
    try boxes.withUnsafeBufferPointer { try checkBoxRule(name, $0, format) }
}

/// `checkStatus` for a box kernel: a status naming one of `boxes` (the C
/// kernels check the box rule themselves, at vector speed) becomes the
/// ``LossKitError/invalidBox(argument:index:box:reason:)`` of its first bad box.
func checkBoxStatus(_ status: Int32, _ function: String,
                    _ boxes: [(status: Int32, name: String, values: UnsafeBufferPointer<Float>, format: BoxFormat)]) throws {
    if status < 0, let arg = boxes.first(where: { $0.status == status }) {
        try checkBoxRule(arg.name, arg.values, arg.format)
    }
    try checkStatus(status, function)
}

/// The `[n, m]` matrix of an IoU-family metric between two sets of boxes,
/// row-major: `out[i * m + j]` compares `boxes1[i]` with `boxes2[j]`.
///
///     let iou = try boxIoUMatrix(detections, truths)                       // torchvision box_iou
///     let giou = try boxIoUMatrix(a, b, kind: .generalized, format: .cxcywh)
///
/// Matches torchvision's `box_iou`, `generalized_box_iou`, `distance_box_iou`
/// and `complete_box_iou` (on `box_convert`ed boxes for the other formats).
/// The IoU is computed in `Float` in torchvision's order (`(area1 + area2) -
/// inter`, then the quotient), so near-ties break as in float32 torchvision.
/// Where torchvision divides 0 by 0, LossKit deliberately differs with one
/// rule, shared with ``boxIoULoss(_:predictions:targets:format:eps:reduction:computeGradient:execution:)``:
/// that term is 0 and the others stay - the IoU of a pair whose union is 0,
/// GIoU's `(C - U) / C` where the enclosing area C is 0, and CIoU's aspect
/// term `alpha v` when either box has w = h = 0 (its aspect ratio is
/// undefined; torchvision gives NaN). So `1 - matrix` equals the aligned
/// loss of the same pair up to the loss's eps. A NaN coordinate gives NaN in
/// that box's row or column. Forward only (matching and evaluation metrics).
/// - Parameters:
///   - boxes1: n boxes, 4n values, in `format`.
///   - boxes2: m boxes, 4m values, in `format`.
///   - kind: the IoU variant (``IoUKind``), default ``IoUKind/iou``.
///   - format: the boxes' layout (``BoxFormat``), default ``BoxFormat/xyxy``.
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Returns: n x m values.
/// - Throws: ``LossKitError/invalidBox(argument:index:box:reason:)`` for a box
///   with x2 < x1 or y2 < y1 (w < 0 or h < 0).
public func boxIoUMatrix(_ boxes1: [Float], _ boxes2: [Float], kind: IoUKind = .iou, format: BoxFormat = .xyxy,
                         execution: Execution = .default) throws -> [Float] {
    guard boxes1.count % 4 == 0, boxes2.count % 4 == 0 else {
        let bad = boxes1.count % 4 != 0 ? ("boxes1", boxes1.count) : ("boxes2", boxes2.count)
        throw LossKitError.invalidShape(argument: bad.0, shape: [bad.1],
                                        reason: "boxes are 4 values each: the count must be a multiple of 4")
    }
    let total = try Check.elementCount("boxes2", boxes1.count / 4, boxes2.count / 4)
    var out = [Float](repeating: 0, count: total)
    try boxes1.withUnsafeBufferPointer { a in
        try boxes2.withUnsafeBufferPointer { b in
            try out.withUnsafeMutableBufferPointer { o in
                try boxIoUMatrix(a, b, into: o, kind: kind, format: format, execution: execution)
            }
        }
    }
    return out
}

/// ``boxIoUMatrix(_:_:kind:format:execution:)`` into a caller-owned buffer of
/// n x m values, copying nothing (for large matrices: no allocation per call).
public func boxIoUMatrix(_ boxes1: UnsafeBufferPointer<Float>, _ boxes2: UnsafeBufferPointer<Float>,
                         into out: UnsafeMutableBufferPointer<Float>, kind: IoUKind = .iou, format: BoxFormat = .xyxy,
                         execution: Execution = .default) throws {
    let n = try checkBoxes("boxes1", boxes1), m = try checkBoxes("boxes2", boxes2)
    let total = try Check.elementCount("boxes2", n, m)
    try Check.output("out", out, total)
    let threads = try execution.validatedThreads()
    switch execution.backend {
    case .c:
        let status = losskit_box_iou_matrix(kind.c, format.c, boxes1.baseAddress, n, boxes2.baseAddress, m,
                                            out.baseAddress, threads)
        try checkBoxStatus(status, "boxIoUMatrix(\(kind))", [(-3, "boxes1", boxes1, format), (-5, "boxes2", boxes2, format)])
    case .portable:
        try checkBoxRule("boxes1", boxes1, format)
        try checkBoxRule("boxes2", boxes2, format)
        Portable.iouMatrix(kind, format, boxes1, boxes2, into: out, threads: execution.resolvedThreads)
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
/// half, as `torch.maximum`/`torch.minimum` do. CIoU's gradient uses the
/// closed form d atan(w/h) = (h dw - w dh) / (w^2 + h^2), finite for a
/// zero-height box where autograd through w / h gives NaN. In another
/// ``BoxFormat`` each pair is converted to corners as it is loaded, as
/// `box_convert` would, and the gradient is chained back to the format given.
///
/// Where torchvision divides 0 by 0 the term is 0, the rule of
/// ``boxIoUMatrix(_:_:kind:format:execution:)``: CIoU's aspect term when
/// either box has w = h = 0 (torchvision: NaN), and with `eps = 0` the
/// quotients whose denominator is 0. So `1 - boxIoUMatrix` equals this loss
/// for the same pair up to eps. With no pairs, `.mean` gives 0, as
/// torchvision (its `test_empty_inputs`), not NaN.
/// - Parameters:
///   - kind: ``IoUKind/generalized``, ``IoUKind/distance`` or ``IoUKind/complete``.
///   - predictions: n predicted boxes (4n values) in `format`.
///   - targets: n target boxes in `format`.
///   - format: the boxes' layout (``BoxFormat``), default ``BoxFormat/xyxy``.
///   - eps: default 1e-7 (torchvision's).
///   - reduction: `.none`, `.sum` or `.mean` (default), as PyTorch's `reduction`; the gradient is that of the reduced value (of the sum for `.none`).
///   - computeGradient: `false` skips the backward work (no gradient is returned).
///   - execution: the backend (`.c`, default, or `.portable`) and thread cap.
/// - Throws: ``LossKitError/invalidBox(argument:index:box:reason:)`` for a box
///   with x2 < x1 or y2 < y1 (w < 0 or h < 0).
public func boxIoULoss(_ kind: IoUKind, predictions: [Float], targets: [Float], format: BoxFormat = .xyxy, eps: Float = 1e-7,
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
                            losskit_box_iou_loss(kind.c, format.c, p.baseAddress, t.baseAddress, n, eps, reduction.c,
                                                 reduction == .none ? u.baseAddress : v,
                                                 computeGradient ? g.baseAddress : nil, threads)
                        }
                    }
                }
                try checkBoxStatus(status, "boxIoULoss(\(kind))", [(-3, "predictions", p, format), (-4, "targets", t, format)])
            case .portable:
                try checkBoxRule("predictions", p, format)
                try checkBoxRule("targets", t, format)
                value = Portable.iouLoss(kind, format, p, t, eps: eps, reduction: reduction, unreduced: &unreduced,
                                         gradient: &gradient)
            }
            if reduction == .none { value = unreduced.withUnsafeBufferPointer { orderedSum($0) } }
            return LossResult(value: value, unreduced: reduction == .none ? unreduced : nil,
                              gradient: computeGradient ? gradient : nil)
        }
    }
}

/// Corner form `(x1, y1, x2, y2)` to centre form `(cx, cy, w, h)`, 4 values per box
/// (torchvision `box_convert(boxes, "xyxy", "cxcywh")`).
/// - Throws: ``LossKitError/invalidBox(argument:index:box:reason:)`` for a box with x2 < x1 or y2 < y1.
public func boxesCornerToCenter(_ boxes: [Float]) throws -> [Float] {
    try convertBoxes(boxes, from: .xyxy, losskit_boxes_xyxy_to_cxcywh)
}

/// Centre form `(cx, cy, w, h)` to corner form `(x1, y1, x2, y2)`, 4 values per box
/// (torchvision `box_convert(boxes, "cxcywh", "xyxy")`).
/// - Throws: ``LossKitError/invalidBox(argument:index:box:reason:)`` for a box with w < 0 or h < 0.
public func boxesCenterToCorner(_ boxes: [Float]) throws -> [Float] {
    try convertBoxes(boxes, from: .cxcywh, losskit_boxes_cxcywh_to_xyxy)
}

private func convertBoxes(_ boxes: [Float], from format: BoxFormat,
                          _ fn: (UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int) -> Int32) throws -> [Float] {
    var out = [Float](repeating: 0, count: boxes.count)
    try boxes.withUnsafeBufferPointer { b in
        let n = try checkBoxes("boxes", b)
        let status = out.withUnsafeMutableBufferPointer { fn(b.baseAddress, $0.baseAddress, n) }
        try checkBoxStatus(status, "box conversion", [(-1, "boxes", b, format)])
    }
    return out
}
