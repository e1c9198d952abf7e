import LossKit
import Testing
import _TestSupport

/// Clustered rows: identity `labels[i]`'s center plus noise.
func clusteredRows(_ labels: [Int], d: Int, rng: inout SeededRandom, spread: Float = 0.6) -> [Float] {
    let centers = (0...(labels.max() ?? 0)).map { _ in rng.normal(count: d) }
    return labels.flatMap { zip(centers[$0], rng.normal(count: d, std: spread)).map { $0 + $1 } }
}

@Suite("Reference sets: TriHard of queries against references")
struct ReferenceTriHardTests {
    static func metric(_ name: String?) -> DistanceMetric {
        name == "cosine" ? .cosine : name == "sqeuclidean" ? .squaredEuclidean : .euclidean
    }

    static func reduction(_ name: String?) -> Reduction {
        name == "none" ? .none : name == "sum" ? .sum : .mean
    }

    /// Runs `body` once for the portable backend, and once per ISA for the C backend.
    static func forEachPath(_ body: (Execution, String) throws -> Void) rethrows {
        try body(.portable, "portable")
        try forEachISA { isa in try body(.default, "c \(isaName(isa))") }
    }

    @Test("golden vs PyTorch: gallery, memory + marked batch, unmarked copies, batch; margins, metrics, semi-hard, normalize, reductions, meanCount")
    func golden() throws {
        for g in try Golden.cases("trihard_reference") {
            let x = g.input("queries"), r = g.input("references")
            let d = x.shape[1]
            let marks = g.input("reference_query").ints
            let references = ReferenceSet(features: r.floats, labels: g.input("reference_labels").ints,
                                          queryIndex: marks.allSatisfy { $0 == -1 } ? nil : marks)
            let margin: TripletMargin = g.bool("soft") == true ? .soft(g.float("margin")!) : .hinge(g.float("margin")!)
            let reduction = Self.reduction(g.string("reduction"))
            try Self.forEachPath { execution, path in
                let result = try triHardLoss(queries: x.floats, labels: g.input("labels").ints, references: references,
                                             dimension: d, metric: Self.metric(g.string("metric")), margin: margin,
                                             mining: g.string("mining") == "semihard" ? .semiHard : .hardest,
                                             normalize: g.bool("normalize") == true, reduction: reduction,
                                             meanCount: g.number("mean_count").map { Int($0) }, execution: execution)
                let label = "\(g) \(path)"
                #expect(isClose(Double(result.value), g.output("loss").scalar, rtol: 1e-4, atol: 1e-6), "\(label): \(result.value)")
                #expect(result.hardestPositive == g.output("hardest_positive").ints, "\(label)")
                #expect(result.hardestNegative == g.output("hardest_negative").ints, "\(label)")
                let gq = firstMismatch(result.queryGradient!, g.output("grad_queries").data, rtol: 1e-4, atol: 1e-6)
                let gr = firstMismatch(result.referenceGradient!, g.output("grad_references").data, rtol: 1e-4, atol: 1e-6)
                #expect(gq == nil, "\(label) queries: \(gq ?? "")")
                #expect(gr == nil, "\(label) references: \(gr ?? "")")
                if reduction == .none {
                    let m = firstMismatch(result.unreduced!, g.output("per_query").data, rtol: 1e-4, atol: 1e-6)
                    #expect(m == nil, "\(label) per query: \(m ?? "")")
                } else {
                    #expect(result.unreduced == nil, "\(label)")
                }
            }
        }
    }

    @Test("golden: the batch TriHard with normalize (reid normalize_feature), both backends")
    func goldenBatchNormalize() throws {
        let g = try Golden.cases("trihard_reference").first { $0.name == "batch_as_references_normalize_soft" }!
        let x = g.input("queries")
        try Self.forEachPath { execution, path in
            let r = try triHard(features: x.floats, labels: g.input("labels").ints, dimension: x.shape[1], margin: nil,
                                normalize: true, execution: execution)
            #expect(isClose(Double(r.result.value), g.output("loss").scalar, rtol: 1e-4, atol: 1e-6), "\(path)")
            #expect(r.hardestPositive == g.output("hardest_positive").ints && r.hardestNegative == g.output("hardest_negative").ints)
            // the batch rows are queries and references at once: the gradient is the sum of the two
            let expected = zip(g.output("grad_queries").data, g.output("grad_references").data).map { $0 + $1 }
            let m = firstMismatch(r.result.gradients![0], expected, rtol: 1e-4, atol: 1e-6)
            #expect(m == nil, "\(path): \(m ?? "")")
        }
    }

