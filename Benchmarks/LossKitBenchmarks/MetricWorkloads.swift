import CLossKit
import LossKit

/// Metric-learning workloads of BENCHMARKS.md (the TriHard rows come with the TriHard kernel).
let metricWorkloads: [Workload] = [
    Workload(name: "cdist_4096x4096x512", shape: "4096 x 4096, dim 512") { quick in
        let n = quick ? 512 : 4096, d = 512
        var rng = BenchRandom(state: 9)
        let x = rng.normal(n * d, std: 1), y = rng.normal(n * d, std: 1)
        let portableRows = n / 8
        let xPortable = Array(x[0..<(portableRows * d)])
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * n) // reused across runs, as a trainer would
        out.initialize(repeating: 0)
        return PreparedWorkload(work: 2 * Double(n) * Double(n) * Double(d), unit: "GFLOP/s",
                                ceiling: .sgemm(flops: 2 * Double(n) * Double(n) * Double(d)),
                                run: { execution in
                                    try x.withUnsafeBufferPointer { x in
                                        try y.withUnsafeBufferPointer { y in
                                            try pairwiseDistance(x, y, dimension: d, into: out, execution: execution)
                                        }
                                    }
                                },
                                portableFraction: 0.125,
                                runPortable: { execution in _ = try pairwiseDistance(xPortable, y, dimension: d, execution: execution) },
                                note: "portable: 1/8 of the rows")
    },
    triHardWorkload("trihard_256x2048", identities: 64, dimension: 2048, portableQuarter: false),
    triHardWorkload("trihard_4096x512", identities: 1024, dimension: 512, portableQuarter: true),
    triHardWorkload("trihard_16384x128", identities: 4096, dimension: 128, portableQuarter: true),
    triHardReferenceWorkload(),
    contrastiveReferenceWorkload(),
    tripletSwapReferenceWorkload(),
]

/// contrastive_ref_1024x16384x128: every pair of 1024 queries against 16,384
/// references, d = 128, features N(0, (1/16)^2) so that distances sit near the
/// negative margin (about half the negative pairs active); queries' labels
/// uniform over 4096 identities, reference j of identity j mod 4096. pml's
/// defaults: plain hinges, margins 0 and 1, mean of the nonzero terms;
/// gradients for both sets. The portable row runs 1/16 of the queries.
func contrastiveReferenceWorkload() -> Workload {
    Workload(name: "contrastive_ref_1024x16384x128", shape: "1024 q x 16,384 refs, dim 128, 4096 ids") { quick in
        let q = quick ? 256 : 1024, m = quick ? 4096 : 16384, d = 128, ids: UInt64 = quick ? 1024 : 4096
        var rng = BenchRandom(state: 31)
        let x = rng.normal(q * d, std: 1.0 / 16), y = rng.normal(m * d, std: 1.0 / 16)
        let labels = (0..<q).map { _ in Int(rng.next() % ids) }
        let references = ReferenceSet(features: y, labels: (0..<m).map { $0 % Int(ids) })
        let portableQueries = q / 16
        let xPortable = Array(x[0..<(portableQueries * d)]), labelsPortable = Array(labels[0..<portableQueries])
        let flops = 2 * Double(q) * Double(m) * Double(d)
        return PreparedWorkload(work: flops, unit: "GFLOP/s", ceiling: .sgemm(flops: flops),
                                run: { e in
                                    _ = try contrastiveLoss(queries: x, labels: labels, references: references,
                                                            dimension: d, execution: e)
                                },
                                portableFraction: 1.0 / 16,
                                runPortable: { e in
                                    _ = try contrastiveLoss(queries: xPortable, labels: labelsPortable,
                                                            references: references, dimension: d, execution: e)
                                },
                                note: "portable: 1/16 of the queries")
    }
}

/// triplet_swap_ref_200k_x128: 200,000 triplets given by index (a miner's
/// output): anchors uniform over 4096 queries, positives and negatives uniform
/// over 65,536 references, d = 128, N(0, 1); margin 0.3 with the distance swap
/// (`TripletMarginLoss(swap=True)`), mean, gradients for both sets. A gather:
/// the ceiling counts each triplet's three rows read and three gradient rows
/// written, plus both gradient arrays cleared. The portable row runs 1/8 of the
/// triplets.
func tripletSwapReferenceWorkload() -> Workload {
    Workload(name: "triplet_swap_ref_200k_x128", shape: "200,000 triplets, 4096 q, 65,536 refs, dim 128") { quick in
        let q = quick ? 1024 : 4096, m = quick ? 16384 : 65536, t = quick ? 25_000 : 200_000, d = 128
        var rng = BenchRandom(state: 37)
        let x = rng.normal(q * d, std: 1), y = rng.normal(m * d, std: 1)
        let anchors = (0..<t).map { _ in Int(rng.next() % UInt64(q)) }
        let positives = (0..<t).map { _ in Int(rng.next() % UInt64(m)) }
        let negatives = (0..<t).map { _ in Int(rng.next() % UInt64(m)) }
        let portableTriplets = t / 8
        let (aP, pP, nP) = (Array(anchors[0..<portableTriplets]), Array(positives[0..<portableTriplets]),
                            Array(negatives[0..<portableTriplets]))
        let bytes = Double(4 * d) * (6 * Double(t) + Double(q + m))
        return PreparedWorkload(work: Double(t), unit: "Mtriplets/s", ceiling: .bandwidth(bytes: bytes),
                                run: { e in
                                    _ = try tripletLoss(queries: x, references: y, dimension: d, anchors: anchors,
                                                        positives: positives, negatives: negatives, swap: true,
                                                        execution: e)
                                },
                                portableFraction: 1.0 / 8,
                                runPortable: { e in
                                    _ = try tripletLoss(queries: x, references: y, dimension: d, anchors: aP,
                                                        positives: pP, negatives: nP, swap: true, execution: e)
                                },
                                note: "portable: 1/8 of the triplets")
    }
}

