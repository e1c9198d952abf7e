import Foundation

extension Portable {
    /// Softmax losses row by row, in Double, rounded to Float at the end.
    static func softmax(
        _ loss: SoftmaxLoss, _ logits: UnsafeBufferPointer<Float>, _ labels: UnsafeBufferPointer<Int>,
        classes: Int, ignoreIndex: Int, reduction: Reduction,
        unreduced: UnsafeMutableBufferPointer<Float>?, gradient: UnsafeMutableBufferPointer<Float>?, threads: Int
    ) -> Float {
        let rows = labels.count
        var weights: [Float]? = nil
        var eps: Double = 0
        if case let .crossEntropy(w, s) = loss { weights = w; eps = Double(s) }
        let weight = { (c: Int) -> Double in weights.map { Double($0[c]) } ?? 1 }
        let weightTotal = (0..<classes).reduce(0.0) { $0 + weight($1) }

        var denominator = 0.0
        for y in labels where y != ignoreIndex {
            if case .crossEntropy = loss { denominator += weight(y) } else { denominator += 1 }
        }
        // a mean over zero total weight is 0/0: NaN value, NaN gradient on the counted rows (PyTorch)
        let scale = reduction == .mean ? (denominator > 0 ? 1 / denominator : .nan) : 1

        let rowsPerChunk = max(1, chunk / classes)
        let sum = chunkedSum(count: rows, chunk: rowsPerChunk, threads: threads) { range in
            var acc = 0.0
            for i in range {
                let row = UnsafeBufferPointer(rebasing: logits[i * classes ..< (i + 1) * classes])
                let y = labels[i]
                var l = 0.0
                if y == ignoreIndex {
                    for j in 0..<classes { gradient?[i * classes + j] = 0 }
                } else {
                    let m = Double(row.max(by: { $0 < $1 || $0.isNaN }) ?? 0)
                    var s = 0.0
                    for v in row { s += exp(Double(v) - m) }
                    let lse = m + log(s)
                    let p = { (j: Int) -> Double in exp(Double(row[j]) - lse) }
                    switch loss {
                    case .crossEntropy:
                        l = (1 - eps) * weight(y) * (lse - Double(row[y]))
                        if eps > 0 { // skipped at eps = 0, so a -inf logit elsewhere does not give 0 * inf
                            var smooth = 0.0
                            for c in 0..<classes { smooth += weight(c) * (lse - Double(row[c])) }
                            l += eps / Double(classes) * smooth
                        }
                        if gradient != nil {
                            let a = (1 - eps) * weight(y), b = eps / Double(classes)
                            for j in 0..<classes {
                                let g = p(j) * (a + b * weightTotal) - (j == y ? a : 0) - b * weight(j)
                                gradient![i * classes + j] = Float(g * scale)
                            }
                        }
                    case let .focal(alpha, gamma):
                        let logp = Double(row[y]) - lse
                        let py = exp(logp)
                        var q = 0.0                           // 1 - p_y from the other classes
                        for c in 0..<classes where c != y { q += p(c) }
                        let mq = pow(q, Double(gamma))
                        let dm = q > 0 ? Double(gamma) * mq / q : 0
                        l = -Double(alpha) * mq * logp
                        if gradient != nil {
                            let k = -Double(alpha) * (mq - dm * py * logp)
                            for j in 0..<classes {
                                gradient![i * classes + j] = Float(k * ((j == y ? 1 : 0) - p(j)) * scale)
                            }
                        }
                    }
                    if row.contains(where: { $0.isNaN }) {
                        l = .nan
                        for j in 0..<classes { gradient?[i * classes + j] = .nan }
                    }
                }
                unreduced?[i] = Float(l)
                acc += Double(Float(l))
            }
            return acc
        }
        return reduction == .mean ? (denominator > 0 ? Float(sum / denominator) : .nan) : Float(sum)
    }

    /// Softmax cross-entropy with probability targets, row by row in Double:
    /// loss sum_c u_c (lse - x_c), gradient p_j U - u_j, u_c = w_c ((1 - eps) t_c + eps / C).
    static func softmaxSoft(
        _ logits: UnsafeBufferPointer<Float>, _ targets: UnsafeBufferPointer<Float>, classes: Int,
        classWeights: [Float]?, labelSmoothing: Float, reduction: Reduction,
        unreduced: UnsafeMutableBufferPointer<Float>?, gradient: UnsafeMutableBufferPointer<Float>?, threads: Int
    ) -> Float {
        let rows = logits.count / classes
        let eps = Double(labelSmoothing)
        let scale = reduction == .mean ? 1 / Double(rows) : 1
        let weight = (0..<classes).map { c in classWeights.map { Double($0[c]) } ?? 1 }
        let u = { (i: Int, c: Int) -> Double in
            ((1 - eps) * Double(targets[i * classes + c]) + eps / Double(classes)) * weight[c]
        }
        let sum = chunkedSum(count: rows, chunk: max(1, chunk / classes), threads: threads) { range in
            var acc = 0.0
            for i in range {
                let row = UnsafeBufferPointer(rebasing: logits[i * classes ..< (i + 1) * classes])
                let m = Double(row.max(by: { $0 < $1 || $0.isNaN }) ?? 0)
                var s = 0.0
                for v in row { s += exp(Double(v) - m) }
                let lse = m + log(s)
                var l = 0.0, total = 0.0
                for c in 0..<classes {
                    l += u(i, c) * (lse - Double(row[c])) // u = 0 at a -inf logit: NaN, as PyTorch
                    total += u(i, c)
                }
                if gradient != nil {
                    for j in 0..<classes {
                        gradient![i * classes + j] = Float((exp(Double(row[j]) - lse) * total - u(i, j)) * scale)
                    }
                }
                unreduced?[i] = Float(l)
                acc += Double(Float(l))
            }
            return acc
        }
        return reduction == .mean ? (rows > 0 ? Float(sum / Double(rows)) : .nan) : Float(sum)
    }
}
