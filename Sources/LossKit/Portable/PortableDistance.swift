import Foundation

extension Portable {
    /// Distances pair by pair, in Double.
    static func pairwiseDistance(_ x: [Float], _ y: [Float], n: Int, m: Int, d: Int, metric: DistanceMetric) -> [Float] {
        var out = [Float](repeating: 0, count: n * m)
        for i in 0..<n {
            for j in 0..<m {
                var d2 = 0.0, dot = 0.0, nx = 0.0, ny = 0.0
                for k in 0..<d {
                    let a = Double(x[i * d + k]), b = Double(y[j * d + k])
                    d2 += (a - b) * (a - b)
                    dot += a * b
                    nx += a * a
                    ny += b * b
                }
                switch metric {
                case .euclidean: out[i * m + j] = Float(max(d2, 1e-12).squareRoot())
                case .squaredEuclidean: out[i * m + j] = Float(d2)
                case .cosine:
                    out[i * m + j] = Float(1 - dot / (max(nx.squareRoot(), 1e-8) * max(ny.squareRoot(), 1e-8)))
                }
                if d2.isNaN { out[i * m + j] = .nan }
            }
        }
        return out
    }
}