    /// The inputs the differential test sweeps: (name, queries, labels, references, q, d).
    static func differentialInputs() -> [(String, [Float], [Int], ReferenceSet, Int)] {
        var rng = SeededRandom(seed: 1414)
        let d = 7
        var cases: [(String, [Float], [Int], ReferenceSet, Int)] = []
        let qLabels = (0..<9).map { $0 % 4 }
        let rLabels = (0..<40).map { _ in Int(rng.next() % 6) }
        let rows = clusteredRows(qLabels + rLabels, d: d, rng: &rng)
        let queries = Array(rows[..<(9 * d)]), refs = Array(rows[(9 * d)...])
        cases.append(("random gallery", queries, qLabels, ReferenceSet(features: refs, labels: rLabels), d))
        // exact ties: references 3, 17 and 31 are the same row and label, so are 5 and 22 (different labels)
        var tied = refs, tiedLabels = rLabels
        for j in [17, 31] { for k in 0..<d { tied[j * d + k] = tied[3 * d + k] }; tiedLabels[j] = tiedLabels[3] }
        for k in 0..<d { tied[22 * d + k] = tied[5 * d + k] }
        cases.append(("ties", queries, qLabels, ReferenceSet(features: tied, labels: tiedLabels), d))
        // a memory that holds the batch, marked; and the same rows unmarked (copies: other samples)
        let memory = ReferenceSet(features: refs + queries, labels: rLabels + qLabels, queriesAt: 40, queryCount: 9)
        cases.append(("memory + batch, marked", queries, qLabels, memory, d))
        cases.append(("memory + batch, unmarked copies", queries, qLabels,
                      ReferenceSet(features: refs + queries, labels: rLabels + qLabels), d))
        cases.append(("batch as references", queries, qLabels, .batch(queries, labels: qLabels), d))
        // duplicate queries (two rows equal, labels equal), marked against the batch
        var dup = queries
        for k in 0..<d { dup[4 * d + k] = dup[0 * d + k] }
        cases.append(("duplicate queries", dup, qLabels, .batch(dup, labels: qLabels), d))
        // one identity: no negatives anywhere, every query skipped
        cases.append(("one identity", queries, [Int](repeating: 2, count: 9),
                      ReferenceSet(features: refs, labels: [Int](repeating: 2, count: 40)), d))
        // NaN in a query row; NaN in a reference row
        var nanQuery = queries
        nanQuery[2 * d + 1] = .nan
        cases.append(("NaN query", nanQuery, qLabels, ReferenceSet(features: refs, labels: rLabels), d))
        var nanRef = refs
        nanRef[11 * d + 4] = .nan
        cases.append(("NaN reference", queries, qLabels, ReferenceSet(features: nanRef, labels: rLabels), d))
        cases.append(("q = 0", [], [], ReferenceSet(features: refs, labels: rLabels), d))
        cases.append(("m = 0", queries, qLabels, ReferenceSet(features: [], labels: []), d))
        return cases
    }

    @Test("C vs portable on every ISA: random, ties, self-marked, unmarked copies, duplicates, one identity, NaN, q = 0, m = 0")
    func differential() throws {
        for (name, queries, labels, references, d) in Self.differentialInputs() {
            for metric in DistanceMetric.allCases {
                for margin in [TripletMargin.hinge(0.3), .soft(0.1)] {
                    for mining in [NegativeMining.hardest, .semiHard] {
                        for normalize in [false, true] {
                            let label = "\(name) \(metric) \(margin) \(mining) normalize \(normalize)"
                            let reference = try triHardLoss(queries: queries, labels: labels, references: references,
                                                            dimension: d, metric: metric, margin: margin, mining: mining,
                                                            normalize: normalize, execution: .portable)
                            try forEachISA { isa in
                                let c = try triHardLoss(queries: queries, labels: labels, references: references,
                                                        dimension: d, metric: metric, margin: margin, mining: mining,
                                                        normalize: normalize)
                                Self.expectAgree(c, reference, "\(label) \(isaName(isa))")
                            }
                        }
                    }
                }
            }
        }
    }

