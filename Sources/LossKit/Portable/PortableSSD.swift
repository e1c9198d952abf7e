import Foundation

extension Portable {
    static func ssdEncode(_ m: [Float], _ p: [Float], _ v: (Float, Float)) -> [Float] {
        var out = [Float](repeating: 0, count: p.count)
        for i in 0..<(p.count / 4) {
            let b = 4 * i
            out[b] = ((m[b] + m[b + 2]) / 2 - p[b]) / (v.0 * p[b + 2])
            out[b + 1] = ((m[b + 1] + m[b + 3]) / 2 - p[b + 1]) / (v.0 * p[b + 3])
            out[b + 2] = log((m[b + 2] - m[b]) / p[b + 2]) / v.1
            out[b + 3] = log((m[b + 3] - m[b + 1]) / p[b + 3]) / v.1
        }
        return out
    }

    static func ssdDecode(_ l: [Float], _ p: [Float], _ v: (Float, Float)) -> [Float] {
        var out = [Float](repeating: 0, count: p.count)
        for i in 0..<(p.count / 4) {
            let b = 4 * i
            let cx = p[b] + l[b] * v.0 * p[b + 2], cy = p[b + 1] + l[b + 1] * v.0 * p[b + 3]
            let w = p[b + 2] * exp(l[b + 2] * v.1), h = p[b + 3] * exp(l[b + 3] * v.1)
            out[b] = cx - w / 2
            out[b + 1] = cy - h / 2
            out[b + 2] = out[b] + w
            out[b + 3] = out[b + 1] + h
        }
        return out
    }

    static func corners(ofPriors p: [Float]) -> [Float] {
        (0..<(p.count / 4)).flatMap { i -> [Float] in
            let b = 4 * i
            return [p[b] - p[b + 2] / 2, p[b + 1] - p[b + 3] / 2, p[b] + p[b + 2] / 2, p[b + 1] + p[b + 3] / 2]
        }
    }

    static func ssdMatch(_ truths: [Float], _ labels: [Int], _ priors: [Float], _ threshold: Float) -> ([Int], [Int]) {
        let t = truths.count / 4, p = priors.count / 4
        let pc = corners(ofPriors: priors)
        // in Float as torchvision's box_iou (and the C kernel): near-ties pick the same prior
        func iou(_ i: Int, _ j: Int) -> Float {
            Portable.iou(SIMD4(truths[(4 * i)..<(4 * i + 4)]), SIMD4(pc[(4 * j)..<(4 * j + 4)]))
        }
        var best = [Float](repeating: -1, count: p), matched = [Int](repeating: -1, count: p)
        var overlaps = [[Float]]()
        for i in 0..<t { overlaps.append((0..<p).map { iou(i, $0) }) }
        for j in 0..<p { for i in 0..<t where overlaps[i][j] > best[j] { best[j] = overlaps[i][j]; matched[j] = i } }
        for i in 0..<t {
            var bestPrior = 0
            for j in 1..<max(p, 1) where overlaps[i][j] > overlaps[i][bestPrior] { bestPrior = j }
            best[bestPrior] = 2
            matched[bestPrior] = i
        }
        var conf = [Int](repeating: 0, count: p)
        for j in 0..<p {
            if t == 0 || best[j] < threshold { matched[j] = -1 } else { conf[j] = labels[matched[j]] + 1 }
        }
        return (matched, conf)
    }

    /// ssd.pytorch's hard-negative count: `idx_rank < clamp(negpos_ratio * num_pos, max: P - 1)`
    /// with the product a float32 tensor keeps ceil(product) ranks, at most P - 1.
    static func negativesFor(_ ratio: Float, positives: Int, priors p: Int) -> Int {
        let want = ratio * Float(positives)
        return want >= Float(p - 1) ? p - 1 : Int(want.rounded(.up))
    }

