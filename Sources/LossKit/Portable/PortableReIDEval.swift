import Foundation

extension Portable {
    /// The ranking of one distance row: ascending, NaN last, ties by index (a full sort, unlike the C path).
    static func ranking(_ row: ArraySlice<Float>) -> [Int] {
        let base = row.startIndex
        return (0..<row.count).sorted { a, b in
            let x = row[base + a], y = row[base + b]
            if x.isNaN || y.isNaN { return x.isNaN == y.isNaN ? a < b : y.isNaN }
            return x < y || (x == y && a < b)
        }
    }

    /// eval_func of reid-strong-baseline, query by query over a sorted ranking.
    static func evaluateReID(distances: [Float], labels: ReIDLabels, kind: ReIDAveragePrecision,
                             maxRank: Int) -> ReIDEvaluation {
        let q = labels.queryIDs.count, g = labels.galleryIDs.count
        var ap = [Double](repeating: .nan, count: q), first = [Int](repeating: -1, count: q)
        var cmc = [Double](repeating: 0, count: maxRank)
        var evaluated = 0, sum = 0.0
        for i in 0..<q {
            let qid = labels.queryIDs[i], qcam = labels.queryCameras[i]
            // keep: not junk, not (same identity and camera); hit: same identity
            var hits: [Bool] = []
            for j in ranking(distances[i * g ..< (i + 1) * g]) {
                let gid = labels.galleryIDs[j]
                if gid == -1 || (gid == qid && labels.galleryCameras[j] == qcam) { continue }
                hits.append(gid == qid)
            }
            let total = hits.filter { $0 }.count
            guard total > 0 else { continue }
            var found = 0, value = 0.0
            for (rank, hit) in hits.enumerated() where hit {
                if found == 0 { first[i] = rank }
                let precision = Double(found + 1) / Double(rank + 1)
                if kind == .market1501 {
                    let previous = rank == 0 ? 1.0 : Double(found) / Double(rank)
                    value += (previous + precision) / 2
                } else {
                    value += precision
                }
                found += 1
            }
            ap[i] = value / Double(total)
            evaluated += 1
            sum += ap[i]
            for r in first[i] ..< max(first[i], maxRank) { cmc[r] += 1 }
        }
        for r in 0..<maxRank { cmc[r] = evaluated > 0 ? cmc[r] / Double(evaluated) : .nan }
        return ReIDEvaluation(cmc: cmc, meanAveragePrecision: evaluated > 0 ? sum / Double(evaluated) : .nan,
                              averagePrecision: ap, firstMatchRank: first, evaluatedQueries: evaluated)
    }

    /// Rows divided by max(|row|, 1e-12) (norm in Double, division in Float).
    static func l2Normalized(_ x: [Float], d: Int) -> [Float] {
        var out = x
        for i in 0 ..< x.count / d {
            var s = 0.0
            for k in 0..<d { s += Double(x[i * d + k]) * Double(x[i * d + k]) }
            let norm = s.squareRoot()
            let div = Float(norm.isNaN ? norm : max(norm, 1e-12))
            for k in 0..<d { out[i * d + k] = x[i * d + k] / div }
        }
        return out
    }

    /// The reference re-ranking written densely over the (Q+G)^2 matrix, in Float32 (small inputs only).
    static func kReciprocalRerank(query: [Float], gallery: [Float], d: Int, galleryIDs: [Int64]?, normalize: Bool,
                                  parameters: ReRanking) -> [Float] {
        let q = query.count / d, g = gallery.count / d
        let kept = (0..<g).filter { galleryIDs?[$0] != -1 }
        var feat = query
        for t in kept { feat += gallery[t * d ..< (t + 1) * d] }
        if normalize { feat = l2Normalized(feat, d: d) }
        let n = q + kept.count
        var out = [Float](repeating: .infinity, count: q * g)
        if feat.contains(where: { $0.isNaN }) { return [Float](repeating: .nan, count: q * g) }
        // distances (squared), symmetric, self 0
        var dist = [Float](repeating: 0, count: n * n)
        feat.withUnsafeBufferPointer { f in
            for i in 0..<n {
                for j in (i + 1) ..< max(i + 1, n) {
                    let v = Float(distanceValue(.squaredEuclidean, f, i, f, j, d))
                    dist[i * n + j] = v
                    dist[j * n + i] = v
                }
            }
        }
        var rowmax = [Float](repeating: 0, count: n)
        for i in 0..<n { for j in 0..<n { rowmax[i] = max(rowmax[i], dist[i * n + j]) } }
        // ranking: itself first, then ascending distance, ties by index
        var rank: [[Int]] = []
        for i in 0..<n {
            let others = (0..<n).filter { $0 != i }.sorted { a, b in
                dist[i * n + a] < dist[i * n + b] || (dist[i * n + a] == dist[i * n + b] && a < b)
            }
            rank.append([i] + others)
        }
        func reciprocalSet(_ i: Int, _ k: Int) -> [Int] {
            rank[i].prefix(k + 1).filter { rank[$0].prefix(k + 1).contains(i) }
        }
        let k1 = parameters.k1
        let half = Int((Double(k1) / 2).rounded(.toNearestOrEven))
        var V = [[Int: Float]](repeating: [:], count: n)
        for i in 0..<n {
            let r = reciprocalSet(i, k1)
            var expansion = r
            for c in r {
                let cr = reciprocalSet(c, half)
                let common = cr.filter { r.contains($0) }.count
                if Double(common) > 2.0 / 3.0 * Double(cr.count) { expansion += cr }
            }
            let set = Array(Set(expansion)).sorted()
            let w = set.map { exp(-Double(dist[i * n + $0] / rowmax[i])) }
            let total = w.reduce(0, +)
            for (a, c) in set.enumerated() { V[i][c] = Float(w[a] / total) }
        }
        if parameters.k2 != 1 {
            var expanded = [[Int: Float]](repeating: [:], count: n)
            for i in 0..<n {
                let near = rank[i].prefix(parameters.k2)
                var acc: [Int: Double] = [:]
                for m in near { for (c, v) in V[m] { acc[c, default: 0] += Double(v) } }
                for (c, v) in acc { expanded[i][c] = Float(v / Double(near.count)) }
            }
            V = expanded
        }
        let wj = Float(1 - parameters.lambda), wo = Float(parameters.lambda)
        for i in 0..<q {
            for (t, col) in kept.enumerated() {
                let j = q + t
                // the sum in the reference's order: columns ascending
                var m: Float = 0
                for c in V[i].keys.sorted() { if let vj = V[j][c] { m += min(V[i][c]!, vj) } }
                let jaccard = 1 - m / (2 - m)
                let a = jaccard * wj
                let b = (dist[i * n + j] / rowmax[i]) * wo
                out[i * g + col] = a + b
            }
        }
        return out
    }
}