    static func expectAgree(_ c: ReferenceLossResult, _ reference: ReferenceLossResult, _ label: String) {
        #expect(c.hardestPositive == reference.hardestPositive, "\(label): positives")
        #expect(c.hardestNegative == reference.hardestNegative, "\(label): negatives")
        #expect(isClose(Double(c.value), Double(reference.value), rtol: 1e-5, atol: 1e-6), "\(label): \(c.value) vs \(reference.value)")
        guard !reference.value.isNaN else { return } // a NaN loss: its gradient's NaN pattern is the kernel's choice
        let gq = firstMismatch(c.queryGradient!, reference.queryGradient!, rtol: 1e-4, atol: 1e-6)
        let gr = firstMismatch(c.referenceGradient!, reference.referenceGradient!, rtol: 1e-4, atol: 1e-6)
        #expect(gq == nil, "\(label) queries: \(gq ?? "")")
        #expect(gr == nil, "\(label) references: \(gr ?? "")")
    }

    @Test("edge results: one identity and m = 0 give 0 and zero gradients; NaN in gives NaN out; q = 0 gives 0")
    func edges() throws {
        let cases = Dictionary(uniqueKeysWithValues: Self.differentialInputs().map { ($0.0, $0) })
        try Self.forEachPath { execution, path in
            for name in ["one identity", "m = 0", "q = 0"] {
                let (_, x, l, refs, d) = cases[name]!
                let r = try triHardLoss(queries: x, labels: l, references: refs, dimension: d, execution: execution)
                #expect(r.value == 0, "\(name) \(path)")
                #expect(r.queryGradient!.allSatisfy { $0 == 0 } && r.referenceGradient!.allSatisfy { $0 == 0 }, "\(name) \(path)")
                #expect(r.queryGradient!.count == x.count && r.referenceGradient!.count == refs.features.count)
                #expect(r.hardestPositive!.allSatisfy { $0 == -1 } && r.hardestNegative!.allSatisfy { $0 == -1 })
            }
            let (_, x, l, refs, d) = cases["NaN query"]!
            let r = try triHardLoss(queries: x, labels: l, references: refs, dimension: d, reduction: .none, execution: execution)
            #expect(r.value.isNaN && r.unreduced![2].isNaN, "\(path)")
            #expect(r.unreduced!.enumerated().allSatisfy { $0.offset == 2 || !$0.element.isNaN }, "\(path): only query 2")
            let (_, x2, l2, refs2, _) = cases["NaN reference"]!
            let s = try triHardLoss(queries: x2, labels: l2, references: refs2, dimension: d, reduction: .none, execution: execution)
            #expect(s.unreduced!.allSatisfy { $0.isNaN }, "\(path): every query sees reference 11 as its positive or negative")
        }
    }

    @Test("a marked reference is never its query's positive; an unmarked copy is another sample")
    func selfMarking() throws {
        // two identities of two rows each; query 0's only same-label reference besides itself is row 1
        let x: [Float] = [0, 0, 3, 0, 10, 0, 10, 1]
        let labels = [0, 0, 1, 1]
        try Self.forEachPath { execution, path in
            let marked = try triHardLoss(queries: x, labels: labels, references: .batch(x, labels: labels), dimension: 2,
                                         reduction: .none, execution: execution)
            #expect(marked.hardestPositive == [1, 0, 3, 2], "\(path)")
            let unmarked = try triHardLoss(queries: x, labels: labels, references: ReferenceSet(features: x, labels: labels),
                                           dimension: 2, reduction: .none, execution: execution)
            #expect(unmarked.hardestPositive == [1, 0, 3, 2], "\(path): the copy is closer, the other row still the hardest")
            // one row per identity: marked, every query is skipped; unmarked, each takes its copy at distance 1e-6
            let single: [Float] = [0, 0, 5, 0], singleLabels = [0, 1]
            let s = try triHardLoss(queries: single, labels: singleLabels, references: .batch(single, labels: singleLabels),
                                    dimension: 2, execution: execution)
            #expect(s.value == 0 && s.hardestPositive == [-1, -1], "\(path)")
            let u = try triHardLoss(queries: single, labels: singleLabels,
                                    references: ReferenceSet(features: single, labels: singleLabels), dimension: 2,
                                    margin: .hinge(6), execution: execution)
            #expect(u.hardestPositive == [0, 1] && u.hardestNegative == [1, 0], "\(path)")
            #expect(isClose(Double(u.value), 1e-6 - 5 + 6, rtol: 1e-5, atol: 1e-6), "\(path): \(u.value)")
        }
    }

