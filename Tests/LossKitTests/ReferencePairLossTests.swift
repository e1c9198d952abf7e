import CLossKit
import LossKit
import Testing
import _TestSupport

@Suite("Reference sets: all-pairs contrastive, indexed triplets")
struct ReferencePairLossTests {
    static func metric(_ name: String?) -> DistanceMetric {
        name == "cosine" ? .cosine : (name == "sqeuclidean" ? .squaredEuclidean : .euclidean)
    }
    static func pairReduction(_ name: String?) -> PairReduction {
        name == "sum" ? .sum : (name == "mean" ? .mean : .meanOfNonzero)
    }
    static func reduction(_ name: String?) -> Reduction {
        name == "sum" ? .sum : (name == "none" ? .none : .mean)
    }
    static let backends = [Execution.portable, .default]

    func contrastive(_ g: GoldenCase, _ exec: Execution) throws -> ReferenceLossResult {
        let x = g.input("queries")
        let set = ReferenceSet(features: g.input("references").floats, labels: g.input("reference_labels").ints,
                               queryIndex: g.input("reference_query").ints)
        return try contrastiveLoss(queries: x.floats, labels: g.input("labels").ints, references: set, dimension: x.shape[1],
                                   metric: Self.metric(g.string("metric")), positiveMargin: g.float("pos_margin")!,
                                   negativeMargin: g.float("neg_margin")!, hinge: g.number("power") == 2 ? .squared : .plain,
                                   normalize: g.bool("normalize")!, reduction: Self.pairReduction(g.string("reduction")),
                                   execution: exec)
    }

    func triplet(_ g: GoldenCase, _ exec: Execution) throws -> ReferenceLossResult {
        let x = g.input("queries")
        let m = g.float("margin")!
        return try tripletLoss(queries: x.floats, references: g.input("references").floats, dimension: x.shape[1],
                               anchors: g.input("anchors").ints, positives: g.input("positives").ints,
                               negatives: g.input("negatives").ints, metric: Self.metric(g.string("metric")),
                               margin: g.bool("soft_margin")! ? .soft(m) : .hinge(m), improved: g.bool("improved")!,
                               swap: g.bool("swap")!, normalize: g.bool("normalize")!,
                               reduction: Self.reduction(g.string("reduction")), execution: exec)
    }

    func quadruplet(_ g: GoldenCase, _ exec: Execution) throws -> ReferenceLossResult {
        let x = g.input("queries")
        return try quadrupletLoss(queries: x.floats, references: g.input("references").floats, dimension: x.shape[1],
                                  anchors: g.input("anchors").ints, positives: g.input("positives").ints,
                                  negatives1: g.input("negatives1").ints, negatives2: g.input("negatives2").ints,
                                  metric: Self.metric(g.string("metric")), margin1: g.float("margin1")!,
                                  margin2: g.float("margin2")!, normalize: g.bool("normalize")!,
                                  reduction: Self.reduction(g.string("reduction")), execution: exec)
    }

    @Test("golden vs PyTorch (pml contrastive with ref_emb, TripletMarginLoss(swap=True)), both backends, every ISA")
    func golden() throws {
        let cases = try Golden.cases("reference_pairs")
        #expect(cases.count >= 20 && cases.contains { $0.string("loss") == "quadruplet" })
        for g in cases {
            for exec in Self.backends {
                try forEachISA { isa in
                    let label = "\(g) \(exec.backend) \(isaName(isa))"
                    let r = try g.string("loss") == "contrastive" ? contrastive(g, exec)
                        : g.string("loss") == "quadruplet" ? quadruplet(g, exec) : triplet(g, exec)
                    #expect(isClose(Double(r.value), g.output("loss").scalar, rtol: 1e-4, atol: 1e-6), "\(label): \(r.value)")
                    if g.bool("batch") == true { // one set passed as both: its gradient is the sum of the two
                        let sum = zip(r.queryGradient!, r.referenceGradient!).map { $0 + $1 }
                        let m = firstMismatch(sum, g.output("grad_features").data, rtol: 1e-4, atol: 1e-6)
                        #expect(m == nil, "\(label) grad_features \(m ?? "")")
                        return
                    }
                    for (name, grad) in [("grad_queries", r.queryGradient!), ("grad_references", r.referenceGradient!)] {
                        let m = firstMismatch(grad, g.output(name).data, rtol: 1e-4, atol: 1e-6)
                        #expect(m == nil, "\(label) \(name) \(m ?? "")")
                    }
                    if let per = g.expected["per_triplet"] {
                        #expect(firstMismatch(r.unreduced ?? [], per.data, rtol: 1e-5, atol: 1e-6) == nil, "\(label) per triplet")
                    }
                }
            }
        }
    }

