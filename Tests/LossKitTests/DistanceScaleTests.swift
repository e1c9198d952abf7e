import CLossKit
import LossKit
import Testing
import _TestSupport

/// Distances and metric losses at feature scales where |x|^2 overflows float
/// (~3e20) or underflows it (~1e-25): every entry point against a plain
/// Double reference, on the C path (every ISA) and the portable one.
@Suite("Distances at extreme feature scales (3e20, 1e-25) vs a Double reference")
struct DistanceScaleTests {
    static let scales: [Float] = [3e20, 1e-25, 1e17, 1e-18]
    static let backends = [Execution.portable, .default]

    /// Rows of three kinds: a shared coordinate at `scale` plus O(1) parts
    /// (O(scale) when tiny), so pairs at distance ~1 with norms ~scale; plain
    /// random rows at `scale`; random rows at scale 1. Plus a duplicate and a
    /// near-duplicate.
    static func features(scale: Float, rows: Int, d: Int, seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        var out: [Float] = []
        for i in 0..<rows - 2 {
            switch i % 3 {
            case 0: out += [scale] + rng.normal(count: d - 1).map { $0 * (scale > 1 ? 1 : scale) }
            case 1: out += rng.normal(count: d).map { $0 * scale }
            default: out += rng.normal(count: d)
            }
        }
        out += Array(out[0..<d]) // a duplicate of row 0
        var near = Array(out[d..<2 * d]) // a near-duplicate of row 1
        near[d - 1] = near[d - 1].nextUp
        return out + near
    }

    /// The metric's distance and its gradient wrt u and v, in Double (the definitions of DistanceMetric).
    static func reference(_ metric: DistanceMetric, _ u: ArraySlice<Float>, _ v: ArraySlice<Float>)
        -> (value: Double, du: [Double], dv: [Double]) {
        let a = u.map(Double.init), b = v.map(Double.init)
        var d2 = 0.0, dot = 0.0, nu = 0.0, nv = 0.0
        for k in a.indices { d2 += (a[k] - b[k]) * (a[k] - b[k]); dot += a[k] * b[k]; nu += a[k] * a[k]; nv += b[k] * b[k] }
        nu = nu.squareRoot(); nv = nv.squareRoot()
        switch metric {
        case .euclidean:
            let D = max(d2, 1e-12).squareRoot()
            let g = a.indices.map { d2 > 1e-12 ? (a[$0] - b[$0]) / D : 0 }
            return (D, g, g.map { -$0 })
        case .squaredEuclidean:
            return (d2, a.indices.map { 2 * (a[$0] - b[$0]) }, a.indices.map { 2 * (b[$0] - a[$0]) })
        case .cosine:
            let cu = max(nu, 1e-8), cv = max(nv, 1e-8)
            // 1 - cos cancels (in Double too) for near-parallel rows; for unit
            // vectors it equals |u/|u| - v/|v||^2 / 2, which does not
            var half = 0.0
            for k in a.indices { half += (a[k] / nu - b[k] / nv) * (a[k] / nu - b[k] / nv) / 2 }
            return (nu >= 1e-8 && nv >= 1e-8 ? half : 1 - dot / (cu * cv),
                    a.indices.map { -b[$0] / (cu * cv) + (nu > 1e-8 ? dot * a[$0] / (cu * cu * cv * nu) : 0) },
                    a.indices.map { -a[$0] / (cu * cv) + (nv > 1e-8 ? dot * b[$0] / (cu * cv * cv * nv) : 0) })
        }
    }

    /// Within 1e-4 relative of the Double reference (a few subnormal steps absolute).
    static func close(_ actual: Float, _ expected: Double, atol: Double = 8 * Double(Float.leastNonzeroMagnitude)) -> Bool {
        isClose(Double(actual), Double(Float(expected)), rtol: 1e-4, atol: atol)
    }

    static func forEachPath(_ body: (Execution, String) throws -> Void) rethrows {
        try body(.portable, "portable")
        try forEachISA { isa in try body(.default, isaName(isa)) }
    }

    @Test("the issue's pair: magnitude 3e20, true distance 1")
    func issuePair() throws {
        try Self.forEachPath { exec, path in
            let D = try pairwiseDistance([3e20, 0.5], [3e20, -0.5, 3e20, 0.5], dimension: 2, execution: exec)
            #expect(D == [1, 1e-6], "\(path): \(D)")
        }
    }