    @Test("finite differences wrt queries and references: margins, metrics, normalize on")
    func finiteDifferences() throws {
        var rng = SeededRandom(seed: 99)
        let d = 4
        let qLabels = [0, 0, 1, 2, 2], rLabels = [0, 1, 2, 0, 1, 2, 1, 0, 2, 3]
        let rows = clusteredRows(qLabels + rLabels, d: d, rng: &rng, spread: 0.8)
        let queries = Array(rows[..<(5 * d)]), refs = Array(rows[(5 * d)...])
        for (metric, margin, normalize) in [(DistanceMetric.euclidean, TripletMargin.soft(0.2), true),
                                            (.euclidean, .hinge(5), false), (.cosine, .soft(0), true),
                                            (.squaredEuclidean, .soft(0.5), true)] {
            try Self.forEachPath { execution, path in
                func run(_ x: [Float], _ r: [Float], gradient: Bool) throws -> ReferenceLossResult {
                    try triHardLoss(queries: x, labels: qLabels, references: ReferenceSet(features: r, labels: rLabels),
                                    dimension: d, metric: metric, margin: margin, normalize: normalize,
                                    reduction: gradient ? .sum : .none, computeGradient: gradient, execution: execution)
                }
                let analytic = try run(queries, refs, gradient: true)
                let numericQ = finiteDifferenceGradient(at: queries, relativeStep: 1e-3, minimumStep: 1e-3) { probe in
                    (try? run(probe, refs, gradient: false).unreduced!) ?? []
                }
                let numericR = finiteDifferenceGradient(at: refs, relativeStep: 1e-3, minimumStep: 1e-3) { probe in
                    (try? run(queries, probe, gradient: false).unreduced!) ?? []
                }
                let label = "\(metric) \(margin) normalize \(normalize) \(path)"
                let mq = firstMismatch(analytic.queryGradient!, numericQ, rtol: 2e-2, atol: 2e-3)
                let mr = firstMismatch(analytic.referenceGradient!, numericR, rtol: 2e-2, atol: 2e-3)
                #expect(mq == nil, "\(label) queries: \(mq ?? "")")
                #expect(mr == nil, "\(label) references: \(mr ?? "")")
                #expect(analytic.referenceGradient!.contains { $0 != 0 }, "\(label): references get a gradient")
            }
        }
    }

