import Foundation

extension Portable {
    enum TupleKind {
        case contrastive(same: [Bool], squared: Bool)
        case triplet(improved: Bool)
        case quadruplet
    }

    /// Distance between two rows in Double, and its gradient wrt each.
    static func distance(_ metric: DistanceMetric, _ u: ArraySlice<Float>, _ v: ArraySlice<Float>) -> (Double, [Double], [Double]) {
        let a = u.map(Double.init), b = v.map(Double.init)
        let diff = zip(a, b).map { $0 - $1 }
        let d2 = diff.reduce(0) { $0 + $1 * $1 }
        switch metric {
        case .euclidean:
            let dist = max(d2, 1e-12).squareRoot()
            let g = d2 > 1e-12 ? diff.map { $0 / dist } : diff.map { _ in 0.0 }
            return (dist, g, g.map { -$0 })
        case .squaredEuclidean:
            return (d2, diff.map { 2 * $0 }, diff.map { -2 * $0 })
        case .cosine:
            let dot = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
            let nu = a.reduce(0) { $0 + $1 * $1 }.squareRoot(), nv = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let cu = max(nu, 1e-8), cv = max(nv, 1e-8)
            let dist = cosineDistance(dot: dot, nu, nv, count: a.count) { (a[$0], b[$0]) }
            // d/du of -dot/(cu cv): -v/(cu cv) + dot u / (cu^2 cv |u|) where |u| > 1e-8
            let gu = a.indices.map { k in -b[k] / (cu * cv) + (nu > 1e-8 ? dot * a[k] / (cu * cu * cv * nu) : 0) }
            let gv = b.indices.map { k in -a[k] / (cu * cv) + (nv > 1e-8 ? dot * b[k] / (cu * cv * cv * nv) : 0) }
            return (dist, gu, gv)
        }
    }

    static func tupleLoss(_ kind: TupleKind, _ inputs: [[Float]], d: Int, metric: DistanceMetric, margins: (Float, Float),
                          reduction: Reduction, computeGradient: Bool) -> TupleLossResult {
        let n = inputs[0].count / d
        let scale = reduction == .mean ? 1 / Double(n) : 1
        var grads = inputs.map { [Double](repeating: 0, count: $0.count) }
        var rows = [Float](repeating: 0, count: n)
        func row(_ k: Int, _ i: Int) -> ArraySlice<Float> { inputs[k][i * d ..< (i + 1) * d] }
        func add(_ k: Int, _ i: Int, _ g: [Double], _ s: Double) {
            for j in 0..<d { grads[k][i * d + j] += s * g[j] * scale }
        }
        let m1 = Double(margins.0), m2 = Double(margins.1)
        for i in 0..<n {
            var l = 0.0
            switch kind {
            case let .contrastive(same, squared):
                let (dist, gu, gv) = distance(metric, row(0, i), row(1, i))
                let y: Double = same[i] ? 1 : 0
                var dLdD: Double
                if squared {
                    let s = dist * dist, h = max(m1 - s, 0)
                    l = y * s + (1 - y) * h * h
                    dLdD = (y - 2 * (1 - y) * h) * 2 * dist
                } else {
                    let h = max(m1 - dist, 0)
                    l = y * dist * dist + (1 - y) * h * h
                    dLdD = 2 * y * dist - 2 * (1 - y) * h
                }
                add(0, i, gu, dLdD); add(1, i, gv, dLdD)
            case let .triplet(improved):
                let ap = distance(metric, row(0, i), row(1, i)), an = distance(metric, row(0, i), row(2, i))
                let z = ap.0 - an.0 + m1, on: Double = z > 0 ? 1 : 0
                l = max(z, 0) + (improved ? ap.0 : 0)
                let sp = on + (improved ? 1 : 0)
                add(0, i, ap.1, sp); add(1, i, ap.2, sp)
                add(0, i, an.1, -on); add(2, i, an.2, -on)
            case .quadruplet:
                let ap = distance(metric, row(0, i), row(1, i)), an = distance(metric, row(0, i), row(2, i))
                let nn = distance(metric, row(2, i), row(3, i))
                let z1 = ap.0 - an.0 + m1, z2 = ap.0 - nn.0 + m2
                let a1: Double = z1 > 0 ? 1 : 0, a2: Double = z2 > 0 ? 1 : 0
                l = max(z1, 0) + max(z2, 0)
                add(0, i, ap.1, a1 + a2); add(1, i, ap.2, a1 + a2)
                add(0, i, an.1, -a1); add(2, i, an.2, -a1)
                add(2, i, nn.1, -a2); add(3, i, nn.2, -a2)
            }
            if inputs.contains(where: { input in input[i * d ..< (i + 1) * d].contains(where: \.isNaN) }) { l = .nan }
            rows[i] = Float(l)
        }
        let sum = rows.reduce(0.0) { $0 + Double($1) }
        let value = reduction == .mean ? Float(sum / Double(n)) : Float(sum)
        return TupleLossResult(value: value, unreduced: reduction == .none ? rows : nil,
                               gradients: computeGradient ? grads.map { $0.map(Float.init) } : nil)
    }
}

