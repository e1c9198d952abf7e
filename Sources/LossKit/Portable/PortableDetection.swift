import Foundation

/// A value with its derivatives along the 4 coordinates of one box:
/// forward-mode differentiation, so the portable box losses get their
/// gradients from the formulas alone.
struct Dual4 {
    var v: Double
    var d: SIMD4<Double>

    init(_ v: Double, _ d: SIMD4<Double> = .zero) { self.v = v; self.d = d }
    static func variable(_ v: Double, _ k: Int) -> Dual4 { var d = SIMD4<Double>.zero; d[k] = 1; return Dual4(v, d) }

    static func + (a: Dual4, b: Dual4) -> Dual4 { Dual4(a.v + b.v, a.d + b.d) }
    static func - (a: Dual4, b: Dual4) -> Dual4 { Dual4(a.v - b.v, a.d - b.d) }
    static func * (a: Dual4, b: Dual4) -> Dual4 { Dual4(a.v * b.v, a.d * b.v + b.d * a.v) }
    static func / (a: Dual4, b: Dual4) -> Dual4 { Dual4(a.v / b.v, (a.d * b.v - b.d * a.v) / (b.v * b.v)) }
    /// torch.maximum / torch.minimum: the gradient goes to the larger (smaller) one, half each at a tie.
    static func max(_ a: Dual4, _ b: Dual4) -> Dual4 {
        a.v > b.v ? a : (a.v < b.v ? b : Dual4(a.v, (a.d + b.d) / 2))
    }
    static func min(_ a: Dual4, _ b: Dual4) -> Dual4 {
        a.v < b.v ? a : (a.v > b.v ? b : Dual4(a.v, (a.d + b.d) / 2))
    }
    /// atan(w / h) with the derivative in its closed form (h dw - w dh) / (w^2 + h^2),
    /// which stays finite at h = 0 where the chain rule through w / h gives 0 * inf.
    static func atanRatio(_ w: Dual4, _ h: Dual4) -> Dual4 {
        Dual4(Foundation.atan(w.v / h.v), (w.d * h.v - h.d * w.v) / (w.v * w.v + h.v * h.v))
    }
}

