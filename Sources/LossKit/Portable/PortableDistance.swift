import Foundation

extension Portable {
    /// Distances pair by pair, in Double.
    static func pairwiseDistance(_ x: [Float], _ y: [Float], n: Int, m: Int, d: Int, metric: DistanceMetric) -> [Float] {
        var out = [Float](repeating: 0, count: n * m)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                for i in 0..<n {
                    for j in 0..<m { out[i * m + j] = Float(distanceValue(metric, x, i, y, j, d)) }
                }
            }
        }
        return out
    }

    /// The metric's distance between row i of x and row j of y (d values each), in Double.
    static func distanceValue(_ metric: DistanceMetric, _ x: UnsafeBufferPointer<Float>, _ i: Int,
                              _ y: UnsafeBufferPointer<Float>, _ j: Int, _ d: Int) -> Double {
        var d2 = 0.0, dot = 0.0, nx = 0.0, ny = 0.0
        for k in 0..<d {
            let a = Double(x[i * d + k]), b = Double(y[j * d + k])
            d2 += (a - b) * (a - b)
            dot += a * b
            nx += a * a
            ny += b * b
        }
        if d2.isNaN { return .nan }
        switch metric {
        case .euclidean: return max(d2, 1e-12).squareRoot()
        case .squaredEuclidean: return d2
        case .cosine:
            return cosineDistance(dot: dot, nx.squareRoot(), ny.squareRoot(), count: d) { k in (Double(x[i * d + k]), Double(y[j * d + k])) }
        }
    }

    /// `1 - dot / (max(nx, 1e-8) max(ny, 1e-8))`; near-parallel (below 0.1),
    /// where that cancels even in Double (norms 3e20 at distance 1: 1e-41
    /// comes out 0), `|u/nx - v/ny|^2 / 2` from the d pairs `pair(k)`, the
    /// same for unit vectors, as the C path computes it.
    static func cosineDistance(dot: Double, _ nx: Double, _ ny: Double, count: Int,
                               _ pair: (Int) -> (Double, Double)) -> Double {
        let value = 1 - dot / (max(nx, 1e-8) * max(ny, 1e-8))
        guard value < 0.1, nx >= 1e-8, ny >= 1e-8 else { return value }
        var s = 0.0
        for k in 0..<count {
            let (a, b) = pair(k)
            s += (a / nx - b / ny) * (a / nx - b / ny)
        }
        return s / 2
    }

    /// The gradients of sum_ij upstream[i, j] D(x_i, y_j), pair by pair in Double.
    static func pairwiseDistanceGradient(_ x: [Float], _ y: [Float], n: Int, m: Int, d: Int, metric: DistanceMetric,
                                         upstream: [Float]) -> (x: [Float], y: [Float]) {
        var gx = [Double](repeating: 0, count: n * d), gy = [Double](repeating: 0, count: m * d)
        for i in 0..<n {
            for j in 0..<m {
                let g = Double(upstream[i * m + j])
                let (dist, gu, gv) = distance(metric, x[i * d ..< (i + 1) * d], y[j * d ..< (j + 1) * d])
                // a NaN feature poisons its gradients (the Euclidean clamp would zero them)
                let scale = dist.isNaN ? Double.nan : g
                for k in 0..<d {
                    gx[i * d + k] += scale * gu[k]
                    gy[j * d + k] += scale * gv[k]
                }
            }
        }
        return (gx.map(Float.init), gy.map(Float.init))
    }
}
