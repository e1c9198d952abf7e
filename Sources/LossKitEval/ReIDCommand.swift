import ArgumentParser
import Foundation
import LossKit

/// `losskit-eval reid`: CMC / mAP of query and gallery features from .npy files.
struct ReIDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reid",
        abstract: "Re-id CMC and mAP as reid-strong-baseline computes them (optionally re-ranked).",
        discussion: """
        Features are float32 [N, D] .npy files, identities and cameras int64 [N]. Gallery identity -1 is junk \
        (never ranked); gallery entries of the query's identity and camera are removed; queries without a \
        valid match are skipped. Prints mAP, rank-1/5/10 and the first 50 CMC values.
        """
    )

    @Option(help: "Query features, float32 [Q, D].") var query: String
    @Option(name: .customLong("query-ids"), help: "Query identities, int64 [Q].") var queryIDs: String
    @Option(name: .customLong("query-cams"), help: "Query cameras, int64 [Q].") var queryCams: String
    @Option(help: "Gallery features, float32 [G, D].") var gallery: String
    @Option(name: .customLong("gallery-ids"), help: "Gallery identities, int64 [G] (-1: junk).") var galleryIDs: String
    @Option(name: .customLong("gallery-cams"), help: "Gallery cameras, int64 [G].") var galleryCams: String
    @Option(help: "euclidean or cosine (re-ranking always uses the reference's squared Euclidean).")
    var metric: String = "euclidean"
    @Flag(name: .customLong("no-normalize"), help: "Do not L2-normalize the features first.") var noNormalize = false
    @Flag(name: .customLong("official-ap"), help: "The official Market-1501 AP instead of eval_func's.") var officialAP = false
    @Flag(help: "k-reciprocal re-ranking (k1 20, k2 6, lambda 0.3) first.") var rerank = false
    @Option(help: "Worker threads (default: every core).") var threads: Int?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let metric: DistanceMetric
        switch self.metric {
        case "euclidean": metric = .euclidean
        case "cosine": metric = .cosine
        default: throw ValidationError("--metric must be euclidean or cosine, not \(self.metric)")
        }
        let input = try ReIDInput.load(query: query, queryIDs: queryIDs, queryCams: queryCams, gallery: gallery,
                                       galleryIDs: galleryIDs, galleryCams: galleryCams)
        let started = Date()
        if input.queries * input.gallery > 4_000_000 {
            progress("ranking \(input.queries) queries against \(input.gallery) gallery images"
                     + (rerank ? " (re-ranking)" : "") + "...")
        }
        let result = try evaluateReID(query: input.query, gallery: input.galleryFeatures, dimension: input.dimension,
                                      labels: input.labels, metric: metric, normalize: !noNormalize,
                                      averagePrecision: officialAP ? .market1501 : .meanPrecision,
                                      reranking: rerank ? ReRanking() : nil, execution: Execution(threads: threads))
        if input.queries * input.gallery > 4_000_000 {
            progress(String(format: "done in %.1f s", Date().timeIntervalSince(started)))
        }
        print(ReIDReport(result).text(json: json))
    }
}

/// The arrays of a `reid` run, read and checked against each other.
struct ReIDInput {
    var query: [Float], galleryFeatures: [Float], dimension: Int, queries: Int, gallery: Int, labels: ReIDLabels

    static func load(query: String, queryIDs: String, queryCams: String, gallery: String, galleryIDs: String,
                     galleryCams: String) throws -> ReIDInput {
        let q = try readNumpy(query), g = try readNumpy(gallery)
        let qf = try q.floats(rank: 2, name: query), gf = try g.floats(rank: 2, name: gallery)
        guard q.shape[1] == g.shape[1] else {
            throw ValidationError("\(query) has dimension \(q.shape[1]) but \(gallery) has \(g.shape[1])")
        }
        guard q.shape[1] >= 1 else { throw ValidationError("\(query) has feature dimension 0") }
        func ids(_ path: String, _ count: Int) throws -> [Int64] {
            let v = try readNumpy(path).integers(name: path)
            guard v.count == count else {
                throw ValidationError("\(path) has \(v.count) entries, expected \(count) (one per feature row)")
            }
            return v
        }
        let labels = ReIDLabels(queryIDs: try ids(queryIDs, q.shape[0]), queryCameras: try ids(queryCams, q.shape[0]),
                                galleryIDs: try ids(galleryIDs, g.shape[0]), galleryCameras: try ids(galleryCams, g.shape[0]))
        return ReIDInput(query: qf, galleryFeatures: gf, dimension: q.shape[1], queries: q.shape[0], gallery: g.shape[0],
                         labels: labels)
    }
}

/// The printed form of a re-id result.
struct ReIDReport {
    var result: ReIDEvaluation
    init(_ result: ReIDEvaluation) { self.result = result }

    func text(json: Bool) -> String {
        let cmc = Array(result.cmc.prefix(50))
        if json {
            let values = cmc.map(jsonNumber).joined(separator: ", ")
            return "{\"mAP\": \(jsonNumber(result.meanAveragePrecision)), \"rank1\": \(jsonNumber(result.rank(1))), "
                + "\"rank5\": \(jsonNumber(result.rank(5))), \"rank10\": \(jsonNumber(result.rank(10))), "
                + "\"evaluated_queries\": \(result.evaluatedQueries), \"cmc\": [\(values)]}"
        }
        var lines = ["metric     value", "---------  --------"]
        lines.append(String(format: "mAP        %.4f", result.meanAveragePrecision))
        for k in [1, 5, 10, 20, 50] { lines.append(String(format: "rank-%-4d  %.4f", k, result.rank(k))) }
        lines.append("queries    \(result.evaluatedQueries) evaluated of \(result.averagePrecision.count)")
        return lines.joined(separator: "\n")
    }
}

/// A .npy file, or an error naming it.
func readNumpy(_ path: String) throws -> NumpyArray {
    try NumpyArray(contentsOf: URL(fileURLWithPath: path))
}

/// JSON for a Double: NaN as null.
func jsonNumber(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }

