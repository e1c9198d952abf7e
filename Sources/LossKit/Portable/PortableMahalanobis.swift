extension Portable {
    /// `(x - y)^T M (x - y)` pair by pair in Double, straight from `M` (or
    /// `|A (x - y)|^2` from a factor): no factorization, so it checks the C
    /// path's. PSD is checked from the eigenvalues of cyclic Jacobi sweeps.
    static func mahalanobisDistance(_ x: [Float], _ y: [Float], n: Int, m: Int, d: Int, matrix: [Float], factorRows: Int,
                                    squared: Bool) throws -> [Float] {
        var quadratic = [Double](repeating: 0, count: d * d) // symmetric M in double
        if factorRows > 0 {
            for r in 0..<factorRows {
                for i in 0..<d {
                    for j in 0..<d { quadratic[i * d + j] += Double(matrix[r * d + i]) * Double(matrix[r * d + j]) }
                }
            }
        } else {
            for i in 0..<d {
                for j in 0..<d { quadratic[i * d + j] = 0.5 * (Double(matrix[i * d + j]) + Double(matrix[j * d + i])) }
            }
            let eigenvalues = symmetricEigenvalues(quadratic, d)
            let top = eigenvalues.map { abs($0) }.max() ?? 0
            if let low = eigenvalues.min(), low < -Double(d) * Double(Float.ulpOfOne) * top {
                throw LossKitError.notPositiveSemidefinite(argument: "matrix", reason: "its smallest eigenvalue is \(low)")
            }
        }
        var out = [Float](repeating: 0, count: n * m)
        var diff = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<m {
                for k in 0..<d { diff[k] = Double(x[i * d + k]) - Double(y[j * d + k]) }
                var q = 0.0
                for a in 0..<d {
                    var row = 0.0
                    for b in 0..<d { row += quadratic[a * d + b] * diff[b] }
                    q += diff[a] * row
                }
                q = q.isNaN ? q : max(q, 0)
                out[i * m + j] = Float(squared ? q : (q.isNaN ? q : max(q, 1e-12)).squareRoot())
            }
        }
        return out
    }

    /// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (plain,
    /// O(d^3) per sweep; sweeps until the off-diagonal part is negligible).
    static func symmetricEigenvalues(_ matrix: [Double], _ d: Int) -> [Double] {
        var a = matrix
        for _ in 0..<100 {
            var off = 0.0, total = 0.0
            for i in 0..<d {
                for j in 0..<d {
                    total += a[i * d + j] * a[i * d + j]
                    if i != j { off += a[i * d + j] * a[i * d + j] }
                }
            }
            if off <= 1e-30 * total || off == 0 { break }
            for p in 0..<d {
                for q in (p + 1)..<d where a[p * d + q] != 0 {
                    let theta = (a[q * d + q] - a[p * d + p]) / (2 * a[p * d + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<d { // rotate columns p, q
                        let akp = a[k * d + p], akq = a[k * d + q]
                        a[k * d + p] = c * akp - s * akq
                        a[k * d + q] = s * akp + c * akq
                    }
                    for k in 0..<d { // and rows p, q
                        let apk = a[p * d + k], aqk = a[q * d + k]
                        a[p * d + k] = c * apk - s * aqk
                        a[q * d + k] = s * apk + c * aqk
                    }
                }
            }
        }
        return (0..<d).map { a[$0 * d + $0] }
    }
}