    @Test("pairwiseDistance, every metric, and its gradient")
    func pairwise() throws {
        let d = 7, n = 11, m = 8
        for scale in Self.scales {
            let x = Self.features(scale: scale, rows: n, d: d, seed: 1), y = Self.features(scale: scale, rows: m, d: d, seed: 2) + Array(x[0..<d])
            let mm = m + 1
            var rng = SeededRandom(seed: 3)
            let upstream = rng.normal(count: n * mm)
            for metric in DistanceMetric.allCases {
                var expected = [Double](repeating: 0, count: n * mm)
                var gx = [Double](repeating: 0, count: n * d), gy = [Double](repeating: 0, count: mm * d)
                for i in 0..<n {
                    for j in 0..<mm {
                        let r = Self.reference(metric, x[i * d ..< (i + 1) * d], y[j * d ..< (j + 1) * d])
                        expected[i * mm + j] = r.value
                        for k in 0..<d {
                            gx[i * d + k] += Double(upstream[i * mm + j]) * r.du[k]
                            gy[j * d + k] += Double(upstream[i * mm + j]) * r.dv[k]
                        }
                    }
                }
                try Self.forEachPath { exec, path in
                    let D = try pairwiseDistance(x, y, dimension: d, metric: metric, execution: exec)
                    for k in D.indices {
                        #expect(Self.close(D[k], expected[k]), "\(metric) scale \(scale) \(path) [\(k)]: \(D[k]) vs \(expected[k])")
                    }
                    let g = try pairwiseDistanceGradient(x, y, dimension: d, metric: metric, distances: D, upstream: upstream,
                                                         execution: exec)
                    for (actual, reference) in [(g.x, gx), (g.y, gy)] {
                        let top = reference.map { abs($0) }.max() ?? 0
                        let bad = firstMismatch(actual, reference, rtol: 1e-4, atol: 1e-5 * top)
                        #expect(bad == nil, "\(metric) scale \(scale) \(path) gradient \(bad ?? "")")
                    }
                }
            }
        }
    }

    @Test("the exact-at-any-scale paths are bitwise the same at 1 and 2 threads")
    func threads() throws {
        let d = 16
        for scale in Self.scales {
            let x = Self.features(scale: scale, rows: 300, d: d, seed: 10), labels = (0..<300).map { $0 % 37 }
            var rng = SeededRandom(seed: 11)
            let upstream = rng.normal(count: 300 * 300)
            for metric in DistanceMetric.allCases {
                var results: [[[Float]]] = []
                for threads in [1, 2] {
                    let e = Execution(threads: threads)
                    let D = try pairwiseDistance(x, x, dimension: d, metric: metric, execution: e)
                    let g = try pairwiseDistanceGradient(x, x, dimension: d, metric: metric, distances: D, upstream: upstream, execution: e)
                    let t = try triHardLoss(features: x, labels: labels, dimension: d, metric: metric, reduction: .none, execution: e)
                    results.append([D, g.x, g.y, t.unreduced!, t.gradients![0]])
                }
                #expect(results[0] == results[1], "\(metric) scale \(scale)")
            }
        }
    }

    @Test("Mahalanobis, full and factor forms, squared and not")
    func mahalanobis() throws {
        let d = 4, n = 8, m = 5
        let factor: [Float] = [1, 0.5, 0, -0.25, 0, 2, 0.5, 0, 0, 0, 1, 0.75]  // A [3, 4]
        var full = [Float](repeating: 0, count: d * d) // A^T A, computed in float: symmetric bitwise
        for r in 0..<3 { for i in 0..<d { for j in 0..<d { full[i * d + j] += factor[r * d + i] * factor[r * d + j] } } }
        for scale in Self.scales {
            let x = Self.features(scale: scale, rows: n, d: d, seed: 4), y = Self.features(scale: scale, rows: m, d: d, seed: 5)
            for squared in [false, true] {
                var expected = [Double](repeating: 0, count: n * m)
                for i in 0..<n {
                    for j in 0..<m {
                        var q = 0.0
                        for r in 0..<3 {
                            var t = 0.0
                            for k in 0..<d { t += Double(factor[r * d + k]) * (Double(x[i * d + k]) - Double(y[j * d + k])) }
                            q += t * t
                        }
                        expected[i * m + j] = squared ? q : max(q, 1e-12).squareRoot()
                    }
                }
                try Self.forEachPath { exec, path in
                    for matrix in [MahalanobisMatrix.full(full), .factor(factor, rows: 3)] {
                        let D = try mahalanobisDistance(x, y, dimension: d, matrix: matrix, squared: squared, execution: exec)
                        for k in D.indices {
                            #expect(Self.close(D[k], expected[k]), "scale \(scale) \(path) squared \(squared) [\(k)]: \(D[k]) vs \(expected[k])")
                        }
                    }
                }
            }
        }
    }

