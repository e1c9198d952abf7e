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
    /// TriHard with the whole distance matrix, in Double.
    static func triHard(_ x: [Float], _ labels: [Int], d: Int, metric: DistanceMetric, margin: Float?, mining: NegativeMining,
                        reduction: Reduction, computeGradient: Bool,
                        threads: Int = 1) -> (result: TupleLossResult, hardestPositive: [Int], hardestNegative: [Int]) {
        let n = labels.count
        func row(_ i: Int) -> ArraySlice<Float> { x[i * d ..< (i + 1) * d] }
        // the whole matrix, rows split over threads (each writes its own rows)
        var dist = [Double](repeating: 0, count: n * n)
        dist.withUnsafeMutableBufferPointer { out in
            x.withUnsafeBufferPointer { x in
                let shared = UncheckedSendable((out, x))
                let workers = n * n * d < parallelMinimum ? 1 : max(1, min(threads, n))
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    let (out, x) = shared.value
                    for i in stride(from: worker, to: n, by: workers) {
                        for j in 0..<n { out[i * n + j] = distanceValue(metric, x, i, x, j, d) }
                    }
                }
            }
        }
        var pos = [Int](repeating: -1, count: n), neg = [Int](repeating: -1, count: n)
        for a in 0..<n {
            var p = -1, q = -1
            // NaN wins a max or a min, as torch.max / torch.min do in reid-strong-baseline's mining
            func beats(_ v: Double, _ best: Double, above: Bool) -> Bool {
                (above ? v > best : v < best) || (v.isNaN && !best.isNaN)
            }
            for j in 0..<n where j != a {
                if labels[j] == labels[a] { if p < 0 || beats(dist[a * n + j], dist[a * n + p], above: true) { p = j } }
                else if q < 0 || beats(dist[a * n + j], dist[a * n + q], above: false) { q = j }
            }
            guard p >= 0, q >= 0 else { continue }
            if mining == .semiHard {
                var semi = -1
                for j in 0..<n where labels[j] != labels[a] && dist[a * n + j] > dist[a * n + p] {
                    if semi < 0 || dist[a * n + j] < dist[a * n + semi] { semi = j }
                }
                if semi >= 0 { q = semi }
            }
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
            let (l, s): (Double, Double) = margin.map { m in (max(z + Double(m), 0), z + Double(m) > 0 ? 1 : 0) }
                ?? (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)), 1 / (1 + exp(-z)))
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