extension Portable {
    /// The `n x m` distances between the rows of x and of y, in Double; rows
    /// split over threads (each worker writes its own rows, so the values do
    /// not depend on the thread count).
    static func distanceMatrix(_ x: [Float], _ n: Int, _ y: [Float], _ m: Int, d: Int, metric: DistanceMetric,
                               threads: Int) -> [Double] {
        var dist = [Double](repeating: 0, count: n * m)
        dist.withUnsafeMutableBufferPointer { out in
            x.withUnsafeBufferPointer { x in
                y.withUnsafeBufferPointer { y in
                    let shared = UncheckedSendable((out, x, y))
                    let workers = n * m * d < parallelMinimum ? 1 : max(1, min(threads, n))
                    DispatchQueue.concurrentPerform(iterations: workers) { worker in
                        let (out, x, y) = shared.value
                        for i in stride(from: worker, to: n, by: workers) {
                            for j in 0..<m { out[i * m + j] = distanceValue(metric, x, i, y, j, d) }
                        }
                    }
                }
            }
        }
        return dist
    }

    /// One anchor's mined pair among `count` candidates: `isPositive(j)` true
    /// for a positive, false for a negative, nil for a candidate to skip (the
    /// anchor itself). The farthest positive and the closest negative (semi-hard:
    /// the closest negative farther than that positive, else the closest);
    /// ties take the lowest index, and NaN wins a max or a min, as torch.max /
    /// torch.min do in reid-strong-baseline's mining. Nil: no positive or no negative.
    static func mineTriplet(count: Int, mining: NegativeMining, distance: (Int) -> Double,
                            isPositive: (Int) -> Bool?) -> (positive: Int, negative: Int)? {
        var p = -1, q = -1
        func beats(_ v: Double, _ best: Double, above: Bool) -> Bool {
            (above ? v > best : v < best) || (v.isNaN && !best.isNaN)
        }
        for j in 0..<count {
            guard let positive = isPositive(j) else { continue }
            if positive { if p < 0 || beats(distance(j), distance(p), above: true) { p = j } }
            else if q < 0 || beats(distance(j), distance(q), above: false) { q = j }
        }
        guard p >= 0, q >= 0 else { return nil }
        if mining == .semiHard {
            var semi = -1
            for j in 0..<count where isPositive(j) == false && distance(j) > distance(p) {
                if semi < 0 || distance(j) < distance(semi) { semi = j }
            }
            if semi >= 0 { q = semi }
        }
        return (p, q)
    }

    /// A triplet term at `t = D(a,p) - D(a,n) + margin` and its slope d/dt:
    /// `max(t, 0)`, or `softplus(t)` when `soft`.
    static func tripletTerm(_ t: Double, soft: Bool) -> (loss: Double, slope: Double) {
        soft ? (t > 0 ? t + log1p(exp(-t)) : log1p(exp(t)), 1 / (1 + exp(-t))) : (max(t, 0), t > 0 ? 1 : 0)
    }

    /// TriHard with the whole distance matrix, in Double.
    static func triHard(_ x: [Float], _ labels: [Int], d: Int, metric: DistanceMetric, margin: Float?, mining: NegativeMining,
                        reduction: Reduction, computeGradient: Bool,
                        threads: Int = 1) -> (result: TupleLossResult, hardestPositive: [Int], hardestNegative: [Int]) {
        let n = labels.count
        func row(_ i: Int) -> ArraySlice<Float> { x[i * d ..< (i + 1) * d] }
        let dist = distanceMatrix(x, n, x, n, d: d, metric: metric, threads: threads)
        var pos = [Int](repeating: -1, count: n), neg = [Int](repeating: -1, count: n)
        for a in 0..<n {
            guard let (p, q) = mineTriplet(count: n, mining: mining, distance: { dist[a * n + $0] },
                                           isPositive: { j in j == a ? nil : labels[j] == labels[a] }) else { continue }
            pos[a] = p; neg[a] = q
        }
        let kept = pos.filter { $0 >= 0 }.count
        let scale = reduction == .mean ? (kept > 0 ? 1 / Double(kept) : 0) : 1
        var grad = [Double](repeating: 0, count: x.count)
        var rows = [Float](repeating: 0, count: n)
        var total = 0.0
        for a in 0..<n where pos[a] >= 0 {
            let ap = distance(metric, row(a), row(pos[a])), an = distance(metric, row(a), row(neg[a]))
            let z = ap.0 - an.0
            let (l, s) = margin.map { tripletTerm(z + Double($0), soft: false) } ?? tripletTerm(z, soft: true)
            rows[a] = Float(l)
            total += Double(Float(l))
            for k in 0..<d {
                grad[a * d + k] += s * scale * (ap.1[k] - an.1[k])
                grad[pos[a] * d + k] += s * scale * ap.2[k]
                grad[neg[a] * d + k] -= s * scale * an.2[k]
            }
        }
        let value: Float = reduction == .mean ? (kept > 0 ? Float(total / Double(kept)) : 0) : Float(total)
        let result = TupleLossResult(value: value, unreduced: reduction == .none ? rows : nil,
                                     gradients: computeGradient ? [grad.map(Float.init)] : nil)
        return (result, pos, neg)
    }
}