    @Test("triplet, improved triplet, quadruplet, contrastive: loss and gradients")
    func alignedLosses() throws {
        let d = 5, n = 9
        for scale in Self.scales {
            let a = Self.features(scale: scale, rows: n, d: d, seed: 6), p = Self.features(scale: scale, rows: n, d: d, seed: 7)
            let q = Self.features(scale: scale, rows: n, d: d, seed: 8), same = (0..<n).map { $0 % 2 == 0 }
            for metric in DistanceMetric.allCases {
                // per row: D(a, p) and D(a, q) in Double, then the losses' formulas
                var triplet = [Double](), contrastive = [Double](), quadruplet = [Double]()
                var gradA = [Double](repeating: 0, count: n * d)
                for i in 0..<n {
                    let ap = Self.reference(metric, a[i * d ..< (i + 1) * d], p[i * d ..< (i + 1) * d])
                    let aq = Self.reference(metric, a[i * d ..< (i + 1) * d], q[i * d ..< (i + 1) * d])
                    let z = ap.value - aq.value + 0.5
                    triplet.append(max(z, 0))
                    for k in 0..<d { gradA[i * d + k] = z > 0 ? ap.du[k] - aq.du[k] : 0 }
                    let h = max(1 - ap.value, 0)
                    contrastive.append(same[i] ? ap.value * ap.value : h * h)
                    let qq = Self.reference(metric, q[i * d ..< (i + 1) * d], q[i * d ..< (i + 1) * d]).value
                    quadruplet.append(max(z, 0) + max(ap.value - qq, 0))
                }
                try Self.forEachPath { exec, path in
                    let t = try tripletLoss(anchor: a, positive: p, negative: q, dimension: d, metric: metric, margin: 0.5,
                                            reduction: .none, execution: exec)
                    let c = try contrastiveLoss(x1: a, x2: p, same: same, dimension: d, metric: metric, reduction: .none, execution: exec)
                    let u = try quadrupletLoss(anchor: a, positive: p, negative1: q, negative2: q, dimension: d, metric: metric,
                                               margin1: 0.5, margin2: 0, reduction: .none, execution: exec)
                    for i in 0..<n {
                        // contrastive's D^2 may overflow float as the true value does: compare as floats
                        #expect(Self.close(t.unreduced![i], triplet[i], atol: 1e-6), "\(metric) \(scale) \(path) triplet [\(i)]")
                        #expect(Self.close(c.unreduced![i], contrastive[i], atol: 1e-6), "\(metric) \(scale) \(path) contrastive [\(i)]")
                        // (negative2 = negative1: D(n1, n2) is the metric's floor)
                        #expect(Self.close(u.unreduced![i], quadruplet[i], atol: 1e-6), "\(metric) \(scale) \(path) quadruplet [\(i)]")
                    }
                    let top = gradA.map { abs($0) }.max() ?? 0
                    let bad = firstMismatch(t.gradients![0], gradA, rtol: 1e-4, atol: 1e-5 * top)
                    #expect(bad == nil, "\(metric) \(scale) \(path) triplet gradient \(bad ?? "")")
                }
            }
        }
    }

    @Test("TriHard: mined pairs, loss and gradient vs mining in Double")
    func triHardScales() throws {
        let d = 6, n = 24
        let labels = (0..<n).map { $0 % 5 }
        for scale in Self.scales {
            let x = Self.features(scale: scale, rows: n, d: d, seed: 9)
            for metric in DistanceMetric.allCases {
                // the reference: distances in Double, hardest positive / negative, ties to the lowest index
                var loss = 0.0, kept = 0
                var expectedP = [Int](repeating: -1, count: n), expectedN = [Int](repeating: -1, count: n)
                for a in 0..<n {
                    var p = -1, q = -1, dp = 0.0, dq = 0.0
                    for j in 0..<n where j != a {
                        let v = Self.reference(metric, x[a * d ..< (a + 1) * d], x[j * d ..< (j + 1) * d]).value
                        if labels[j] == labels[a] { if p < 0 || v > dp { p = j; dp = v } } else if q < 0 || v < dq { q = j; dq = v }
                    }
                    expectedP[a] = p; expectedN[a] = q
                    loss += max(dp - dq + 0.3, 0); kept += 1
                }
                try Self.forEachPath { exec, path in
                    for threads in [1, 2] {
                        let e = Execution(backend: exec.backend, threads: threads)
                        let (r, p, q) = try triHard(features: x, labels: labels, dimension: d, metric: metric, execution: e)
                        #expect(p == expectedP && q == expectedN, "\(metric) \(scale) \(path) mined \(p) \(q)")
                        #expect(Self.close(r.value, loss / Double(kept), atol: 1e-6), "\(metric) \(scale) \(path): \(r.value)")
                        #expect(r.gradients![0].allSatisfy { $0.isFinite }, "\(metric) \(scale) \(path) gradient")
                    }
                }
                let semi = try triHard(features: x, labels: labels, dimension: d, metric: metric, mining: .semiHard)
                let semiPortable = try triHard(features: x, labels: labels, dimension: d, metric: metric, mining: .semiHard,
                                               execution: .portable)
                #expect(semi.hardestNegative == semiPortable.hardestNegative
                        && isClose(Double(semi.result.value), Double(semiPortable.result.value), rtol: 1e-5, atol: 1e-6),
                        "\(metric) \(scale) semi-hard \(semi.hardestNegative) \(semiPortable.hardestNegative) \(semi.hardestPositive) \(semiPortable.hardestPositive)")
            }
        }
    }
}
