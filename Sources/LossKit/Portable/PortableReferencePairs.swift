import Foundation

extension Portable {
    /// Rows / max(|row|, 1e-12), rounded to Float as the C path stores them, with the denominators in Double.
    private static func unitRows(_ x: [Float], _ d: Int) -> ([Float], [Double]) {
        let n = d > 0 ? x.count / d : 0
        var out = x, denominators = [Double](repeating: 1, count: n)
        for i in 0..<n {
            let norm = x[i * d ..< (i + 1) * d].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let denominator = norm.isNaN ? norm : max(norm, 1e-12)
            denominators[i] = denominator
            for k in 0..<d { out[i * d + k] = Float(Double(x[i * d + k]) / denominator) }
        }
        return (out, denominators)
    }

    /// A gradient wrt normalized rows turned into one wrt the rows x: (g - (x^ . g) x^) / |x| above the
    /// 1e-12 floor, g / 1e-12 at it (the denominator is then a constant).
    private static func chainUnitRows(_ g: inout [Double], _ x: [Float], _ denominators: [Double], _ d: Int) {
        for (i, denominator) in denominators.enumerated() {
            let unit = (0..<d).map { Double(x[i * d + $0]) / denominator }
            let dot = denominator > 1e-12 ? (0..<d).reduce(0.0) { $0 + unit[$1] * g[i * d + $1] } : 0
            for k in 0..<d { g[i * d + k] = (g[i * d + k] - dot * unit[k]) / denominator }
        }
    }

    /// Contrastive loss over every (query, reference) pair not marked as the
    /// query itself, pair by pair in Double.
    static func contrastiveReference(_ x: [Float], _ labels: [Int], _ references: ReferenceSet, d: Int,
                                     metric: DistanceMetric, margins: (Float, Float), power: Int, normalize: Bool,
                                     reduction: PairReduction, computeGradient: Bool) -> ReferenceLossResult {
        let q = labels.count, m = references.labels.count
        let (xs, xDen) = normalize ? unitRows(x, d) : (x, [])
        let (ys, yDen) = normalize ? unitRows(references.features, d) : (references.features, [])
        let marks = references.queryIndex ?? [Int](repeating: -1, count: m)
        let pm = Double(margins.0), nm = Double(margins.1)
        // unscaled gradients of the positive pairs' and the negative pairs' sums
        var gx = [[Double]](repeating: [Double](repeating: 0, count: q * d), count: 2)
        var gy = [[Double]](repeating: [Double](repeating: 0, count: m * d), count: 2)
        var sums = [0.0, 0.0], nonzero = [0, 0], counted = 0
        for i in 0..<q {
            for j in 0..<m where marks[j] != i {
                counted += 1
                let (dist, gu, gv) = distance(metric, xs[i * d ..< (i + 1) * d], ys[j * d ..< (j + 1) * d])
                let same = labels[i] == references.labels[j], kind = same ? 0 : 1
                let h = same ? dist - pm : nm - dist
                let hinge = h < 0 ? 0 : h
                let l = power == 2 ? hinge * hinge : hinge
                sums[kind] += l
                if l > 0 { nonzero[kind] += 1 }
                guard computeGradient else { continue }
                let dl = (power == 2 ? 2 * hinge : (h > 0 ? 1 : 0 * h)) * (same ? 1 : -1)
                if dl == 0 { continue }
                for k in 0..<d {
                    gx[kind][i * d + k] += dl * gu[k]
                    gy[kind][j * d + k] += dl * gv[k]
                }
            }
        }
        let value: Double, scales: [Double]
        switch reduction {
        case .sum:
            value = sums[0] + sums[1]; scales = [1, 1]
        case .mean:
            value = counted > 0 ? (sums[0] + sums[1]) / Double(counted) : 0 * (sums[0] + sums[1])
            scales = [counted > 0 ? 1 / Double(counted) : 0, counted > 0 ? 1 / Double(counted) : 0]
        case .meanOfNonzero:
            scales = nonzero.map { $0 > 0 ? 1 / Double($0) : 0 }
            value = (0..<2).reduce(0.0) { $0 + (nonzero[$1] > 0 ? sums[$1] * scales[$1] : 0 * sums[$1]) }
        }
        guard computeGradient else { return ReferenceLossResult(value: Float(value)) }
        var queryGradient = (0..<(q * d)).map { gx[0][$0] * scales[0] + gx[1][$0] * scales[1] }
        var referenceGradient = (0..<(m * d)).map { gy[0][$0] * scales[0] + gy[1][$0] * scales[1] }
        if normalize {
            chainUnitRows(&queryGradient, x, xDen, d)
            chainUnitRows(&referenceGradient, references.features, yDen, d)
        }
        return ReferenceLossResult(value: Float(value), queryGradient: queryGradient.map(Float.init),
                                   referenceGradient: referenceGradient.map(Float.init))
    }

    /// The result of an indexed loss from its per-tuple losses and its gradients wrt the rows the distances saw
    /// (chained through the normalization when `unit` holds the rows passed in and their denominators).
    private static func indexedResult(_ perTuple: [Float], reduction: Reduction, gradients: ([Double], [Double])?,
                                      unit: ([Float], [Double], [Float], [Double])?, d: Int) -> ReferenceLossResult {
        let total = perTuple.reduce(0.0) { $0 + Double($1) }
        let value = reduction == .mean ? (perTuple.isEmpty ? 0 : total / Double(perTuple.count)) : total
        guard var (gx, gy) = gradients else {
            return ReferenceLossResult(value: Float(value), unreduced: reduction == .none ? perTuple : nil)
        }
        if let (x, xDen, y, yDen) = unit {
            chainUnitRows(&gx, x, xDen, d)
            chainUnitRows(&gy, y, yDen, d)
        }
        return ReferenceLossResult(value: Float(value), unreduced: reduction == .none ? perTuple : nil,
                                   queryGradient: gx.map(Float.init), referenceGradient: gy.map(Float.init))
    }

