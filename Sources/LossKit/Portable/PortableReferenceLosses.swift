import Foundation

extension Portable {
    /// Rows scaled to unit length as torch.nn.functional.normalize (and the C
    /// path, lk_normalize_rows) does: `x / max(|x|, 1e-12)`, the norm in
    /// Double, each value rounded once to Float. Returns the rows and each
    /// row's denominator (NaN for a row holding NaN).
    static func normalizedRows(_ x: [Float], d: Int) -> (rows: [Float], denominators: [Double]) {
        let n = x.count / d
        var out = x, denominators = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var s = 0.0
            for k in 0..<d { s += Double(x[i * d + k]) * Double(x[i * d + k]) }
            let norm = s.squareRoot(), denominator = norm.isNaN ? norm : max(norm, 1e-12)
            denominators[i] = denominator
            for k in 0..<d { out[i * d + k] = Float(Double(x[i * d + k]) / denominator) }
        }
        return (out, denominators)
    }

    /// Chains a gradient wrt the normalized rows (in place) back to the rows
    /// `x` themselves: `(g - (x̂ . g) x̂) / |x|` where `|x| > 1e-12`, `g / 1e-12`
    /// under the clamp (its denominator is then a constant).
    static func normalizeBackward(_ x: [Float], denominators: [Double], d: Int, gradient g: inout [Double]) {
        for (i, denominator) in denominators.enumerated() {
            var dot = 0.0
            if denominator > 1e-12 { for k in 0..<d { dot += Double(x[i * d + k]) / denominator * g[i * d + k] } }
            for k in 0..<d { g[i * d + k] = (g[i * d + k] - dot * (Double(x[i * d + k]) / denominator)) / denominator }
        }
    }

    /// TriHard of queries against references with the whole `q x m` distance
    /// matrix in Double: the twin of losskit_trihard_reference. Mining and the
    /// triplet term are the batch TriHard's (`mineTriplet`,
    /// `tripletTerm`); a reference marked as the query itself is
    /// not a candidate.
    static func triHardReference(queries: [Float], labels: [Int], references: ReferenceSet, d: Int,
                                 metric: DistanceMetric, margin: TripletMargin, mining: NegativeMining, normalize: Bool,
                                 reduction: Reduction, meanCount: Int?, computeGradient: Bool,
                                 threads: Int) -> ReferenceLossResult {
        let q = labels.count, m = references.labels.count
        let (x, xDenominators) = normalize ? normalizedRows(queries, d: d) : (queries, [])
        let (y, yDenominators) = normalize ? normalizedRows(references.features, d: d) : (references.features, [])
        let dist = distanceMatrix(x, q, y, m, d: d, metric: metric, threads: threads)
        var pos = [Int](repeating: -1, count: q), neg = [Int](repeating: -1, count: q)
        for a in 0..<q {
            let isPositive = { (j: Int) -> Bool? in
                references.queryIndex?[j] == a ? nil : references.labels[j] == labels[a]
            }
            guard let (p, n) = mineTriplet(count: m, mining: mining, distance: { dist[a * m + $0] },
                                           isPositive: isPositive) else { continue }
            pos[a] = p; neg[a] = n
        }
        let kept = pos.filter { $0 >= 0 }.count
        let divisor = meanCount ?? kept
        let scale = reduction == .mean ? (divisor > 0 ? 1 / Double(divisor) : 0) : 1
        var gq = [Double](repeating: 0, count: x.count), gr = [Double](repeating: 0, count: y.count)
        var rows = [Float](repeating: 0, count: q)
        var total = 0.0
        for a in 0..<q where pos[a] >= 0 {
            let (p, n) = (pos[a], neg[a])
            let ap = distance(metric, x[a * d ..< (a + 1) * d], y[p * d ..< (p + 1) * d])
            let an = distance(metric, x[a * d ..< (a + 1) * d], y[n * d ..< (n + 1) * d])
            let (l, s) = tripletTerm(ap.0 - an.0 + Double(margin.margin), soft: margin.isSoft == 1)
            rows[a] = Float(l)
            total += Double(Float(l))
            for k in 0..<d {
                gq[a * d + k] += s * scale * (ap.1[k] - an.1[k])
                gr[p * d + k] += s * scale * ap.2[k]
                gr[n * d + k] -= s * scale * an.2[k]
            }
        }
        if normalize && computeGradient {
            normalizeBackward(queries, denominators: xDenominators, d: d, gradient: &gq)
            normalizeBackward(references.features, denominators: yDenominators, d: d, gradient: &gr)
        }
        let value: Float = reduction == .mean ? (divisor > 0 ? Float(total / Double(divisor)) : 0) : Float(total)
        return ReferenceLossResult(value: value, unreduced: reduction == .none ? rows : nil,
                                   queryGradient: computeGradient ? gq.map(Float.init) : nil,
                                   referenceGradient: computeGradient ? gr.map(Float.init) : nil,
                                   hardestPositive: pos, hardestNegative: neg)
    }
}
