import Foundation

extension Portable {
    /// Landmark NME, AUC and failure rate, sample by sample in Double.
    static func evaluateLandmarks(_ pred: [Float], _ target: [Float], n: Int, k: Int,
                                  normalization: LandmarkNormalization, threshold: Double) -> LandmarkEvaluation {
        func point(_ s: Int, _ l: Int) -> (Double, Double) {
            (Double(target[(s * k + l) * 2]), Double(target[(s * k + l) * 2 + 1]))
        }
        var nme: [Double] = []
        for s in 0..<n {
            var sum = 0.0
            for l in 0..<k {
                let dx = Double(pred[(s * k + l) * 2]) - Double(target[(s * k + l) * 2])
                let dy = Double(pred[(s * k + l) * 2 + 1]) - Double(target[(s * k + l) * 2 + 1])
                sum += (dx * dx + dy * dy).squareRoot()
            }
            let scale: Double
            switch normalization {
            case let .interOcular(left, right):
                let (a, b) = (point(s, left), point(s, right))
                scale = ((a.0 - b.0) * (a.0 - b.0) + (a.1 - b.1) * (a.1 - b.1)).squareRoot()
            case let .interPupil(left, right, points):
                var (lx, ly, rx, ry) = (0.0, 0.0, 0.0, 0.0)
                for e in 0..<points {
                    lx += point(s, left + e).0; ly += point(s, left + e).1
                    rx += point(s, right + e).0; ry += point(s, right + e).1
                }
                let dx = (lx - rx) / Double(points), dy = (ly - ry) / Double(points)
                scale = (dx * dx + dy * dy).squareRoot()
            case .boundingBoxDiagonal, .boundingBoxArea:
                let xs = (0..<k).map { point(s, $0).0 }, ys = (0..<k).map { point(s, $0).1 }
                if xs.contains(where: \.isNaN) || ys.contains(where: \.isNaN) { scale = .nan; break }
                let w = xs.max()! - xs.min()!, h = ys.max()! - ys.min()!
                scale = normalization == .boundingBoxDiagonal ? (w * w + h * h).squareRoot() : (w * h).squareRoot()
            }
            nme.append(sum / Double(k) / scale)
        }
        let mean = n > 0 ? nme.reduce(0, +) / Double(n) : .nan
        let area = nme.reduce(0.0) { $0 + ($1 <= threshold ? threshold - $1 : 0) }
        let failed = nme.filter { !($0 <= threshold) }.count
        return LandmarkEvaluation(perSample: nme, meanNME: mean, threshold: threshold,
                                  auc: n > 0 ? area / Double(n) / threshold : .nan,
                                  failureRate: n > 0 ? Double(failed) / Double(n) : .nan)
    }

    /// The share of NMEs at or below each threshold.
    static func ced(_ nme: [Double], thresholds: [Double]) -> [Double] {
        thresholds.map { t in nme.isEmpty ? .nan : Double(nme.filter { $0 <= t }.count) / Double(nme.count) }
    }
}