    /// Triplets by index (anchors into x, positives and negatives into y), one by one in Double.
    static func tripletReference(_ x: [Float], _ y: [Float], d: Int, anchors: [Int], positives: [Int], negatives: [Int],
                                 metric: DistanceMetric, margin: TripletMargin, improved: Bool, swap: Bool,
                                 normalize: Bool, reduction: Reduction, computeGradient: Bool) -> ReferenceLossResult {
        let t = anchors.count
        let (xs, xDen) = normalize ? unitRows(x, d) : (x, [])
        let (ys, yDen) = normalize ? unitRows(y, d) : (y, [])
        let scale = reduction == .mean ? 1 / Double(max(t, 1)) : 1
        var gx = [Double](repeating: 0, count: x.count), gy = [Double](repeating: 0, count: y.count)
        var perTriplet = [Float](repeating: 0, count: t)
        func row(_ v: [Float], _ i: Int) -> ArraySlice<Float> { v[i * d ..< (i + 1) * d] }
        for k in 0..<t {
            let a = anchors[k], p = positives[k], n = negatives[k]
            let ap = distance(metric, row(xs, a), row(ys, p)), an = distance(metric, row(xs, a), row(ys, n))
            var dn = an.0, wn = 1.0, ws = 0.0
            var pn: (Double, [Double], [Double])? = nil
            if swap {
                let s = distance(metric, row(ys, p), row(ys, n))
                pn = s
                // torch.min: the smaller one; on a tie the gradient goes half to each
                if s.0 < dn { dn = s.0; wn = 0; ws = 1 } else if s.0 == dn { wn = 0.5; ws = 0.5 } else if s.0.isNaN { dn = s.0 }
            }
            let z = ap.0 - dn + Double(margin.margin)
            var (l, s): (Double, Double)
            if case .soft = margin {
                (l, s) = (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)), 1 / (1 + exp(-z)))
            } else {
                (l, s) = (max(z, 0), z > 0 ? 1 : 0)
            }
            if z.isNaN { (l, s) = (.nan, .nan) }
            if improved { l += ap.0 }
            perTriplet[k] = Float(l)
            guard computeGradient else { continue }
            let cap = (s + (improved ? 1 : 0)) * scale, can = -s * wn * scale, cpn = -s * ws * scale
            for j in 0..<d {
                gx[a * d + j] += cap * ap.1[j] + can * an.1[j]
                gy[p * d + j] += cap * ap.2[j]
                gy[n * d + j] += can * an.2[j]
                if let pn {
                    gy[p * d + j] += cpn * pn.1[j]
                    gy[n * d + j] += cpn * pn.2[j]
                }
            }
        }
        return indexedResult(perTriplet, reduction: reduction, gradients: computeGradient ? (gx, gy) : nil,
                             unit: normalize ? (x, xDen, y, yDen) : nil, d: d)
    }

    /// Quadruplets by index (anchors into x; positives, negatives1, negatives2 into y), one by one in Double.
    static func quadrupletReference(_ x: [Float], _ y: [Float], d: Int, indices: ([Int], [Int], [Int], [Int]),
                                    metric: DistanceMetric, margins: (Float, Float), normalize: Bool, reduction: Reduction,
                                    computeGradient: Bool) -> ReferenceLossResult {
        let (anchors, positives, negatives1, negatives2) = indices
        let t = anchors.count
        let (xs, xDen) = normalize ? unitRows(x, d) : (x, [])
        let (ys, yDen) = normalize ? unitRows(y, d) : (y, [])
        let scale = reduction == .mean ? 1 / Double(max(t, 1)) : 1
        var gx = [Double](repeating: 0, count: x.count), gy = [Double](repeating: 0, count: y.count)
        var perTuple = [Float](repeating: 0, count: t)
        func row(_ v: [Float], _ i: Int) -> ArraySlice<Float> { v[i * d ..< (i + 1) * d] }
        for k in 0..<t {
            let a = anchors[k], p = positives[k], n1 = negatives1[k], n2 = negatives2[k]
            let ap = distance(metric, row(xs, a), row(ys, p)), an = distance(metric, row(xs, a), row(ys, n1))
            let nn = distance(metric, row(ys, n1), row(ys, n2))
            let z1 = ap.0 - an.0 + Double(margins.0), z2 = ap.0 - nn.0 + Double(margins.1)
            var s1: Double = z1 > 0 ? 1 : 0, s2: Double = z2 > 0 ? 1 : 0
            var l = max(z1, 0) + max(z2, 0)
            if z1.isNaN || z2.isNaN { (l, s1, s2) = (.nan, .nan, .nan) }
            perTuple[k] = Float(l)
            guard computeGradient else { continue }
            for j in 0..<d {
                gx[a * d + j] += scale * ((s1 + s2) * ap.1[j] - s1 * an.1[j])
                gy[p * d + j] += scale * (s1 + s2) * ap.2[j]
                gy[n1 * d + j] -= scale * (s1 * an.2[j] + s2 * nn.1[j])
                gy[n2 * d + j] -= scale * s2 * nn.2[j]
            }
        }
        return indexedResult(perTuple, reduction: reduction, gradients: computeGradient ? (gx, gy) : nil,
                             unit: normalize ? (x, xDen, y, yDen) : nil, d: d)
    }
}