    /// q queries of `ids` identities and m references, some of them the queries themselves (marked).
    static func draw(q: Int, m: Int, d: Int, ids: Int, seed: UInt64, marked: Bool) -> ([Float], [Int], ReferenceSet) {
        var rng = SeededRandom(seed: seed)
        let x = rng.normal(count: q * d), y = rng.normal(count: m * d)
        let labels = (0..<q).map { $0 % ids }
        var refLabels = (0..<m).map { ($0 * 7 + 3) % ids }
        var features = y
        var marks = [Int](repeating: -1, count: m)
        if marked {
            for i in stride(from: 0, to: min(q, m), by: 3) {
                let j = (i * 5 + 1) % m
                guard marks[j] < 0 else { continue }
                marks[j] = i
                refLabels[j] = labels[i]
                for k in 0..<d { features[j * d + k] = x[i * d + k] }
            }
        }
        return (x, labels, ReferenceSet(features: features, labels: refLabels, queryIndex: marked ? marks : nil))
    }

    @Test("contrastive: C vs portable on every ISA, random and edge inputs, every option")
    func contrastiveDifferential() throws {
        let d = 7
        for (q, m, marked) in [(9, 14, true), (5, 3, false), (1, 6, true), (0, 4, false), (4, 0, false)] {
            var (x, labels, set) = Self.draw(q: q, m: m, d: d, ids: 3, seed: UInt64(q * 100 + m), marked: marked)
            if q == 9 { // edge rows: a zero query, a duplicate reference (D at the clamp), a huge reference
                for k in 0..<d { x[2 * d + k] = 0; set.features[4 * d + k] = x[5 * d + k]; set.features[6 * d + k] *= 1e15 }
                set.labels[4] = labels[5]
            }
            for metric in DistanceMetric.allCases {
                for hinge in [ContrastiveHinge.plain, .squared] {
                    for reduction in [PairReduction.sum, .mean, .meanOfNonzero] {
                        for normalize in [false, true] {
                            let neg: Float = metric == .cosine ? 0.8 : (metric == .squaredEuclidean ? 12 : 3)
                            func run(_ e: Execution) throws -> ReferenceLossResult {
                                try contrastiveLoss(queries: x, labels: labels, references: set, dimension: d, metric: metric,
                                                    positiveMargin: 0.2, negativeMargin: neg, hinge: hinge, normalize: normalize,
                                                    reduction: reduction, execution: e)
                            }
                            let ref = try run(.portable)
                            let label = "\(q)x\(m) \(metric) \(hinge) \(reduction) normalize \(normalize)"
                            try forEachISA { isa in
                                let c = try run(.default)
                                #expect(isClose(Double(c.value), Double(ref.value), rtol: 1e-4, atol: 1e-6),
                                        "\(label) \(isaName(isa)): \(c.value) vs \(ref.value)")
                                let mq = firstMismatch(c.queryGradient!, ref.queryGradient!, rtol: 2e-3, atol: 1e-5)
                                let mr = firstMismatch(c.referenceGradient!, ref.referenceGradient!, rtol: 2e-3, atol: 1e-5)
                                #expect(mq == nil && mr == nil, "\(label) \(isaName(isa)): \(mq ?? "") \(mr ?? "")")
                            }
                            let values = try contrastiveLoss(queries: x, labels: labels, references: set, dimension: d,
                                                             metric: metric, positiveMargin: 0.2, negativeMargin: neg,
                                                             hinge: hinge, normalize: normalize, reduction: reduction,
                                                             computeGradient: false)
                            #expect(values.queryGradient == nil && isClose(Double(values.value), Double(ref.value), rtol: 1e-4, atol: 1e-6))
                        }
                    }
                }
            }
        }
    }

    @Test("contrastive: NaN in gives NaN out; every pair at 0 gives 0 and a zero gradient")
    func contrastiveEdges() throws {
        let d = 3
        var (x, labels, set) = Self.draw(q: 4, m: 6, d: d, ids: 2, seed: 5, marked: false)
        x[4] = .nan
        for exec in Self.backends {
            for reduction in [PairReduction.sum, .mean, .meanOfNonzero] {
                let r = try contrastiveLoss(queries: x, labels: labels, references: set, dimension: d, reduction: reduction,
                                            execution: exec)
                #expect(r.value.isNaN, "\(exec.backend) \(reduction)")
                #expect(r.queryGradient![3..<6].allSatisfy { $0.isNaN }, "\(exec.backend) \(reduction)")
            }
        }
        // one identity, every distance below the positive margin: no loss above 0 anywhere
        let same = [Int](repeating: 1, count: 6)
        set.labels = same
        x[4] = 0
        for exec in Self.backends {
            let r = try contrastiveLoss(queries: x, labels: [1, 1, 1, 1], references: set, dimension: d,
                                        positiveMargin: 100, execution: exec)
            #expect(r.value == 0 && r.queryGradient!.allSatisfy { $0 == 0 } && r.referenceGradient!.allSatisfy { $0 == 0 })
        }
        // a hinge at exactly 0 (D == negative margin for a pair of 1-d rows): gradient 0
        let at = try contrastiveLoss(queries: [0], labels: [0], references: ReferenceSet(features: [2], labels: [1]),
                                     dimension: 1, negativeMargin: 2, reduction: .sum)
        #expect(at.value == 0 && at.queryGradient == [0] && at.referenceGradient == [0])
    }

    @Test("contrastive: the batch as its own references is pml's batch ContrastiveLoss")
    func batchEquivalence() throws {
        let d = 5, n = 12
        var rng = SeededRandom(seed: 77)
        let x = rng.normal(count: n * d)
        let labels = (0..<n).map { $0 % 4 }
        for metric in DistanceMetric.allCases {
            for reduction in [PairReduction.sum, .mean, .meanOfNonzero] {
                let margin: Float = metric == .cosine ? 0.7 : (metric == .squaredEuclidean ? 9 : 3)
                let c = try contrastiveLoss(queries: x, labels: labels, references: .batch(x, labels: labels), dimension: d,
                                            metric: metric, positiveMargin: 0.5, negativeMargin: margin, reduction: reduction)
                // pml over the batch: every ordered pair i != j, straight from the definition
                let dist = try pairwiseDistance(x, x, dimension: d, metric: metric, execution: .portable)
                var sums = [0.0, 0.0], nonzero = [0, 0]
                for i in 0..<n {
                    for j in 0..<n where j != i {
                        let same = labels[i] == labels[j], D = Double(dist[i * n + j])
                        let l = max(same ? D - 0.5 : Double(margin) - D, 0)
                        sums[same ? 0 : 1] += l
                        if l > 0 { nonzero[same ? 0 : 1] += 1 }
                    }
                }
                let expected = switch reduction {
                case .sum: sums[0] + sums[1]
                case .mean: (sums[0] + sums[1]) / Double(n * (n - 1))
                case .meanOfNonzero: (0..<2).reduce(0.0) { $0 + (nonzero[$1] > 0 ? sums[$1] / Double(nonzero[$1]) : 0) }
                }
                #expect(nonzero[0] > 0 && nonzero[1] > 0)
                #expect(isClose(Double(c.value), expected, rtol: 1e-4, atol: 1e-6), "\(metric) \(reduction): \(c.value) vs \(expected)")
                let p = try contrastiveLoss(queries: x, labels: labels, references: .batch(x, labels: labels), dimension: d,
                                            metric: metric, positiveMargin: 0.5, negativeMargin: margin, reduction: reduction,
                                            execution: .portable)
                #expect(isClose(Double(p.value), expected, rtol: 1e-4, atol: 1e-6), "portable \(metric) \(reduction)")
                // unmarked, each query is also paired with its own copy: a different value
                let unmarked = try contrastiveLoss(queries: x, labels: labels, references: ReferenceSet(features: x, labels: labels),
                                                   dimension: d, metric: metric, positiveMargin: 0.5, negativeMargin: margin,
                                                   reduction: .mean)
                if reduction == .mean { #expect(unmarked.value != c.value) }
            }
        }
    }

    @Test("contrastive: several blocks of queries, bitwise the same at 1 and 2 threads, and equal to portable")
    func contrastiveThreads() throws {
        // m = 70000 references: blocks of 59 queries, so 70 queries take 2 blocks
        let d = 4
        var (x, labels, set) = Self.draw(q: 70, m: 70000, d: d, ids: 50, seed: 9, marked: true)
        // features on a grid of 1/4 in [-2, 2]: every d^2 is exact in float, so the C path (float SGEMM
        // distances) and the portable one (double) put every pair on the same side of its hinge - with
        // 4.9 million pairs some would otherwise sit within float rounding of the margin
        func grid(_ v: Float) -> Float { min(max((v * 4).rounded() / 4, -2), 2) }
        x = x.map(grid)
        set.features = set.features.map(grid)
        for reduction in [PairReduction.meanOfNonzero, .sum] {
            func run(_ threads: Int?) throws -> ReferenceLossResult {
                try contrastiveLoss(queries: x, labels: labels, references: set, dimension: d, negativeMargin: 2.5,
                                    normalize: reduction == .sum, reduction: reduction, execution: Execution(threads: threads))
            }
            let one = try run(1), two = try run(2)
            #expect(one == two, "\(reduction)")
            if reduction == .meanOfNonzero {
                let p = try contrastiveLoss(queries: x, labels: labels, references: set, dimension: d, negativeMargin: 2.5,
                                            reduction: reduction, execution: .portable)
                #expect(isClose(Double(one.value), Double(p.value), rtol: 1e-4, atol: 1e-6))
                // each query row sums 70000 terms of either sign through float SGEMMs: its error is relative
                // to the terms' size (about the largest gradient entry), not to the (cancelled) sum
                for (c, e) in [(one.queryGradient!, p.queryGradient!), (one.referenceGradient!, p.referenceGradient!)] {
                    let scale = Double(e.map { abs($0) }.max()!)
                    #expect(firstMismatch(c, e, rtol: 1e-3, atol: 1e-3 * scale) == nil)
                }
            }
        }
    }

    /// t triplets over q queries and m references.
    static func triplets(q: Int, m: Int, t: Int, seed: UInt64) -> ([Int], [Int], [Int]) {
        var rng = SeededRandom(seed: seed)
        let a = (0..<t).map { _ in Int.random(in: 0..<q, using: &rng) }
        let p = (0..<t).map { _ in Int.random(in: 0..<m, using: &rng) }
        let n = p.map { ($0 + Int.random(in: 1..<m, using: &rng)) % m }
        return (a, p, n)
    }

    @Test("triplets: C vs portable on every ISA, every option; swap ties; 1 vs 2 threads bitwise")
    func tripletDifferential() throws {
        let d = 6
        for (q, m, t) in [(7, 11, 40), (3, 4, 1), (2, 5, 0), (60, 300, 5000)] {
            var rng = SeededRandom(seed: UInt64(q + m))
            var x = rng.normal(count: q * d), y = rng.normal(count: m * d)
            var (a, p, n) = Self.triplets(q: q, m: m, t: t, seed: UInt64(t))
            if q == 7 { // ties: a positive equal to its anchor (D(a, n) == D(p, n)); a zero row; a duplicate pair
                for k in 0..<d { y[2 * d + k] = x[1 * d + k]; x[4 * d + k] = 0 }
                a[0] = 1; p[0] = 2; n[0] = 5
                a[1] = 3; p[1] = 7; n[1] = 7 == n[1] ? 8 : n[1]
            }
            for metric in DistanceMetric.allCases {
                for margin in [TripletMargin.hinge(0.4), .soft(0.1)] {
                    for (improved, swap, normalize) in [(false, false, false), (false, true, false), (true, true, true), (false, false, true)] {
                        for reduction in Reduction.allCases {
                            if q == 60 && (reduction != .mean || metric == .squaredEuclidean) { continue }
                            func run(_ e: Execution) throws -> ReferenceLossResult {
                                try tripletLoss(queries: x, references: y, dimension: d, anchors: a, positives: p, negatives: n,
                                                metric: metric, margin: margin, improved: improved, swap: swap,
                                                normalize: normalize, reduction: reduction, execution: e)
                            }
                            let ref = try run(.portable)
                            let label = "\(q)x\(m)x\(t) \(metric) \(margin) \(improved) \(swap) \(normalize) \(reduction)"
                            try forEachISA { isa in
                                let c = try run(.default)
                                #expect(isClose(Double(c.value), Double(ref.value), rtol: 1e-5, atol: 1e-6), "\(label) \(c.value) vs \(ref.value)")
                                #expect(c.unreduced.map { firstMismatch($0, ref.unreduced!, rtol: 1e-5, atol: 1e-6) == nil } ?? (reduction != .none), "\(label)")
                                let mq = firstMismatch(c.queryGradient!, ref.queryGradient!, rtol: 1e-4, atol: 1e-6)
                                let mr = firstMismatch(c.referenceGradient!, ref.referenceGradient!, rtol: 1e-4, atol: 1e-6)
                                #expect(mq == nil && mr == nil, "\(label) \(isaName(isa)): \(mq ?? "") \(mr ?? "")")
                            }
                            if q == 60 {
                                #expect(try run(Execution(threads: 1)) == run(Execution(threads: 2)), "\(label): threads")
                            }
                        }
                    }
                }
            }
            x[0] = .nan // NaN in: NaN in every triplet of anchor 0
            if let k = a.firstIndex(of: 0) {
                for exec in Self.backends {
                    let r = try tripletLoss(queries: x, references: y, dimension: d, anchors: a, positives: p, negatives: n,
                                            reduction: .none, execution: exec)
                    #expect(r.unreduced![k].isNaN && r.value.isNaN && r.queryGradient![0].isNaN)
                }
            }
        }
    }

    @Test("triplets: equal to the aligned kernel; the aligned API's swap and normalize route through it")
    func tripletAligned() throws {
        let d = 5, t = 30
        var rng = SeededRandom(seed: 31)
        let anchor = rng.normal(count: t * d), positive = rng.normal(count: t * d), negative = rng.normal(count: t * d)
        for metric in DistanceMetric.allCases {
            for improved in [false, true] {
                let aligned = try tripletLoss(anchor: anchor, positive: positive, negative: negative, dimension: d,
                                              metric: metric, margin: 0.7, improved: improved)
                let r = try tripletLoss(queries: anchor, references: positive + negative, dimension: d, anchors: Array(0..<t),
                                        positives: Array(0..<t), negatives: Array(t..<(2 * t)), metric: metric,
                                        margin: .hinge(0.7), improved: improved)
                #expect(isClose(Double(r.value), Double(aligned.value), rtol: 1e-5, atol: 1e-6))
                #expect(firstMismatch(r.queryGradient!, aligned.gradients![0], rtol: 1e-4, atol: 1e-6) == nil)
                #expect(firstMismatch(r.referenceGradient!, aligned.gradients![1] + aligned.gradients![2], rtol: 1e-4, atol: 1e-6) == nil)
            }
            for (swap, normalize) in [(true, false), (false, true), (true, true)] {
                let results = try Self.backends.map { e in
                    try tripletLoss(anchor: anchor, positive: positive, negative: negative, dimension: d, metric: metric,
                                    margin: 0.7, swap: swap, normalize: normalize, reduction: .none, execution: e)
                }
                let plain = try tripletLoss(anchor: anchor, positive: positive, negative: negative, dimension: d,
                                            metric: metric, margin: 0.7, reduction: .none)
                #expect(results[1].unreduced != plain.unreduced, "\(metric) \(swap) \(normalize): the option changed nothing")
                #expect(firstMismatch(results[1].unreduced!, results[0].unreduced!, rtol: 1e-5, atol: 1e-6) == nil)
                for k in 0..<3 {
                    #expect(firstMismatch(results[1].gradients![k], results[0].gradients![k], rtol: 1e-4, atol: 1e-6) == nil)
                }
            }
        }
        // the golden TripletMarginLoss(swap=True) cases through the aligned API, on gathered rows
        for g in try Golden.cases("reference_pairs") where g.name.hasPrefix("torch_") {
            let x = g.input("queries").floats, y = g.input("references").floats
            let dq = g.input("queries").shape[1]
            func gather(_ v: [Float], _ idx: [Int]) -> [Float] { idx.flatMap { Array(v[$0 * dq ..< ($0 + 1) * dq]) } }
            let r = try tripletLoss(anchor: gather(x, g.input("anchors").ints), positive: gather(y, g.input("positives").ints),
                                    negative: gather(y, g.input("negatives").ints), dimension: dq,
                                    margin: g.float("margin")!, swap: true, reduction: Self.reduction(g.string("reduction")))
            #expect(isClose(Double(r.value), g.output("loss").scalar, rtol: 1e-4, atol: 1e-6), "\(g)")
        }
    }

    @Test("quadruplets: C vs portable on every ISA, equal to the aligned kernel, 1 vs 2 threads bitwise, finite differences, bad input")
    func quadruplets() throws {
        let d = 5
        for (q, m, t) in [(6, 10, 30), (2, 3, 0), (50, 400, 4000)] {
            var rng = SeededRandom(seed: UInt64(t + 1))
            var x = rng.normal(count: q * d), y = rng.normal(count: m * d)
            let (a, p, n1) = Self.triplets(q: q, m: m, t: t, seed: UInt64(t + 2))
            let n2 = n1.map { ($0 + 1 + Int.random(in: 0..<(m - 1), using: &rng)) % m }
            if t == 30 { for k in 0..<d { y[n1[0] * d + k] = y[n2[0] * d + k]; x[3 * d + k] = 0 } } // D(n1, n2) at the clamp; a zero row
            for metric in DistanceMetric.allCases {
                for normalize in [false, true] {
                    for reduction in Reduction.allCases {
                        if q == 50 && reduction != .sum { continue }
                        func run(_ e: Execution) throws -> ReferenceLossResult {
                            try quadrupletLoss(queries: x, references: y, dimension: d, anchors: a, positives: p, negatives1: n1,
                                               negatives2: n2, metric: metric, margin1: 0.9, margin2: 0.4, normalize: normalize,
                                               reduction: reduction, execution: e)
                        }
                        let ref = try run(.portable)
                        let label = "\(q)x\(m)x\(t) \(metric) \(normalize) \(reduction)"
                        try forEachISA { isa in
                            let c = try run(.default)
                            #expect(isClose(Double(c.value), Double(ref.value), rtol: 1e-5, atol: 1e-6), "\(label) \(c.value) vs \(ref.value)")
                            #expect(c.unreduced.map { firstMismatch($0, ref.unreduced!, rtol: 1e-5, atol: 1e-6) == nil } ?? (reduction != .none))
                            let mq = firstMismatch(c.queryGradient!, ref.queryGradient!, rtol: 1e-4, atol: 1e-6)
                            let mr = firstMismatch(c.referenceGradient!, ref.referenceGradient!, rtol: 1e-4, atol: 1e-6)
                            #expect(mq == nil && mr == nil, "\(label) \(isaName(isa)): \(mq ?? "") \(mr ?? "")")
                        }
                        if q == 50 { #expect(try run(Execution(threads: 1)) == run(Execution(threads: 2)), "\(label): threads") }
                    }
                }
                guard t == 30 else { continue }
                // the aligned kernel on the gathered rows
                func gather(_ v: [Float], _ idx: [Int]) -> [Float] { idx.flatMap { Array(v[$0 * d ..< ($0 + 1) * d]) } }
                let aligned = try quadrupletLoss(anchor: gather(x, a), positive: gather(y, p), negative1: gather(y, n1),
                                                 negative2: gather(y, n2), dimension: d, metric: metric, margin1: 0.9,
                                                 margin2: 0.4, reduction: .none)
                let r = try quadrupletLoss(queries: x, references: y, dimension: d, anchors: a, positives: p, negatives1: n1,
                                           negatives2: n2, metric: metric, margin1: 0.9, margin2: 0.4, reduction: .none)
                #expect(firstMismatch(r.unreduced!, aligned.unreduced!, rtol: 1e-5, atol: 1e-6) == nil, "\(metric) aligned")
                var gq = [Float](repeating: 0, count: x.count)
                for (k, i) in a.enumerated() { for j in 0..<d { gq[i * d + j] += aligned.gradients![0][k * d + j] } }
                #expect(firstMismatch(r.queryGradient!, gq, rtol: 1e-4, atol: 1e-5) == nil, "\(metric) aligned gradient")
                // finite differences (normalized, so every term is smooth away from the hinges)
                func loss(_ q: [Float], _ y: [Float]) -> [Float] {
                    (try? quadrupletLoss(queries: q, references: y, dimension: d, anchors: a, positives: p, negatives1: n1,
                                         negatives2: n2, metric: metric, margin1: 0.9, margin2: 0.4, normalize: true,
                                         reduction: .none, computeGradient: false).unreduced!) ?? []
                }
                var xs = x, ys = y
                for k in 0..<d { ys[n1[0] * d + k] += 0.3; xs[3 * d + k] = 0.5 } // off the clamp and the floor
                let g = try quadrupletLoss(queries: xs, references: ys, dimension: d, anchors: a, positives: p, negatives1: n1,
                                           negatives2: n2, metric: metric, margin1: 0.9, margin2: 0.4, normalize: true,
                                           reduction: .sum)
                let nq = finiteDifferenceGradient(at: xs, relativeStep: 1e-3, minimumStep: 1e-3) { loss($0, ys) }
                let ny = finiteDifferenceGradient(at: ys, relativeStep: 1e-3, minimumStep: 1e-3) { loss(xs, $0) }
                #expect(firstMismatch(g.queryGradient!, nq, rtol: 5e-2, atol: 5e-3) == nil, "\(metric) finite differences, queries")
                #expect(firstMismatch(g.referenceGradient!, ny, rtol: 5e-2, atol: 5e-3) == nil, "\(metric) finite differences, references")
            }
        }
        for exec in Self.backends {
            #expect(throws: LossKitError.self) {
                try quadrupletLoss(queries: [0, 1], references: [0, 1, 2, 3], dimension: 2, anchors: [0], positives: [0],
                                   negatives1: [1], negatives2: [2], execution: exec)
            }
            #expect(throws: LossKitError.self) {
                try quadrupletLoss(queries: [0, 1], references: [0, 1, 2, 3], dimension: 2, anchors: [0], positives: [0],
                                   negatives1: [1], negatives2: [0], margin2: -1, execution: exec)
            }
        }
        var loss: Float = 0
        let f: [Float] = [0, 1, 2, 3], zero: [Int64] = [0], two: [Int64] = [2]
        #expect(losskit_quadruplet_reference(LOSSKIT_METRIC_EUCLIDEAN, f, 2, f, 2, 2, zero, zero, zero, two, 1, 1, 0.5, 0,
                                             LOSSKIT_REDUCTION_MEAN, &loss, nil, nil, 1) == -10)
        #expect(losskit_quadruplet_reference(LOSSKIT_METRIC_EUCLIDEAN, f, 2, f, 2, 2, zero, zero, zero, zero, 1, 1, -0.5, 0,
                                             LOSSKIT_REDUCTION_MEAN, &loss, nil, nil, 1) == -13)
    }

    @Test("finite differences of both losses, wrt queries and references")
    func finiteDifferences() throws {
        let d = 4
        let (x, labels, set) = Self.draw(q: 5, m: 7, d: d, ids: 2, seed: 3, marked: true)
        for normalize in [false, true] {
            let margin: Float = normalize ? 1.2 : 3
            let r = try contrastiveLoss(queries: x, labels: labels, references: set, dimension: d, negativeMargin: margin,
                                        hinge: .squared, normalize: normalize, reduction: .sum)
            let nq = finiteDifferenceGradient(at: x, relativeStep: 1e-3, minimumStep: 1e-3) { probe in
                [(try? contrastiveLoss(queries: probe, labels: labels, references: set, dimension: d, negativeMargin: margin,
                                       hinge: .squared, normalize: normalize, reduction: .sum, computeGradient: false).value) ?? .nan]
            }
            let nr = finiteDifferenceGradient(at: set.features, relativeStep: 1e-3, minimumStep: 1e-3) { probe in
                var s = set
                s.features = probe
                return [(try? contrastiveLoss(queries: x, labels: labels, references: s, dimension: d, negativeMargin: margin,
                                              hinge: .squared, normalize: normalize, reduction: .sum, computeGradient: false).value) ?? .nan]
            }
            #expect(firstMismatch(r.queryGradient!, nq, rtol: 2e-2, atol: 2e-2) == nil, "contrastive queries \(normalize)")
            #expect(firstMismatch(r.referenceGradient!, nr, rtol: 2e-2, atol: 2e-2) == nil, "contrastive references \(normalize)")
        }
        var rng = SeededRandom(seed: 8)
        let q = rng.normal(count: 4 * d), y = rng.normal(count: 6 * d)
        let (a, p, n) = Self.triplets(q: 4, m: 6, t: 9, seed: 2)
        for metric in DistanceMetric.allCases {
            func loss(_ q: [Float], _ y: [Float]) -> [Float] {
                (try? tripletLoss(queries: q, references: y, dimension: d, anchors: a, positives: p, negatives: n, metric: metric,
                                  margin: .soft(0.2), improved: true, swap: true, normalize: true, reduction: .none,
                                  computeGradient: false).unreduced!) ?? []
            }
            let r = try tripletLoss(queries: q, references: y, dimension: d, anchors: a, positives: p, negatives: n, metric: metric,
                                    margin: .soft(0.2), improved: true, swap: true, normalize: true, reduction: .sum)
            let nq = finiteDifferenceGradient(at: q, relativeStep: 1e-3, minimumStep: 1e-3) { loss($0, y) }
            let ny = finiteDifferenceGradient(at: y, relativeStep: 1e-3, minimumStep: 1e-3) { loss(q, $0) }
            #expect(firstMismatch(r.queryGradient!, nq, rtol: 2e-2, atol: 2e-3) == nil, "triplet queries \(metric)")
            #expect(firstMismatch(r.referenceGradient!, ny, rtol: 2e-2, atol: 2e-3) == nil, "triplet references \(metric)")
        }
    }

    @Test("bad input: typed errors in Swift, status codes in C")
    func badInput() throws {
        let set = ReferenceSet(features: [0, 1, 2, 3], labels: [0, 1])
        func argument(_ body: () throws -> Void) -> String? {
            do { try body() } catch let e as LossKitError {
                switch e {
                case let .shapeMismatch(a, _, _), let .invalidShape(a, _, _), let .invalidParameter(a, _, _),
                     let .labelOutOfRange(a, _, _, _):
                    return a
                default: return "other"
                }
            } catch { return "not a LossKitError" }
            return nil
        }
        for exec in Self.backends {
            #expect(argument { _ = try contrastiveLoss(queries: [0, 1], labels: [0], references: set, dimension: 2,
                                                      negativeMargin: -1, execution: exec) } == "negativeMargin")
            #expect(argument { _ = try contrastiveLoss(queries: [0, 1], labels: [0], references: set, dimension: 2,
                                                      positiveMargin: .nan, execution: exec) } == "positiveMargin")
            #expect(argument { _ = try contrastiveLoss(queries: [0, 1], labels: [0, 1], references: set, dimension: 2,
                                                      execution: exec) } == "labels")
            let badMarks = ReferenceSet(features: [0, 1, 2, 3], labels: [0, 1], queryIndex: [0, 1])
            #expect(argument { _ = try contrastiveLoss(queries: [0, 1], labels: [0], references: badMarks, dimension: 2,
                                                      execution: exec) } == "references.queryIndex")
            #expect(argument { _ = try contrastiveLoss(queries: [0, 1, 2], labels: [0], references: set, dimension: 2,
                                                      execution: exec) } == "queries")
            #expect(argument { _ = try contrastiveLoss(queries: [0, 1], labels: [0], references: set, dimension: 0,
                                                      execution: exec) } == "dimension")
            for (a, p, n, name) in [([1], [0], [1], "anchors"), ([0], [2], [1], "positives"), ([0], [0], [-1], "negatives")] {
                #expect(argument { _ = try tripletLoss(queries: [0, 1], references: [0, 1, 2, 3], dimension: 2, anchors: a,
                                                      positives: p, negatives: n, execution: exec) } == name)
            }
            #expect(argument { _ = try tripletLoss(queries: [0, 1], references: [0, 1, 2, 3], dimension: 2, anchors: [0, 0],
                                                  positives: [0], negatives: [1], execution: exec) } == "positives")
            #expect(argument { _ = try tripletLoss(queries: [0, 1], references: [0, 1, 2, 3], dimension: 2, anchors: [0],
                                                  positives: [0], negatives: [1], margin: .hinge(-0.1), execution: exec) } == "margin")
            #expect(argument { _ = try tripletLoss(anchor: [0, 1], positive: [0, 1], negative: [1, 1], dimension: 2,
                                                  margin: -1, swap: true, execution: exec) } == "margin")
        }
        // C: -k for the k-th argument
        let x: [Float] = [0, 1, 2, 3], lab: [Int64] = [0, 1]
        var loss: Float = 0
        let euclid = LOSSKIT_METRIC_EUCLIDEAN, mean = LOSSKIT_PAIRS_MEAN_NONZERO
        func contrastive(marks: [Int64]?, pm: Float = 0, nm: Float = 1, power: Int32 = 1,
                         reduction: losskit_pair_reduction = LOSSKIT_PAIRS_MEAN_NONZERO) -> Int32 {
            losskit_contrastive_reference(euclid, x, lab, 2, x, lab, marks, 2, 2, pm, nm, power, 0, reduction, &loss, nil, nil, 1)
        }
        #expect(contrastive(marks: [0, 2]) == -7)
        #expect(contrastive(marks: [-2, 0]) == -7)
        #expect(contrastive(marks: [1, -1]) == 0)
        #expect(contrastive(marks: nil, pm: -1) == -10)
        #expect(contrastive(marks: nil, nm: .infinity) == -11)
        #expect(contrastive(marks: nil, power: 3) == -12)
        #expect(contrastive(marks: nil, power: 0) == -12)
        #expect(contrastive(marks: nil, reduction: losskit_pair_reduction(rawValue: 3)) == -14)
        #expect(losskit_contrastive_reference(LOSSKIT_METRIC_COSINE, x, lab, 2, x, lab, nil, 2, 0, 0, 1, 1, 0, mean, &loss, nil, nil, 1) == -9)
        #expect(losskit_contrastive_reference(euclid, x, nil, 2, x, lab, nil, 2, 2, 0, 1, 1, 0, mean, &loss, nil, nil, 1) == -3)
        #expect(losskit_contrastive_reference(euclid, x, lab, 2, x, lab, nil, 2, 2, 0, 1, 1, 0, mean, &loss, nil, nil, -1) == -18)
        let one: [Int64] = [0], two: [Int64] = [2]
        func triplet(_ a: [Int64], _ p: [Int64], _ n: [Int64], margin: Float = 0.3, reduction: losskit_reduction = LOSSKIT_REDUCTION_MEAN) -> Int32 {
            losskit_triplet_reference(euclid, x, 2, x, 2, 2, a, p, n, 1, margin, 0, 0, 1, 0, reduction, &loss, nil, nil, 1)
        }
        #expect(triplet(two, one, one) == -7)
        #expect(triplet(one, two, one) == -8)
        #expect(triplet(one, one, [-1]) == -9)
        #expect(triplet(one, one, one, margin: -0.5) == -11)
        #expect(triplet(one, one, one, reduction: losskit_reduction(rawValue: 3)) == -16)
        #expect(triplet(one, one, one) == 0)
        #expect(losskit_triplet_reference(euclid, x, 2, x, 2, 2, nil, one, one, 1, 0.3, 0, 0, 0, 0, LOSSKIT_REDUCTION_MEAN, &loss, nil, nil, 1) == -7)
    }
}