extension Portable {
    /// A box in `format` as corners, in Float, as the C kernels convert it (box_convert's formulas).
    static func corners(_ format: BoxFormat, _ b: UnsafeBufferPointer<Float>, _ i: Int) -> SIMD4<Float> {
        let (p, q, r, s) = (b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3])
        switch format {
        case .xyxy: return SIMD4(p, q, r, s)
        case .xywh: return SIMD4(p, q, p + r, q + s)
        case .cxcywh: return SIMD4(p - 0.5 * r, q - 0.5 * s, p + 0.5 * r, q + 0.5 * s)
        }
    }

    static func iouMatrix(_ kind: IoUKind, _ format: BoxFormat, _ a: UnsafeBufferPointer<Float>,
                          _ b: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>, threads: Int) {
        let n = a.count / 4, m = b.count / 4
        let columns = (0..<m).map { corners(format, b, $0) } // as the kernel's structure of arrays
        let rowsPerChunk = max(1, chunk / max(m, 1))
        _ = chunkedSum(count: n, chunk: rowsPerChunk, threads: threads) { rows in
            for i in rows {
                let p = corners(format, a, i)
                for j in 0..<m { out[i * m + j] = pairMetric(kind, p, columns[j]) }
            }
            return 0
        }
    }

    /// The IoU of two corner boxes in Float, in torchvision's operation order
    /// (box_area, then `(area1 + area2) - inter`, then the quotient), the C
    /// kernel's: near-ties break the same way on both paths and as in float32
    /// torchvision. 0 where the union is 0.
    static func iou(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> Float {
        let areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1])
        let iw = Swift.max(0, Swift.min(a[2], b[2]) - Swift.max(a[0], b[0]))
        let ih = Swift.max(0, Swift.min(a[3], b[3]) - Swift.max(a[1], b[1]))
        let inter = iw * ih, union = (areaA + areaB) - inter
        return union == 0 ? 0 : inter / union
    }

    /// One pair of the matrices: the IoU in Float (``iou(_:_:)``), the
    /// penalty terms in Double; a 0 / 0 term is 0.
    static func pairMetric(_ kind: IoUKind, _ a4: SIMD4<Float>, _ b4: SIMD4<Float>) -> Float {
        if (0..<4).contains(where: { a4[$0].isNaN || b4[$0].isNaN }) { return .nan }
        let iouF = iou(a4, b4)
        if kind == .iou { return iouF }
        let a = (0..<4).map { Double(a4[$0]) }, b = (0..<4).map { Double(b4[$0]) }
        let iou = Double(iouF)
        let aw = a[2] - a[0], ah = a[3] - a[1], bw = b[2] - b[0], bh = b[3] - b[1]
        let cw = Swift.max(0, Swift.max(a[2], b[2]) - Swift.min(a[0], b[0]))
        let ch = Swift.max(0, Swift.max(a[3], b[3]) - Swift.min(a[1], b[1]))
        if kind == .generalized {
            let union = aw * ah + bw * bh - Swift.max(0, Swift.min(a[2], b[2]) - Swift.max(a[0], b[0]))
                * Swift.max(0, Swift.min(a[3], b[3]) - Swift.max(a[1], b[1]))
            let c = cw * ch
            return Float(iou - (c == 0 ? 0 : (c - union) / c))
        }
        let rho2 = pow((a[0] + a[2] - b[0] - b[2]) / 2, 2) + pow((a[1] + a[3] - b[1] - b[3]) / 2, 2)
        let diou = iou - rho2 / (cw * cw + ch * ch + 1e-7)
        if kind == .distance { return Float(diou) }
        if (aw == 0 && ah == 0) || (bw == 0 && bh == 0) { return Float(diou) } // aspect ratio 0 / 0: no aspect term
        let v = 4 / (Double.pi * Double.pi) * pow(atan(aw / ah) - atan(bw / bh), 2)
        return Float(diou - v / (1 - iou + v + 1e-7) * v)
    }

    /// A box's corners as duals over the 4 values of the box as given (`variables`)
    /// or constants: the values converted in Float as the kernel does, the
    /// derivatives those of box_convert's formulas.
    static func cornerDuals(_ format: BoxFormat, _ b: UnsafeBufferPointer<Float>, _ i: Int, variables: Bool) -> [Dual4] {
        let c = corners(format, b, i)
        guard variables else { return (0..<4).map { Dual4(Double(c[$0])) } }
        func e(_ k: Int) -> SIMD4<Double> { var d = SIMD4<Double>.zero; d[k] = 1; return d }
        let d: [SIMD4<Double>]
        switch format {
        case .xyxy: d = [e(0), e(1), e(2), e(3)]
        case .xywh: d = [e(0), e(1), e(0) + e(2), e(1) + e(3)]
        case .cxcywh: d = [e(0) - 0.5 * e(2), e(1) - 0.5 * e(3), e(0) + 0.5 * e(2), e(1) + 0.5 * e(3)]
        }
        return (0..<4).map { Dual4(Double(c[$0]), d[$0]) }
    }

    static func iouLoss(_ kind: IoUKind, _ format: BoxFormat, _ p: UnsafeBufferPointer<Float>, _ t: UnsafeBufferPointer<Float>,
                        eps: Float, reduction: Reduction, unreduced: inout [Float], gradient: inout [Float]) -> Float {
        let n = p.count / 4
        guard n > 0 else { return 0 } // torchvision: the mean of no pairs is 0
        let e = Dual4(Double(eps))
        var sum = 0.0
        let scale = reduction == .mean ? 1 / Double(n) : 1
        // a / b, and 0 where b is 0 (0 / 0: that term is 0)
        func ratio0(_ a: Dual4, _ b: Dual4) -> Dual4 { b.v == 0 ? Dual4(0) : a / b }
        for i in 0..<n {
            let pc = cornerDuals(format, p, i, variables: true), tc = cornerDuals(format, t, i, variables: false)
            let (x1, y1, x2, y2) = (pc[0], pc[1], pc[2], pc[3])
            let (a1, b1, a2, b2) = (tc[0], tc[1], tc[2], tc[3])
            // torchvision _loss_inter_union: the intersection counts only where both extents are positive
            let iw = Dual4.min(x2, a2) - Dual4.max(x1, a1), ih = Dual4.min(y2, b2) - Dual4.max(y1, b1)
            let inter = iw.v > 0 && ih.v > 0 ? iw * ih : Dual4(0)
            let union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
            let iou = ratio0(inter, union + e)
            let cw = Dual4.max(x2, a2) - Dual4.min(x1, a1), ch = Dual4.max(y2, b2) - Dual4.min(y1, b1)
            var loss: Dual4
            switch kind {
            case .generalized:
                let c = cw * ch
                loss = Dual4(1) - iou + ratio0(c - union, c + e)
            default:
                let dx = ((x1 + x2) - (a1 + a2)) * Dual4(0.5), dy = ((y1 + y2) - (b1 + b2)) * Dual4(0.5)
                loss = Dual4(1) - iou + ratio0(dx * dx + dy * dy, cw * cw + ch * ch + e)
                let wp = x2 - x1, hp = y2 - y1, wg = a2 - a1, hg = b2 - b1
                if kind == .complete && !((wp.v == 0 && hp.v == 0) || (wg.v == 0 && hg.v == 0)) {
                    let delta = Dual4.atanRatio(wg, hg) - Dual4.atanRatio(wp, hp)
                    let v = Dual4(4 / (Double.pi * Double.pi)) * delta * delta
                    let den = 1 - iou.v + v.v + Double(eps)
                    let alpha = den == 0 ? 0 : v.v / den // a constant, as torch.no_grad
                    loss = loss + Dual4(alpha) * v
                }
            }
            if (pc + tc).contains(where: { $0.v.isNaN }) {
                loss = Dual4(.nan, SIMD4(repeating: .nan))
            }
            unreduced[i] = Float(loss.v)
            sum += Double(Float(loss.v))
            if !gradient.isEmpty { // empty: not requested
                for k in 0..<4 { gradient[4 * i + k] = Float(loss.d[k] * scale) }
            }
        }
        return reduction == .mean ? Float(sum / Double(n)) : Float(sum)
    }
}