    static func multiBox(_ loc: [Float], _ conf: [Float], _ priors: [Float], _ truths: [[Float]], _ labels: [[Int]],
                         classes: Int, threshold: Float, negPosRatio: Float, variances: (Float, Float),
                         computeGradient: Bool) -> MultiBoxResult {
        let b = truths.count, p = priors.count / 4
        var target = [Int](repeating: 0, count: b * p)
        var selected = [Bool](repeating: false, count: b * p)
        var encoded = [Float](repeating: 0, count: b * p * 4)
        for i in 0..<b {
            let (matched, ct) = ssdMatch(truths[i], labels[i], priors, threshold)
            for j in 0..<p where ct[j] > 0 {
                target[i * p + j] = ct[j]
                selected[i * p + j] = true
                let m = Array(truths[i][4 * matched[j] ..< 4 * matched[j] + 4])
                let e = ssdEncode(m, Array(priors[4 * j ..< 4 * j + 4]), variances)
                for k in 0..<4 { encoded[4 * (i * p + j) + k] = e[k] }
            }
        }
        let positives = target.filter { $0 > 0 }.count
        var result = MultiBoxResult(locLoss: 0, confLoss: 0,
                                    locGradient: computeGradient ? [Float](repeating: 0, count: loc.count) : nil,
                                    confGradient: computeGradient ? [Float](repeating: 0, count: conf.count) : nil,
                                    confTarget: target)
        guard positives > 0 else { return result }
        let n = Double(positives)
        // background CE of each prior in Double, for ranking; positives rank as 0
        func row(_ r: Int) -> ArraySlice<Float> { conf[r * classes ..< (r + 1) * classes] }
        func logSumExp(_ x: ArraySlice<Float>) -> Double {
            let m = Double(x.max()!)
            return m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
        }
        for i in 0..<b {
            let pos = (0..<p).filter { target[i * p + $0] > 0 }.count
            let numNeg = negativesFor(negPosRatio, positives: pos, priors: p)
            let mining = (0..<p).map { j -> Double in
                let r = i * p + j
                return target[r] > 0 ? 0 : logSumExp(row(r)) - Double(conf[r * classes])
            }
            // loss descending, NaN first (the hardest), ties by index
            func harder(_ a: Double, _ b: Double) -> Bool { a.isNaN ? !b.isNaN : (!b.isNaN && a > b) }
            let ranked = (0..<p).sorted { harder(mining[$0], mining[$1]) || (!harder(mining[$1], mining[$0]) && $0 < $1) }
            for j in ranked.prefix(numNeg) { selected[i * p + j] = true }
        }
        var locSum = 0.0, confSum = 0.0
        for r in 0..<(b * p) where selected[r] {
            if target[r] > 0 {
                for k in 0..<4 {
                    let d = Double(loc[4 * r + k]) - Double(encoded[4 * r + k])
                    locSum += abs(d) < 1 ? 0.5 * d * d : abs(d) - 0.5
                    result.locGradient?[4 * r + k] = Float((abs(d) < 1 ? d : (d > 0 ? 1 : -1)) / n)
                }
            }
            let lse = logSumExp(row(r))
            confSum += lse - Double(conf[r * classes + target[r]])
            if computeGradient {
                for c in 0..<classes {
                    let g = exp(Double(conf[r * classes + c]) - lse) - (c == target[r] ? 1 : 0)
                    result.confGradient![r * classes + c] = Float(g / n)
                }
            }
        }
        result.locLoss = Float(locSum / n)
        result.confLoss = Float(confSum / n)
        return result
    }

    static func nms(_ boxes: [Float], _ scores: [Float], _ threshold: Float) -> [Int] {
        let order = scores.indices.sorted { a, b in
            let (sa, sb) = (scores[a], scores[b])
            if sa.isNaN != sb.isNaN { return !sa.isNaN }
            return sa > sb || (sa == sb && a < b)
        }
        var removed = Set<Int>(), keep: [Int] = []
        for (k, i) in order.enumerated() where !removed.contains(i) {
            keep.append(i)
            for j in order[(k + 1)...] where !removed.contains(j) {
                let iou = Portable.iou(SIMD4(boxes[(4 * i)..<(4 * i + 4)]), SIMD4(boxes[(4 * j)..<(4 * j + 4)]))
                if iou > threshold { removed.insert(j) }
            }
        }
        return keep
    }
}
