import LossKit

/// Re-id evaluation workloads (issue 15): Market-1501 sizes, generated.
let reidEvalWorkloads: [Workload] = [
    reidEvalWorkload("reid_eval_3368x15913x2048", rerank: false),
    reidEvalWorkload("rerank_3368x15913x2048", rerank: true),
]

/// Market-1501's shape: 3,368 queries and 15,913 gallery images (2,793 of them
/// distractors, identity 0) of 750 identities over 6 cameras, 2048-d features
/// (an identity centre N(0, 1) plus N(0, 2.8^2) noise per image, ReLU'd as a
/// ResNet-50 pool's are). The workload is what reid-strong-baseline runs:
/// L2 normalization, Euclidean distances, CMC (50 ranks) and mAP; with
/// `rerank`, k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3) first.
func reidEvalWorkload(_ name: String, rerank: Bool) -> Workload {
    Workload(name: name, shape: "3368 queries x 15913 gallery, dim 2048, 750 ids, 6 cams") { quick in
        let q = quick ? 337 : 3368, g = quick ? 1591 : 15913, d = quick ? 256 : 2048, ids = quick ? 75 : 750
        let (query, gallery, labels) = marketLikeFeatures(queries: q, gallery: g, dimension: d, identities: ids)
        // the distance work: q x g pairs (and, re-ranking, the upper triangle of the (q + g)^2 matrix)
        let n = Double(q + g)
        let flops = rerank ? n * (n + 1) * Double(d) : 2 * Double(q) * Double(g) * Double(d)
        // portable: a slice (64 queries; re-ranking 32 queries x 400 gallery, its dense (q + g)^2 reference)
        let pq = 64, rq = 32, rg = 400
        let pLabels = ReIDLabels(queryIDs: Array(labels.queryIDs[0..<pq]), queryCameras: Array(labels.queryCameras[0..<pq]),
                                 galleryIDs: labels.galleryIDs, galleryCameras: labels.galleryCameras)
        let rLabels = ReIDLabels(queryIDs: Array(labels.queryIDs[0..<rq]), queryCameras: Array(labels.queryCameras[0..<rq]),
                                 galleryIDs: Array(labels.galleryIDs[0..<rg]), galleryCameras: Array(labels.galleryCameras[0..<rg]))
        let pQuery = Array(query[0 ..< (rerank ? rq : pq) * d]), rGallery = Array(gallery[0 ..< rg * d])
        let rn = Double(rq + rg)
        return PreparedWorkload(work: flops, unit: "GFLOP/s", ceiling: .sgemm(flops: flops),
                                run: { e in
                                    _ = try evaluateReID(query: query, gallery: gallery, dimension: d, labels: labels,
                                                         reranking: rerank ? ReRanking() : nil, execution: e)
                                },
                                portableFraction: rerank ? rn * rn / (n * n) : Double(pq) / Double(q),
                                runPortable: { e in
                                    if rerank {
                                        _ = try evaluateReID(query: pQuery, gallery: rGallery, dimension: d, labels: rLabels,
                                                             reranking: ReRanking(), execution: e)
                                    } else {
                                        _ = try evaluateReID(query: pQuery, gallery: gallery, dimension: d, labels: pLabels,
                                                             execution: e)
                                    }
                                },
                                note: rerank ? "portable: 32 queries x 400 gallery" : "portable: 64 queries")
    }
}

/// Generated Market-1501-like features and labels.
func marketLikeFeatures(queries q: Int, gallery g: Int, dimension d: Int, identities: Int)
    -> (query: [Float], gallery: [Float], labels: ReIDLabels) {
    var rng = BenchRandom(state: 1501)
    let centres = rng.normal(identities * d, std: 1)
    let distractors = g * 2793 / 15913
    var qids: [Int64] = [], qcams: [Int64] = [], gids: [Int64] = [], gcams: [Int64] = []
    var query = [Float](repeating: 0, count: q * d), gallery = [Float](repeating: 0, count: g * d)
    func fill(_ out: inout [Float], _ row: Int, _ id: Int64) {
        let noise = rng.normal(d, std: 2.8)
        for k in 0..<d {
            let centre = id > 0 ? centres[(Int(id) - 1) * d + k] : 0
            out[row * d + k] = max(0, centre + noise[k])
        }
    }
    for i in 0..<q {
        let id = Int64(i % identities + 1)
        qids.append(id)
        qcams.append(Int64.random(in: 1...6, using: &rng))
        fill(&query, i, id)
    }
    for j in 0..<g {
        let id: Int64 = j < distractors ? 0 : Int64((j - distractors) % identities + 1)
        gids.append(id)
        gcams.append(Int64.random(in: 1...6, using: &rng))
        fill(&gallery, j, id)
    }
    return (query, gallery, ReIDLabels(queryIDs: qids, queryCameras: qcams, galleryIDs: gids, galleryCameras: gcams))
}
