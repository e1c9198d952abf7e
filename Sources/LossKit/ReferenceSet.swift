import CLossKit

/// The rows a query's positives and negatives are drawn from when mining
/// reaches past one batch: pytorch-metric-learning's `ref_emb` / `ref_labels`,
/// a ``CrossBatchMemory``, or the batch gathered from every process of a
/// data-parallel step.
///
/// A query may also be one of the references (the batch passed as both, or a
/// memory that holds the current batch). `queryIndex` says which: entry `j`
/// is the query that reference `j` is, or -1. A query never takes itself as
/// its positive, nor counts the pair with itself. A reference that merely
/// equals a query, unmarked, is another sample with the same features, as in
/// pytorch-metric-learning when `ref_emb` is not the batch itself.
public struct ReferenceSet: Sendable, Equatable {
    /// `[m, dimension]` feature rows.
    public var features: [Float]
    /// m identity labels.
    public var labels: [Int]
    /// Per reference, the query it is (`0 ..< q`), or -1; nil: none is a query.
    public var queryIndex: [Int]?

    public init(features: [Float], labels: [Int], queryIndex: [Int]? = nil) {
        self.features = features
        self.labels = labels
        self.queryIndex = queryIndex
    }

    /// References whose rows `offset ..< offset + queryCount` are the queries
    /// themselves, in order (a memory or a gathered batch that holds them).
    public init(features: [Float], labels: [Int], queriesAt offset: Int, queryCount: Int) {
        var marks = [Int](repeating: -1, count: labels.count)
        for i in 0..<max(queryCount, 0) where offset + i >= 0 && offset + i < marks.count { marks[offset + i] = i }
        self.init(features: features, labels: labels, queryIndex: marks)
    }

    /// The queries as their own references: the batch loss, through the
    /// reference-set kernels.
    public static func batch(_ features: [Float], labels: [Int]) -> ReferenceSet {
        ReferenceSet(features: features, labels: labels, queriesAt: 0, queryCount: labels.count)
    }

    /// Checks the set against the queries: `[m, dimension]` features, m
    /// labels, marks -1 or in `0 ..< queryCount`. Returns m.
    func validated(dimension: Int, queryCount: Int) throws -> Int {
        guard features.count % dimension == 0 else {
            throw LossKitError.shapeMismatch(argument: "references.features", expected: "[m, \(dimension)]",
                                             actual: "\(features.count) values")
        }
        let m = features.count / dimension
        try Check.sameCount("references.labels", labels.count, as: "rows of references.features", m)
        if let queryIndex {
            try Check.sameCount("references.queryIndex", queryIndex.count, as: "rows of references.features", m)
            for (j, i) in queryIndex.enumerated() where i < -1 || i >= queryCount {
                throw LossKitError.labelOutOfRange(argument: "references.queryIndex", index: j, label: i,
                                                   validRange: "-1 (no query) or 0..<\(queryCount)")
            }
        }
        return m
    }
}

/// The result of a loss of queries against a ``ReferenceSet``.
public struct ReferenceLossResult: Sendable, Equatable {
    /// The reduced loss (for ``Reduction/none``, the sum of `unreduced`).
    public var value: Float
    /// Per query (TriHard) or per tuple (indexed triplets) for ``Reduction/none``; else nil.
    public var unreduced: [Float]?
    /// d value / d queries, `[q, dimension]`; nil when not requested.
    public var queryGradient: [Float]?
    /// d value / d reference features, `[m, dimension]`; nil when not requested.
    public var referenceGradient: [Float]?
    /// TriHard: each query's chosen positive, a reference index (-1 when skipped); nil for other losses.
    public var hardestPositive: [Int]?
    /// TriHard: each query's chosen negative, a reference index (-1 when skipped); nil for other losses.
    public var hardestNegative: [Int]?

    public init(value: Float, unreduced: [Float]? = nil, queryGradient: [Float]? = nil,
                referenceGradient: [Float]? = nil, hardestPositive: [Int]? = nil, hardestNegative: [Int]? = nil) {
        self.value = value
        self.unreduced = unreduced
        self.queryGradient = queryGradient
        self.referenceGradient = referenceGradient
        self.hardestPositive = hardestPositive
        self.hardestNegative = hardestNegative
    }
}

/// A triplet term's hinge, with `z = D(a, p) - D(a, n)`.
public enum TripletMargin: Sendable, Hashable {
    /// `max(z + margin, 0)`; margin finite and >= 0 (0.3 in reid-strong-baseline).
    case hinge(Float)
    /// `softplus(z + margin)`: pytorch-metric-learning's `smooth_loss`; margin 0
    /// is reid-strong-baseline's `SoftMarginLoss` form.
    case soft(Float = 0)

    var margin: Float {
        switch self { case let .hinge(m), let .soft(m): m }
    }
    var isSoft: Int32 {
        if case .soft = self { 1 } else { 0 }
    }
    func validated() throws {
        try Check.nonNegative("margin", margin)
    }
}

/// How contrastive loss over every query-reference pair is reduced.
public enum PairReduction: Sendable, Hashable {
    /// The sum over the counted pairs.
    case sum
    /// That sum over the number of counted pairs (none: 0).
    case mean
    /// pytorch-metric-learning's `AvgNonZeroReducer` (its contrastive default):
    /// the positive pairs' losses averaged over those above 0, plus the
    /// negative pairs' likewise (none above 0: 0).
    case meanOfNonzero

    var c: losskit_pair_reduction {
        switch self {
        case .sum: LOSSKIT_PAIRS_SUM
        case .mean: LOSSKIT_PAIRS_MEAN
        case .meanOfNonzero: LOSSKIT_PAIRS_MEAN_NONZERO
        }
    }
}