/// trihard_ref_4096x65536x128: 4096 queries N(0, 1) with labels uniform over
/// 16,384 identities against 65,536 references N(0, 1), reference j of
/// identity j mod 16,384; batch hard, margin 0.3, Euclidean, mean, gradients
/// for queries and references. The C entry point straight; the portable row
/// runs 1/32 of the queries through the Swift API against all references.
func triHardReferenceWorkload() -> Workload {
    Workload(name: "trihard_ref_4096x65536x128", shape: "4096 q x 65,536 refs, dim 128, 16,384 ids") { quick in
        let q = quick ? 512 : 4096, m = quick ? 8192 : 65536, d = 128, ids: UInt64 = quick ? 2048 : 16384
        var rng = BenchRandom(state: 29)
        let x = rng.normal(q * d, std: 1), y = rng.normal(m * d, std: 1)
        let queryLabels = (0..<q).map { _ in Int64(rng.next() % ids) }
        let referenceLabels = (0..<m).map { Int64(UInt64($0) % ids) }
        let gradQueries = UnsafeMutableBufferPointer<Float>.allocate(capacity: q * d) // reused across runs
        let gradReferences = UnsafeMutableBufferPointer<Float>.allocate(capacity: m * d)
        let flops = 2 * Double(q) * Double(m) * Double(d) // the SGEMM over every query-reference pair
        let portableQueries = q / 32
        let xPortable = Array(x[0..<(portableQueries * d)])
        let labelsPortable = queryLabels[0..<portableQueries].map { Int($0) }
        let referencesPortable = ReferenceSet(features: y, labels: referenceLabels.map { Int($0) })
        return PreparedWorkload(work: flops, unit: "GFLOP/s", ceiling: .sgemm(flops: flops),
                                run: { e in
                                    var loss: Float = 0
                                    let status = losskit_trihard_reference(
                                        LOSSKIT_METRIC_EUCLIDEAN, x, queryLabels, q, y, referenceLabels, nil, m, d,
                                        0.3, 0, 0, LOSSKIT_MINING_HARDEST, LOSSKIT_REDUCTION_MEAN, 0, &loss,
                                        gradQueries.baseAddress, gradReferences.baseAddress, nil, nil,
                                        Int32(e.threads ?? 0))
                                    if status != 0 { throw BenchFailure.status(status) }
                                },
                                portableFraction: 1.0 / 32,
                                runPortable: { e in
                                    _ = try triHardLoss(queries: xPortable, labels: labelsPortable,
                                                        references: referencesPortable, dimension: d,
                                                        margin: .hinge(0.3), execution: e)
                                },
                                note: "portable: 1/32 of the queries")
    }
}

/// A C entry point's status where the harness calls one directly.
enum BenchFailure: Error { case status(Int32) }

/// TriHard, margin 0.3, Euclidean, mean, + gradient, on P identities x K = 4
/// (centres N(0, 0.3^2), samples centre + N(0, 1)).
func triHardWorkload(_ name: String, identities: Int, dimension d: Int, portableQuarter: Bool) -> Workload {
    Workload(name: name, shape: "P=\(identities) x K=4, dim \(d)") { quick in
        let p = quick ? max(8, identities / 16) : identities, n = 4 * p
        var rng = BenchRandom(state: 13)
        var x: [Float] = [], labels: [Int] = []
        // identities barely apart, as early in training: nearly every anchor's triplet is active,
        // so the backward pass does its full work (well-separated clusters would give loss 0)
        for id in 0..<p {
            let center = rng.normal(d, std: 0.3)
            for _ in 0..<4 { x += zip(center, rng.normal(d, std: 1)).map { $0 + $1 }; labels.append(id) }
        }
        let quarter = portableQuarter ? n / 4 : n
        let xq = Array(x[0..<(quarter * d)]), lq = Array(labels[0..<quarter])
        // the distance work that is needed: the upper triangle, n (n + 1) / 2 dot products of 2d flops
        let flops = Double(n) * Double(n + 1) * Double(d)
        return PreparedWorkload(work: flops, unit: "GFLOP/s", ceiling: .sgemm(flops: flops),
                                run: { e in _ = try triHardLoss(features: x, labels: labels, dimension: d, execution: e) },
                                portableFraction: portableQuarter ? 1.0 / 16 : 1, // n^2 work on a quarter of the rows
                                runPortable: { e in _ = try triHardLoss(features: xq, labels: lq, dimension: d, execution: e) },
                                note: portableQuarter ? "portable: a quarter of the rows" : nil)
    }
}

