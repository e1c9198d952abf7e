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
    static func iouMatrix(_ kind: IoUKind, _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
                          into out: UnsafeMutableBufferPointer<Float>, threads: Int) {
        let n = a.count / 4, m = b.count / 4
        let rowsPerChunk = max(1, chunk / max(m, 1))
        _ = chunkedSum(count: n, chunk: rowsPerChunk, threads: threads) { rows in
            for i in rows {
                let p = (0..<4).map { Double(a[4 * i + $0]) }
                for j in 0..<m {
                    out[i * m + j] = Float(pairMetric(kind, p, (0..<4).map { Double(b[4 * j + $0]) }))
                }
            }
            return 0
        }
    }

    /// One pair of the matrices, in Double.
    static func pairMetric(_ kind: IoUKind, _ a: [Double], _ b: [Double]) -> Double {
        if (a + b).contains(where: \.isNaN) { return .nan }
        let aw = a[2] - a[0], ah = a[3] - a[1], bw = b[2] - b[0], bh = b[3] - b[1]
        let iw = Swift.max(0, Swift.min(a[2], b[2]) - Swift.max(a[0], b[0]))
        let ih = Swift.max(0, Swift.min(a[3], b[3]) - Swift.max(a[1], b[1]))
        let inter = iw * ih, union = aw * ah + bw * bh - inter
        if union == 0 { return 0 } // torchvision: 0 / 0
        let iou = inter / union
        if kind == .iou { return iou }
        let cw = Swift.max(0, Swift.max(a[2], b[2]) - Swift.min(a[0], b[0]))
        let ch = Swift.max(0, Swift.max(a[3], b[3]) - Swift.min(a[1], b[1]))
        if kind == .generalized { return iou - (cw * ch - union) / (cw * ch) }
        let rho2 = pow((a[0] + a[2] - b[0] - b[2]) / 2, 2) + pow((a[1] + a[3] - b[1] - b[3]) / 2, 2)
        let diou = iou - rho2 / (cw * cw + ch * ch + 1e-7)
        if kind == .distance { return diou }
        if (aw == 0 && ah == 0) || (bw == 0 && bh == 0) { return 0 } // aspect ratio 0 / 0
        let v = 4 / (Double.pi * Double.pi) * pow(atan(aw / ah) - atan(bw / bh), 2)
        return diou - v / (1 - iou + v + 1e-7) * v
    }

    static func iouLoss(_ kind: IoUKind, _ p: UnsafeBufferPointer<Float>, _ t: UnsafeBufferPointer<Float>, eps: Float,
                        reduction: Reduction, unreduced: inout [Float], gradient: inout [Float]) -> Float {
        let n = p.count / 4
        let e = Dual4(Double(eps))
        var sum = 0.0
        let scale = reduction == .mean ? 1 / Double(n) : 1
        for i in 0..<n {
            let x1 = Dual4.variable(Double(p[4 * i]), 0), y1 = Dual4.variable(Double(p[4 * i + 1]), 1)
            let x2 = Dual4.variable(Double(p[4 * i + 2]), 2), y2 = Dual4.variable(Double(p[4 * i + 3]), 3)
            let a1 = Dual4(Double(t[4 * i])), b1 = Dual4(Double(t[4 * i + 1]))
            let a2 = Dual4(Double(t[4 * i + 2])), b2 = Dual4(Double(t[4 * i + 3]))
            // torchvision _loss_inter_union: the intersection counts only where both extents are positive
            let iw = Dual4.min(x2, a2) - Dual4.max(x1, a1), ih = Dual4.min(y2, b2) - Dual4.max(y1, b1)
            let inter = iw.v > 0 && ih.v > 0 ? iw * ih : Dual4(0)
            let union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - inter
            let iou = inter / (union + e)
            let cw = Dual4.max(x2, a2) - Dual4.min(x1, a1), ch = Dual4.max(y2, b2) - Dual4.min(y1, b1)
            var loss: Dual4
            switch kind {
            case .generalized:
                let c = cw * ch
                loss = Dual4(1) - iou + (c - union) / (c + e)
            default:
                let dx = ((x1 + x2) - (a1 + a2)) * Dual4(0.5), dy = ((y1 + y2) - (b1 + b2)) * Dual4(0.5)
                loss = Dual4(1) - iou + (dx * dx + dy * dy) / (cw * cw + ch * ch + e)
                let wp = x2 - x1, hp = y2 - y1, wg = a2 - a1, hg = b2 - b1
                if kind == .complete && !((wp.v == 0 && hp.v == 0) || (wg.v == 0 && hg.v == 0)) {
                    let delta = Dual4.atanRatio(wg, hg) - Dual4.atanRatio(wp, hp)
                    let v = Dual4(4 / (Double.pi * Double.pi)) * delta * delta
                    let alpha = v.v / (1 - iou.v + v.v + Double(eps)) // a constant, as torch.no_grad
                    loss = loss + Dual4(alpha) * v
                }
            }
            if (0..<4).contains(where: { p[4 * i + $0].isNaN || t[4 * i + $0].isNaN }) {
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