    @Test("references = the batch equals the batch TriHard: loss, indices, gradient = query + reference gradients")
    func batchEquivalence() throws {
        let (x, labels) = TriHardTests.batch(p: 6, k: 4, d: 10, seed: 5)
        var unbalanced = labels
        unbalanced[7] = 50 // a singleton: skipped by both
        for metric in DistanceMetric.allCases {
            for (margin, batchMargin) in [(TripletMargin.hinge(0.3), Float?(0.3)), (.soft(0), nil)] {
                for mining in [NegativeMining.hardest, .semiHard] {
                    for reduction in Reduction.allCases {
                        try Self.forEachPath { execution, path in
                            let batch = try triHard(features: x, labels: unbalanced, dimension: 10, metric: metric,
                                                    margin: batchMargin, mining: mining, reduction: reduction,
                                                    execution: execution)
                            let r = try triHardLoss(queries: x, labels: unbalanced, references: .batch(x, labels: unbalanced),
                                                    dimension: 10, metric: metric, margin: margin, mining: mining,
                                                    reduction: reduction, execution: execution)
                            let label = "\(metric) \(margin) \(mining) \(reduction) \(path)"
                            #expect(r.hardestPositive! == batch.hardestPositive && r.hardestNegative! == batch.hardestNegative, "\(label)")
                            #expect(isClose(Double(r.value), Double(batch.result.value), rtol: 1e-5, atol: 1e-6), "\(label)")
                            let sum = zip(r.queryGradient!, r.referenceGradient!).map { $0 + $1 }
                            let m = firstMismatch(sum, batch.result.gradients![0], rtol: 1e-4, atol: 1e-6)
                            #expect(m == nil, "\(label): \(m ?? "")")
                            if reduction == .none {
                                let u = firstMismatch(r.unreduced!, batch.result.unreduced!, rtol: 1e-5, atol: 1e-6)
                                #expect(u == nil, "\(label): \(u ?? "")")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("normalize: false keeps the batch TriHard bit for bit; true equals the reference call on the batch")
    func batchNormalizeOption() throws {
        let (x, labels) = TriHardTests.batch(p: 5, k: 3, d: 6, seed: 8)
        try Self.forEachPath { execution, path in
            let plain = try triHardLoss(features: x, labels: labels, dimension: 6, execution: execution)
            let explicit = try triHardLoss(features: x, labels: labels, dimension: 6, normalize: false, execution: execution)
            #expect(plain == explicit, "\(path)")
            let normalized = try triHard(features: x, labels: labels, dimension: 6, normalize: true, execution: execution)
            let r = try triHardLoss(queries: x, labels: labels, references: .batch(x, labels: labels), dimension: 6,
                                    normalize: true, execution: execution)
            #expect(normalized.result.value == r.value && normalized.hardestPositive == r.hardestPositive!, "\(path)")
            #expect(normalized.result.gradients![0] == zip(r.queryGradient!, r.referenceGradient!).map { $0 + $1 }, "\(path)")
            #expect(normalized.result.value != plain.value, "\(path): normalizing changes the loss")
            // scaling a row does not change the normalized loss
            var scaled = x
            for k in 0..<6 { scaled[k] *= 3 }
            let s = try triHardLoss(features: scaled, labels: labels, dimension: 6, normalize: true, execution: execution)
            #expect(isClose(Double(s.value), Double(normalized.result.value), rtol: 1e-5, atol: 1e-7), "\(path)")
            let noGradient = try triHardLoss(features: x, labels: labels, dimension: 6, normalize: true,
                                             computeGradient: false, execution: execution)
            #expect(noGradient.gradients == nil && noGradient.value == normalized.result.value, "\(path)")
        }
    }

    @Test("meanCount: the loss and gradients are the sum's over meanCount; split queries add up to the whole")
    func meanCount() throws {
        var rng = SeededRandom(seed: 31)
        let d = 5
        let labels = (0..<16).map { $0 % 5 }
        let x = clusteredRows(labels, d: d, rng: &rng)
        let all = ReferenceSet.batch(x, labels: labels)
        try Self.forEachPath { execution, path in
            let sum = try triHardLoss(queries: x, labels: labels, references: all, dimension: d, reduction: .sum,
                                      execution: execution)
            let m = try triHardLoss(queries: x, labels: labels, references: all, dimension: d, meanCount: 40,
                                    execution: execution)
            #expect(isClose(Double(m.value), Double(sum.value) / 40, rtol: 1e-6, atol: 0), "\(path)")
            #expect(firstMismatch(m.queryGradient!, sum.queryGradient!.map { $0 / 40 }, rtol: 1e-6, atol: 1e-9) == nil, "\(path)")
            let sumUnused = try triHardLoss(queries: x, labels: labels, references: all, dimension: d, reduction: .sum,
                                            meanCount: 40, execution: execution)
            #expect(sumUnused == sum, "\(path): meanCount is for .mean only")
            // two "ranks": each its half of the queries against every row, marked at its offset
            let whole = try triHardLoss(queries: x, labels: labels, references: all, dimension: d, execution: execution)
            let kept = whole.hardestPositive!.filter { $0 >= 0 }.count
            var value = 0.0, gq: [Float] = [], gr = [Float](repeating: 0, count: x.count)
            for (offset, count) in [(0, 7), (7, 9)] {
                let part = try triHardLoss(queries: Array(x[(offset * d)..<((offset + count) * d)]),
                                           labels: Array(labels[offset..<(offset + count)]),
                                           references: ReferenceSet(features: x, labels: labels, queriesAt: offset,
                                                                    queryCount: count),
                                           dimension: d, meanCount: kept, execution: execution)
                value += Double(part.value)
                gq += part.queryGradient!
                for k in gr.indices { gr[k] += part.referenceGradient![k] }
            }
            #expect(isClose(value, Double(whole.value), rtol: 1e-6, atol: 1e-7), "\(path)")
            #expect(firstMismatch(gq, whole.queryGradient!, rtol: 1e-5, atol: 1e-7) == nil, "\(path)")
            #expect(firstMismatch(gr, whole.referenceGradient!, rtol: 1e-5, atol: 1e-7) == nil, "\(path)")
        }
    }

    @Test("bitwise identical at 1 and 2 threads, both backends, every ISA")
    func threads() throws {
        var rng = SeededRandom(seed: 12)
        let d = 24
        let qLabels = (0..<300).map { _ in Int(rng.next() % 60) }, rLabels = (0..<1500).map { _ in Int(rng.next() % 60) }
        let rows = clusteredRows(qLabels + rLabels, d: d, rng: &rng)
        let queries = Array(rows[..<(300 * d)])
        let references = ReferenceSet(features: rows, labels: qLabels + rLabels, queriesAt: 0, queryCount: 300)
        for (mining, normalize) in [(NegativeMining.hardest, false), (.semiHard, true)] {
            try Self.forEachPath { execution, path in
                func run(_ threads: Int) throws -> ReferenceLossResult {
                    try triHardLoss(queries: queries, labels: qLabels, references: references, dimension: d,
                                    mining: mining, normalize: normalize,
                                    execution: Execution(backend: execution.backend, threads: threads))
                }
                let one = try run(1), two = try run(2)
                #expect(one == two, "\(mining) \(normalize) \(path)")
            }
        }
    }

    @Test("computeGradient false: the same loss and indices, no gradients")
    func noGradient() throws {
        let (_, queries, labels, references, d) = Self.differentialInputs()[2]
        try Self.forEachPath { execution, path in
            let with = try triHardLoss(queries: queries, labels: labels, references: references, dimension: d, execution: execution)
            let without = try triHardLoss(queries: queries, labels: labels, references: references, dimension: d,
                                          computeGradient: false, execution: execution)
            #expect(without.queryGradient == nil && without.referenceGradient == nil, "\(path)")
            #expect(without.value == with.value && without.hardestNegative == with.hardestNegative, "\(path)")
        }
    }

    @Test("bad input throws a typed error naming the argument")
    func badInput() {
        let x: [Float] = [0, 1, 2, 3], labels = [0, 1]
        let refs = ReferenceSet(features: [0, 1, 2, 3, 4, 5], labels: [0, 1, 1])
        func argument(_ body: () throws -> ReferenceLossResult) -> String? {
            do { _ = try body(); return nil } catch let error as LossKitError {
                switch error {
                case let .shapeMismatch(a, _, _), let .invalidShape(a, _, _), let .invalidParameter(a, _, _),
                     let .labelOutOfRange(a, _, _, _): return a
                default: return "\(error)"
                }
            } catch { return "\(error)" }
        }
        for backend in Backend.allCases {
            let e = Execution(backend: backend)
            #expect(argument { try triHardLoss(queries: x, labels: labels, references: refs, dimension: 0, execution: e) } == "dimension")
            #expect(argument { try triHardLoss(queries: x + [1], labels: labels, references: refs, dimension: 2, execution: e) } == "queries")
            #expect(argument { try triHardLoss(queries: x, labels: [0], references: refs, dimension: 2, execution: e) } == "labels")
            #expect(argument { try triHardLoss(queries: x, labels: labels, references: ReferenceSet(features: [0, 1, 2], labels: [0]),
                                               dimension: 2, execution: e) } == "references.features")
            #expect(argument { try triHardLoss(queries: x, labels: labels, references: ReferenceSet(features: [0, 1], labels: [0, 1]),
                                               dimension: 2, execution: e) } == "references.labels")
            #expect(argument { try triHardLoss(queries: x, labels: labels,
                                               references: ReferenceSet(features: [0, 1], labels: [0], queryIndex: [0, -1]),
                                               dimension: 2, execution: e) } == "references.queryIndex")
            for bad in [2, -2] {
                #expect(argument { try triHardLoss(queries: x, labels: labels,
                                                   references: ReferenceSet(features: [0, 1], labels: [0], queryIndex: [bad]),
                                                   dimension: 2, execution: e) } == "references.queryIndex")
            }
            // reference 0 marked as query 1, whose label is 1
            #expect(argument { try triHardLoss(queries: x, labels: labels,
                                               references: ReferenceSet(features: [0, 1], labels: [0], queryIndex: [1]),
                                               dimension: 2, execution: e) } == "references.labels[0]")
            for margin in [TripletMargin.hinge(-0.1), .hinge(.infinity), .soft(-1), .soft(.nan)] {
                #expect(argument { try triHardLoss(queries: x, labels: labels, references: refs, dimension: 2, margin: margin,
                                                   execution: e) } == "margin", "\(margin)")
            }
            #expect(argument { try triHardLoss(queries: x, labels: labels, references: refs, dimension: 2, meanCount: 0,
                                               execution: e) } == "meanCount")
            #expect(argument { try triHardLoss(queries: x, labels: labels, references: refs, dimension: 2,
                                               execution: Execution(backend: backend, threads: 0)) } == (backend == .c ? "threads" : nil))
        }
        #expect(throws: LossKitError.self) {
            try triHardLoss(features: [1, 2, 3, 4], labels: [0, 1], dimension: 2, margin: -1, normalize: true)
        }
    }
}
