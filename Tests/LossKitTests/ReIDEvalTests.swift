import CLossKit
import Foundation
import LossKit
import Testing
import _TestSupport

@Suite("Re-identification evaluation: CMC, mAP, re-ranking")
struct ReIDEvalTests {
    static func labels(_ g: GoldenCase) -> ReIDLabels {
        ReIDLabels(queryIDs: g.input("query_ids").data.map { Int64($0) },
                   queryCameras: g.input("query_cams").data.map { Int64($0) },
                   galleryIDs: g.input("gallery_ids").data.map { Int64($0) },
                   galleryCameras: g.input("gallery_cams").data.map { Int64($0) })
    }

    static func metric(_ name: String) -> DistanceMetric {
        name == "cosine" ? .cosine : (name == "sqeuclidean" ? .squaredEuclidean : .euclidean)
    }

    static func expectScores(_ r: ReIDEvaluation, _ g: GoldenCase, _ kind: String, _ context: String) {
        let cmc = g.output("cmc_\(kind)").data
        #expect(r.cmc.count == 50)
        for (i, v) in cmc.enumerated() { #expect(isClose(r.cmc[i], v, rtol: 1e-12, atol: 1e-12), "\(context) cmc[\(i)]") }
        #expect(isClose(r.meanAveragePrecision, g.output("map_\(kind)").scalar, rtol: 1e-12, atol: 1e-12),
                "\(context) mAP \(r.meanAveragePrecision) vs \(g.output("map_\(kind)").scalar)")
        let ap = g.output("ap_\(kind)").data
        for (i, v) in ap.enumerated() { #expect(isClose(r.averagePrecision[i], v, rtol: 1e-12, atol: 1e-12), "\(context) ap[\(i)]") }
        #expect(r.firstMatchRank == g.output("first_match").data.map { Int($0) }, "\(context) first match")
        #expect(r.evaluatedQueries == ap.filter { !$0.isNaN }.count)
    }

    @Test("from features vs eval_func (both AP forms), both backends, every ISA")
    func goldenFeatures() throws {
        for g in try Golden.cases("reid_eval") where g.inputs["query"] != nil && g.number("k1") == nil {
            let q = g.input("query"), gal = g.input("gallery")
            for (kind, ap) in [("mean_precision", ReIDAveragePrecision.meanPrecision), ("market1501", .market1501)] {
                try forEachISA { isa in
                    for exec in [Execution.portable, .default, Execution(threads: 1)] {
                        let r = try evaluateReID(query: q.floats, gallery: gal.floats, dimension: q.shape[1],
                                                 labels: Self.labels(g), metric: Self.metric(g.string("metric")!),
                                                 normalize: g.bool("normalize")!, averagePrecision: ap, execution: exec)
                        Self.expectScores(r, g, kind, "\(g) \(kind) \(isaName(isa)) \(exec.backend)")
                    }
                }
            }
        }
    }

    @Test("from a distance matrix with exact ties: the lower gallery index first")
    func goldenTies() throws {
        for g in try Golden.cases("reid_eval") where g.inputs["distances"] != nil {
            for (kind, ap) in [("mean_precision", ReIDAveragePrecision.meanPrecision), ("market1501", .market1501)] {
                for exec in [Execution.portable, .default] {
                    let r = try evaluateReID(distances: g.input("distances").floats, labels: Self.labels(g),
                                             averagePrecision: ap, execution: exec)
                    Self.expectScores(r, g, kind, "\(g) \(kind) \(exec.backend)")
                }
            }
        }
    }

    @Test("k-reciprocal re-ranking vs the reference semantics (float32), both backends")
    func goldenRerank() throws {
        for g in try Golden.cases("reid_eval") where g.number("k1") != nil {
            let q = g.input("query"), gal = g.input("gallery"), labels = Self.labels(g)
            let p = ReRanking(k1: Int(g.number("k1")!), k2: Int(g.number("k2")!), lambda: g.number("lambda")!)
            let expected = g.output("distances").data.map { $0 > 1e38 ? Double.infinity : $0 }
            for exec in [Execution.portable, .default, Execution(threads: 1)] {
                let d = try kReciprocalRerank(query: q.floats, gallery: gal.floats, dimension: q.shape[1],
                                              galleryIDs: labels.galleryIDs, parameters: p, execution: exec)
                let m = firstMismatch(d, expected, rtol: 2e-5, atol: 2e-6)
                #expect(m == nil, "\(g) \(exec.backend): \(m ?? "")")
                let r = try evaluateReID(query: q.floats, gallery: gal.floats, dimension: q.shape[1], labels: labels,
                                         reranking: p, execution: exec)
                #expect(isClose(r.meanAveragePrecision, g.output("map").scalar, rtol: 1e-9, atol: 1e-9), "\(g) \(exec.backend) mAP")
                for (i, v) in g.output("cmc").data.enumerated() {
                    #expect(isClose(r.cmc[i], v, rtol: 1e-12, atol: 1e-12), "\(g) cmc[\(i)]")
                }
            }
        }
    }

    /// Random sets big enough for several query blocks (256) and threads: C vs portable, bitwise across threads.
    @Test("C vs portable on random data; identical at 1 and 2 threads")
    func differentialAndDeterminism() throws {
        var rng = SeededRandom(seed: 7)
        let q = 300, g = 700, d = 8
        let query = rng.normal(count: q * d), gallery = rng.normal(count: g * d)
        let ids = { (n: Int) in (0..<n).map { _ in Int64.random(in: -1...40, using: &rng) } }
        let cams = { (n: Int) in (0..<n).map { _ in Int64.random(in: 0...5, using: &rng) } }
        let labels = ReIDLabels(queryIDs: ids(q).map { max($0, 0) }, queryCameras: cams(q), galleryIDs: ids(g),
                                galleryCameras: cams(g))
        for metric in DistanceMetric.allCases {
            for normalize in [true, false] {
                let one = try evaluateReID(query: query, gallery: gallery, dimension: d, labels: labels, metric: metric,
                                           normalize: normalize, execution: Execution(threads: 1))
                let two = try evaluateReID(query: query, gallery: gallery, dimension: d, labels: labels, metric: metric,
                                           normalize: normalize, execution: Execution(threads: 2))
                #expect(one == two || (one.cmc == two.cmc && one.firstMatchRank == two.firstMatchRank
                    && zip(one.averagePrecision, two.averagePrecision).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }))
                // float32 distances (SGEMM) against the portable path's double ones: rare adjacent flips
                let p = try evaluateReID(query: query, gallery: gallery, dimension: d, labels: labels, metric: metric,
                                         normalize: normalize, execution: .portable)
                #expect(isClose(one.meanAveragePrecision, p.meanAveragePrecision, rtol: 1e-5, atol: 0), "\(metric)")
                // the same matrix, rounded to create many exact ties: counting (C) and sorting (portable) agree exactly
                let dist = try pairwiseDistance(query, gallery, dimension: d, metric: metric).map { ($0 * 20).rounded() / 20 }
                for kind in ReIDAveragePrecision.allCases {
                    let c = try evaluateReID(distances: dist, labels: labels, averagePrecision: kind, execution: Execution(threads: 2))
                    let s = try evaluateReID(distances: dist, labels: labels, averagePrecision: kind, execution: .portable)
                    #expect(c.firstMatchRank == s.firstMatchRank && c.cmc == s.cmc, "\(metric) \(kind)")
                    #expect(c.meanAveragePrecision == s.meanAveragePrecision, "\(metric) \(kind)")
                }
            }
        }
        // ~175 matches per query: the C path's binary-search branch (more than 64 matches)
        let many = ReIDLabels(queryIDs: (0..<q).map { Int64($0 % 4) }, queryCameras: cams(q),
                              galleryIDs: (0..<g).map { Int64($0 % 4) }, galleryCameras: cams(g))
        let rounded = try pairwiseDistance(query, gallery, dimension: d).map { ($0 * 20).rounded() / 20 }
        for kind in ReIDAveragePrecision.allCases {
            let c = try evaluateReID(distances: rounded, labels: many, averagePrecision: kind)
            let s = try evaluateReID(distances: rounded, labels: many, averagePrecision: kind, execution: .portable)
            #expect(c.firstMatchRank == s.firstMatchRank && c.averagePrecision == s.averagePrecision, "many matches \(kind)")
        }
        let r1 = try kReciprocalRerank(query: Array(query[0 ..< 20 * d]), gallery: Array(gallery[0 ..< 200 * d]),
                                       dimension: d, execution: Execution(threads: 1))
        let r2 = try kReciprocalRerank(query: Array(query[0 ..< 20 * d]), gallery: Array(gallery[0 ..< 200 * d]),
                                       dimension: d, execution: Execution(threads: 2))
        #expect(r1 == r2)
        let rp = try kReciprocalRerank(query: Array(query[0 ..< 20 * d]), gallery: Array(gallery[0 ..< 200 * d]),
                                       dimension: d, execution: .portable)
        #expect(firstMismatch(r1, rp, rtol: 2e-5, atol: 2e-6) == nil)
    }

    /// Duplicated gallery rows give bitwise-equal distances: the lower index must rank first.
    @Test("duplicate gallery features tie toward the lower index")
    func duplicateTies() throws {
        let d = 4
        let query: [Float] = [1, 0, 0, 0]
        let gallery: [Float] = [0, 1, 0, 0, /* 1: */ 0.9, 0.1, 0, 0, /* 2: same as 1 */ 0.9, 0.1, 0, 0]
        // gallery 1 is a distractor, 2 the match: 2 ties with 1 and ranks second
        let labels = ReIDLabels(queryIDs: [5], queryCameras: [1], galleryIDs: [3, 0, 5], galleryCameras: [2, 2, 2])
        for exec in [Execution.portable, .default] {
            let r = try evaluateReID(query: query, gallery: gallery, dimension: d, labels: labels, execution: exec)
            #expect(r.firstMatchRank == [1])
            #expect(r.averagePrecision == [0.5])
            #expect(r.rank(1) == 0 && r.rank(2) == 1)
        }
        // swap the labels: the match has the lower index and ranks first
        let swapped = ReIDLabels(queryIDs: [5], queryCameras: [1], galleryIDs: [3, 5, 0], galleryCameras: [2, 2, 2])
        let swappedResult = try evaluateReID(query: query, gallery: gallery, dimension: d, labels: swapped)
        #expect(swappedResult.firstMatchRank == [0])
    }

    @Test("same identity and camera removed, junk skipped, queries without a match skipped")
    func filtering() throws {
        // distances ascending along the gallery
        let dist: [Float] = [0, 1, 2, 3, 4, 5]
        let labels = ReIDLabels(queryIDs: [7, 9], queryCameras: [1, 1], galleryIDs: [7, -1, 3, 7, 9, 7],
                                galleryCameras: [1, 2, 2, 2, 1, 3])
        for exec in [Execution.portable, .default] {
            let r = try evaluateReID(distances: dist + dist, labels: labels, execution: exec)
            // query 7: gallery 0 removed (same cam), 1 junk; ranking 2(no) 3(hit) 4(no) 5(hit): ranks 1, 3
            #expect(r.firstMatchRank == [1, -1])
            #expect(r.evaluatedQueries == 1)
            #expect(r.averagePrecision[0] == (1.0 / 2 + 2.0 / 4) / 2)
            #expect(r.averagePrecision[1].isNaN)
            let official = try evaluateReID(distances: dist + dist, labels: labels, averagePrecision: .market1501, execution: exec)
            #expect(official.averagePrecision[0] == ((0.0 / 1 + 1.0 / 2) / 2 + (1.0 / 3 + 2.0 / 4) / 2) / 2)
            #expect(r.cmc[0] == 0 && r.cmc[1] == 1 && r.cmc[49] == 1)
        }
    }

    @Test("NaN distances rank last, as numpy's argsort")
    func nanLast() throws {
        let labels = ReIDLabels(queryIDs: [1], queryCameras: [0], galleryIDs: [1, 2, 2], galleryCameras: [1, 1, 1])
        for exec in [Execution.portable, .default] {
            let r = try evaluateReID(distances: [.nan, 1, 2], labels: labels, execution: exec)
            #expect(r.firstMatchRank == [2])
            let r2 = try evaluateReID(distances: [3, .nan, 2], labels: labels, execution: exec)
            #expect(r2.firstMatchRank == [1])
        }
    }

    @Test("bad shapes and parameters throw, naming the argument")
    func badInput() throws {
        let labels = ReIDLabels(queryIDs: [1], queryCameras: [0], galleryIDs: [1, 2], galleryCameras: [1])
        #expect(throws: LossKitError.self) { try evaluateReID(distances: [1, 2], labels: labels) }
        let ok = ReIDLabels(queryIDs: [1], queryCameras: [0], galleryIDs: [1, 2], galleryCameras: [1, 1])
        #expect(throws: LossKitError.self) { try evaluateReID(distances: [1, 2, 3], labels: ok) }
        #expect(throws: LossKitError.self) { try evaluateReID(distances: [1, 2], labels: ok, maxRank: 0) }
        #expect(throws: LossKitError.self) {
            try evaluateReID(query: [1, 2, 3], gallery: [1, 2, 3, 4], dimension: 2, labels: ok)
        }
        #expect(throws: LossKitError.self) {
            try kReciprocalRerank(query: [1, 2], gallery: [1, 2, 3, 4], dimension: 2, parameters: ReRanking(k1: 0))
        }
        #expect(throws: LossKitError.self) {
            try kReciprocalRerank(query: [1, 2], gallery: [1, 2, 3, 4], dimension: 2, parameters: ReRanking(lambda: 1.5))
        }
        // the C entry points refuse what the Swift layer would
        var scores = losskit_reid_scores()
        let l = losskit_reid_labels(query_ids: nil, query_cams: nil, gallery_ids: nil, gallery_cams: nil)
        #expect(losskit_reid_evaluate_distances([1], 1, 1, l, 0, &scores, 0) == -4)
        #expect(losskit_reid_evaluate_distances(nil, 1, 1, l, 0, &scores, 0) == -1)
        #expect(losskit_reid_rerank(1, [1], 1, [1], 1, 1, nil, 20, 6, 2.0, nil, 0) == -10)
        #expect(losskit_reid_evaluate_features(7, 1, [1], 1, [1], 1, 1, l, 0, &scores, nil, 0) == -1)
    }

    /// Fewer items than k1 + 1 neighbours, junk gallery entries, exact duplicates, k2 > 1 and 1.
    @Test("re-ranking of tiny sets, with junk and duplicates: C equals portable")
    func rerankTiny() throws {
        var rng = SeededRandom(seed: 11)
        let q = 3, g = 6, d = 3
        let query = rng.normal(count: q * d)
        var gallery = rng.normal(count: g * d)
        for k in 0..<d { gallery[3 * d + k] = gallery[1 * d + k] } // gallery 3 duplicates gallery 1
        let ids: [Int64] = [1, -1, 2, 1, -1, 3]
        for p in [ReRanking(), ReRanking(k1: 2, k2: 1, lambda: 0), ReRanking(k1: 3, k2: 3, lambda: 1)] {
            let c = try kReciprocalRerank(query: query, gallery: gallery, dimension: d, galleryIDs: ids, parameters: p)
            let s = try kReciprocalRerank(query: query, gallery: gallery, dimension: d, galleryIDs: ids, parameters: p,
                                          execution: .portable)
            #expect(firstMismatch(c, s, rtol: 2e-5, atol: 2e-6) == nil, "\(p): \(c) vs \(s)")
            for i in 0..<q { #expect(c[i * g + 1] == .infinity && c[i * g + 4] == .infinity) }
        }
    }

    @Test("NaN features give NaN re-ranked distances")
    func rerankNaN() throws {
        var rng = SeededRandom(seed: 3)
        var q = rng.normal(count: 5 * 4)
        let g = rng.normal(count: 30 * 4)
        q[3] = .nan
        for exec in [Execution.portable, .default] {
            let d = try kReciprocalRerank(query: q, gallery: g, dimension: 4, execution: exec)
            let allNaN = d.allSatisfy { $0.isNaN }
            #expect(allNaN)
        }
    }
}
