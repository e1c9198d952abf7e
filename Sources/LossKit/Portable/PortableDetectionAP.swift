import Dispatch

/// The plain-Swift twins of `losskit_coco_evaluate` and `losskit_voc_evaluate`, written in
/// the peers' own structure (pycocotools' evaluateImg per image, category and area range,
/// then accumulate; voc_eval per class) so the C kernels are checked against a second
/// formulation.
enum PortableDetectionAP {
    static let areaRanges: [(Double, Double)] = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]
    static let maxDets = [1, 10, 100]
    static let iouThresholds: [Double] = {
        let step = (0.95 - 0.5) / 9.0
        var t = (0..<10).map { Double($0) * step + 0.5 }
        t[9] = 0.95
        return t
    }()
    static let recallThresholds: [Double] = {
        var r = (0..<101).map { Double($0) * (1.0 / 100.0) + 0.0 }
        r[100] = 1.0
        return r
    }()

    /// Runs `body(k)` for every category on up to `threads` threads (each writes its own slots).
    static func perCategory(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        let workers = min(threads, count)
        if workers <= 1 {
            for k in 0..<count { body(k) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for k in stride(from: w, to: count, by: workers) { shared.value(k) }
            }
        }
    }

    /// Indices of boxes per (category, image), in file order.
    static func cells(_ images: [Int64], _ categories: [Int64], numImages: Int, numCategories: Int) -> [[Int]] {
        var out = [[Int]](repeating: [], count: numImages * numCategories)
        for i in images.indices { out[Int(categories[i]) * numImages + Int(images[i])].append(i) }
        return out
    }

    /// Sorts indices by descending score, ties in the given order (numpy's mergesort).
    static func stableByScore(_ idx: [Int], _ score: (Int) -> Double) -> [Int] {
        idx.enumerated().sorted { a, b in
            let sa = score(a.element), sb = score(b.element)
            return sa != sb ? sa > sb : a.offset < b.offset
        }.map(\.element)
    }

    struct ImageEval {
        var scores: [Double]
        var matched: [[Bool]]  // [T][D]
        var ignored: [[Bool]]  // [T][D]
        var gtIgnore: [Bool]
    }

    static func coco(_ data: DetectionEvalData, threads: Int) -> COCOEvaluation {
        let I = data.imageIds.count, K = data.categoryIds.count, T = 10, R = 101, A = 4, M = 3
        let gtCells = cells(data.gtImages, data.gtCategories, numImages: I, numCategories: K)
        let dtCells = cells(data.dtImages, data.dtCategories, numImages: I, numCategories: K)
        var precision = [Double](repeating: -1, count: T * R * K * A * M)
        var recall = [Double](repeating: -1, count: T * K * A * M)
        precision.withUnsafeMutableBufferPointer { P in
            recall.withUnsafeMutableBufferPointer { Rc in
                let out = UncheckedSendable((P, Rc))
                perCategory(K, threads: threads) { k in
                    let (P, Rc) = out.value
                    for a in 0..<A {
                        var evals: [ImageEval] = []
                        for i in 0..<I {
                            let c = k * I + i
                            if let e = evaluateImage(data, gt: gtCells[c], dt: dtCells[c], area: areaRanges[a]) { evals.append(e) }
                        }
                        for m in 0..<M {
                            accumulate(evals, maxDet: maxDets[m]) { t, rc, q in
                                Rc[((t * K + k) * A + a) * M + m] = rc
                                for r in 0..<R { P[(((t * R + r) * K + k) * A + a) * M + m] = q[r] }
                            }
                        }
                    }
                }
            }
        }
        func summarize(_ ap: Bool, _ t: Int?, _ a: Int, _ m: Int) -> Double {
            var values: [Double] = []
            for ti in 0..<T where t == nil || t == ti {
                if ap {
                    for r in 0..<R { for k in 0..<K { values.append(precision[(((ti * R + r) * K + k) * A + a) * M + m]) } }
                } else {
                    for k in 0..<K { values.append(recall[((ti * K + k) * A + a) * M + m]) }
                }
            }
            let valid = values.filter { $0 > -1 }
            return valid.isEmpty ? -1 : valid.reduce(0, +) / Double(valid.count)
        }
        let stats = [summarize(true, nil, 0, 2), summarize(true, 0, 0, 2), summarize(true, 5, 0, 2),
                     summarize(true, nil, 1, 2), summarize(true, nil, 2, 2), summarize(true, nil, 3, 2),
                     summarize(false, nil, 0, 0), summarize(false, nil, 0, 1), summarize(false, nil, 0, 2),
                     summarize(false, nil, 1, 2), summarize(false, nil, 2, 2), summarize(false, nil, 3, 2)]
        return COCOEvaluation(stats: stats, precision: precision, recall: recall, categoryIds: [])
    }

    /// pycocotools' evaluateImg (matches by position, not by annotation id).
    static func evaluateImage(_ data: DetectionEvalData, gt gtAll: [Int], dt dtAll: [Int], area: (Double, Double)) -> ImageEval? {
        if gtAll.isEmpty && dtAll.isEmpty { return nil }
        let outside = { (v: Double) in v < area.0 || v > area.1 }
        let ignoreOf = { (g: Int) in data.gtCrowd[g] != 0 || outside(data.gtAreas[g]) }
        let gt = gtAll.filter { !ignoreOf($0) } + gtAll.filter { ignoreOf($0) }
        let dt = Array(stableByScore(dtAll) { data.dtScores[$0] }.prefix(100))
        let gtIgnore = gt.map(ignoreOf)
        var matched = [[Bool]](repeating: [Bool](repeating: false, count: dt.count), count: 10)
        var ignored = matched
        for t in 0..<10 {
            var gtTaken = [Bool](repeating: false, count: gt.count)
            for (d, di) in dt.enumerated() {
                var best = min(iouThresholds[t], 1 - 1e-10)
                var m = -1
                for (q, g) in gt.enumerated() {
                    let crowd = data.gtCrowd[g] != 0
                    if gtTaken[q] && !crowd { continue }
                    if m > -1 && !gtIgnore[m] && gtIgnore[q] { break }
                    let v = bbIoU(data.dtBoxes, di, data.gtBoxes, g, crowd: crowd)
                    if v < best { continue }
                    best = v
                    m = q
                }
                if m >= 0 {
                    gtTaken[m] = true
                    matched[t][d] = true
                    ignored[t][d] = gtIgnore[m]
                } else {
                    ignored[t][d] = outside(data.dtBoxes[4 * di + 2] * data.dtBoxes[4 * di + 3])
                }
            }
        }
        return ImageEval(scores: dt.map { data.dtScores[$0] }, matched: matched, ignored: ignored, gtIgnore: gtIgnore)
    }

    /// maskApi.c bbIou for one (detection, ground truth) pair of xywh boxes.
    static func bbIoU(_ dBoxes: [Double], _ d: Int, _ gBoxes: [Double], _ g: Int, crowd: Bool) -> Double {
        let dx = dBoxes[4 * d], dy = dBoxes[4 * d + 1], dw = dBoxes[4 * d + 2], dh = dBoxes[4 * d + 3]
        let gx = gBoxes[4 * g], gy = gBoxes[4 * g + 1], gw = gBoxes[4 * g + 2], gh = gBoxes[4 * g + 3]
        let ga = gw * gh, da = dw * dh
        let w = min(dw + dx, gw + gx) - max(dx, gx)
        if w <= 0 { return 0 }
        let h = min(dh + dy, gh + gy) - max(dy, gy)
        if h <= 0 { return 0 }
        let inter = w * h
        let union = crowd ? da : da + ga - inter
        return inter / union
    }

    /// pycocotools' accumulate for one (category, area, maxDet): `store(t, recall, q[101])`;
    /// nothing stored (the -1 stays) when there is no regular ground truth.
    static func accumulate(_ evals: [ImageEval], maxDet: Int, store: (Int, Double, [Double]) -> Void) {
        let npig = evals.reduce(0) { $0 + $1.gtIgnore.filter { !$0 }.count }
        if npig == 0 { return }
        var scores: [Double] = [], owner: [(Int, Int)] = []
        for (e, ev) in evals.enumerated() {
            for d in 0..<min(maxDet, ev.scores.count) {
                scores.append(ev.scores[d])
                owner.append((e, d))
            }
        }
        let order = stableByScore(Array(scores.indices)) { scores[$0] }
        for t in 0..<10 {
            var tp = 0.0, fp = 0.0
            var rc: [Double] = [], pr: [Double] = []
            for o in order {
                let (e, d) = owner[o]
                let ig = evals[e].ignored[t][d], m = evals[e].matched[t][d]
                if m && !ig { tp += 1 }
                if !m && !ig { fp += 1 }
                rc.append(tp / Double(npig))
                pr.append(tp / (fp + tp + 2.220446049250313e-16))
            }
            let recall = rc.last ?? 0
            if pr.count > 1 { for i in stride(from: pr.count - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] } }
            var q = [Double](repeating: 0, count: 101)
            for (r, thr) in recallThresholds.enumerated() {
                guard let i = rc.firstIndex(where: { $0 >= thr }) else { break }
                q[r] = pr[i]
            }
            store(t, recall, q)
        }
    }

    /// voc_eval for every category; -1 without non-difficult ground truth.
    static func voc(_ data: DetectionEvalData, metric: VOCMetric, iouThreshold: Double, plusOne: Bool,
                    threads: Int) -> [Double] {
        let I = data.imageIds.count, K = data.categoryIds.count
        let gtCells = cells(data.gtImages, data.gtCategories, numImages: I, numCategories: K)
        var ap = [Double](repeating: -1, count: K)
        let one = plusOne ? 1.0 : 0.0
        ap.withUnsafeMutableBufferPointer { out in
            let shared = UncheckedSendable(out)
            perCategory(K, threads: threads) { k in
                let npos = data.gtCategories.indices.filter { Int(data.gtCategories[$0]) == k && data.gtDifficult[$0] == 0 }.count
                if npos == 0 { shared.value[k] = -1; return }
                let dets = stableByScore(data.dtCategories.indices.filter { Int(data.dtCategories[$0]) == k }) { data.dtScores[$0] }
                var taken = Set<Int>()
                var tp = [Double](), fp = [Double]()
                for d in dets {
                    let b = Array(data.dtBoxes[4 * d ..< 4 * d + 4])
                    let bb = [b[0], b[1], b[0] + b[2], b[1] + b[3]]
                    var ovmax = -Double.infinity, jmax = -1, sawNaN = false
                    for g in gtCells[k * I + Int(data.dtImages[d])] {
                        let q = Array(data.gtBoxes[4 * g ..< 4 * g + 4])
                        let gb = [q[0], q[1], q[0] + q[2], q[1] + q[3]]
                        let iw = max(min(gb[2], bb[2]) - max(gb[0], bb[0]) + one, 0)
                        let ih = max(min(gb[3], bb[3]) - max(gb[1], bb[1]) + one, 0)
                        let inters = iw * ih
                        let uni = (bb[2] - bb[0] + one) * (bb[3] - bb[1] + one) + (gb[2] - gb[0] + one) * (gb[3] - gb[1] + one) - inters
                        let ov = inters / uni
                        if ov.isNaN { sawNaN = true } else if ov > ovmax { ovmax = ov; jmax = g }
                    }
                    var t = 0.0, f = 0.0
                    if !sawNaN && ovmax > iouThreshold {
                        if data.gtDifficult[jmax] != 0 {
                            // neither
                        } else if taken.insert(jmax).inserted { t = 1 } else { f = 1 }
                    } else { f = 1 }
                    tp.append((tp.last ?? 0) + t)
                    fp.append((fp.last ?? 0) + f)
                }
                let rec = tp.map { $0 / Double(npos) }
                let prec = zip(tp, fp).map { $0 / max($0 + $1, 2.220446049250313e-16) }
                shared.value[k] = vocAP(rec, prec, metric)
            }
        }
        return ap
    }

    /// ssd.pytorch's voc_ap.
    static func vocAP(_ rec: [Double], _ prec: [Double], _ metric: VOCMetric) -> Double {
        if metric == .voc07 {
            var ap = 0.0
            for i in 0..<11 {
                let t = Double(i) * 0.1
                let p = zip(rec, prec).filter { $0.0 >= t }.map(\.1).max() ?? 0
                ap = ap + p / 11.0
            }
            return ap
        }
        let mrec = [0.0] + rec + [1.0]
        var mpre = [0.0] + prec + [0.0]
        for i in stride(from: mpre.count - 1, to: 0, by: -1) { mpre[i - 1] = max(mpre[i - 1], mpre[i]) }
        var ap = 0.0
        for i in 0..<(mrec.count - 1) where mrec[i + 1] != mrec[i] { ap += (mrec[i + 1] - mrec[i]) * mpre[i + 1] }
        return ap
    }

    /// The mean over categories whose AP is not -1 (NaN if none).
    static func meanAP(_ ap: [Double]) -> Double {
        let valid = ap.filter { $0 != -1 }
        return valid.isEmpty ? .nan : valid.reduce(0, +) / Double(valid.count)
    }
}
