// losskit-mpi-check: run under mpirun (any number of ranks; `make test-mpi`
// uses 2). Exits 0 when every check passes on every rank, else 1.
//
// 1. The collectives on plain buffers, exactly: allGather, allGatherV with
//    unequal and zero counts, allReduceSum and reduceScatterSum (bitwise
//    equal to the rank-order sum each rank recomputes from the shared seed).
// 2. distributedTriHardLoss against one process's TriHard on the
//    concatenated batch: random P x K batches whose rows are shuffled across
//    the ranks (an identity's rows on several ranks), equal, unequal and
//    empty shares; every metric, hinge and soft margins, hardest and
//    semi-hard mining, normalize, a label seen once, NaN. Every rank draws
//    the same global batch from the seed, passes only its rows to the
//    distributed loss, and compares the value and its rows' gradient with the
//    one-process result on the whole batch (LossKit's batch triHardLoss; for
//    a soft margin > 0, which it lacks, the reference-set triHardLoss with
//    the batch as its own references). Tolerance: value
//    within 2^-20 relative, every gradient element within 2^-20 of the
//    batch's largest gradient element (MPI/README.md explains why not bitwise).
// 3. Errors: a bad argument on one rank makes every rank throw, none hangs.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ExampleSupport  // SplitMix64, the examples' seeded stream
import LossKit
import LossKitMPI

extension SplitMix64 {
    mutating func symmetric() -> Float { Float(2 * uniform() - 1) }      // [-1, 1)
    mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, below(i + 1)) }
    }
}

let comm = try Communicator.initialize()
let rank = comm.rank, size = comm.size
var failures: [String] = []   // this rank's
@MainActor func expect(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { failures.append("rank \(rank): " + what()) } }
@MainActor func say(_ s: String) { if rank == 0 { print(s) } }
func bitwise(_ a: [Float], _ b: [Float]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern } }

say("losskit-mpi-check: \(size) rank(s)")

// MARK: - 1. Collectives on plain buffers

do {
    let gathered = try comm.allGather([Int64(rank), Int64(-7 * rank), Int64.max - Int64(rank)])
    let want = (0..<size).flatMap { [Int64($0), Int64(-7 * $0), Int64.max - Int64($0)] }
    expect(gathered == want, "allGather Int64: \(gathered) != \(want)")

    // Count patterns: unequal, one rank empty, every rank empty.
    let patterns: [[Int]] = [
        (0..<size).map { 2 * $0 + 3 },
        (0..<size).map { $0 == 0 ? 0 : 5 + $0 },
        (0..<size).map { $0 == size - 1 ? 0 : 4 },
        [Int](repeating: 0, count: size),
    ]
    for counts in patterns {
        let mine = (0..<counts[rank]).map { Float(rank * 1000 + $0) + 0.25 }
        let all = try comm.allGatherV(mine, counts: counts)
        let want = (0..<size).flatMap { r in (0..<counts[r]).map { Float(r * 1000 + $0) + 0.25 } }
        expect(bitwise(all, want), "allGatherV counts \(counts): got \(all.prefix(8))..., want \(want.prefix(8))...")
        let labels = try comm.allGatherV(mine.map { Int64($0) * -3 }, counts: counts)
        expect(labels == want.map { Int64($0) * -3 }, "allGatherV Int64 counts \(counts)")

        // Reduce-scatter: rank r's buffer is a seeded stream; each rank recomputes
        // every buffer and checks its slice against the rank-order sum, bitwise.
        let total = counts.reduce(0, +)
        func buffer(_ r: Int) -> [Float] {
            var g = SplitMix64(seed: 99 &+ UInt64(r) &* 1_000_003 &+ UInt64(total))
            return (0..<total).map { _ in g.symmetric() * 1e3 }
        }
        let slice = try comm.reduceScatterSum(buffer(rank), counts: counts)
        let start = counts[..<rank].reduce(0, +)
        var sum = Array(buffer(0)[start..<(start + counts[rank])])
        for r in 1..<max(size, 1) { let b = buffer(r); for i in sum.indices { sum[i] += b[start + i] } }
        expect(bitwise(slice, sum), "reduceScatterSum counts \(counts): not the rank-order sum")

        let reduced = try comm.allReduceSum(buffer(rank))
        var full = buffer(0)
        for r in 1..<max(size, 1) { let b = buffer(r); for i in full.indices { full[i] += b[i] } }
        expect(bitwise(reduced, full), "allReduceSum \(total) values: not the rank-order sum")
    }
    say("collectives: allGather, allGatherV (\(patterns.count) count patterns incl. empty ranks), reduceScatterSum and allReduceSum bitwise")
}

// MARK: - 2. Distributed TriHard against one process

enum Split { case equal, unequal, allOnFirst, alternate }

struct Case {
    var name: String
    var p: Int, k: Int, d: Int
    var metric: DistanceMetric = .euclidean
    var margin: TripletMargin = .hinge(0.3)
    var mining: NegativeMining = .hardest
    var normalize = false
    var split: Split = .unequal
    var singleton = false     // one extra row with a label seen once (its anchor is skipped)
    var nan = false           // one NaN feature value
    var scale: Float = 1
}

let cases: [Case] = [
    Case(name: "euclidean hinge 0.3, unequal split", p: 8, k: 4, d: 16),
    Case(name: "euclidean hinge 0.3, equal split", p: 8, k: 4, d: 16, split: .equal),
    Case(name: "euclidean hinge 0.3, all rows on rank 0", p: 6, k: 3, d: 8, split: .allOnFirst),
    Case(name: "euclidean, K=2, every identity's pair across ranks", p: 12, k: 2, d: 8, split: .alternate),
    Case(name: "euclidean hinge 0 (many inactive), unequal", p: 8, k: 4, d: 16, margin: .hinge(0), scale: 4),
    Case(name: "euclidean soft margin, semi-hard", p: 8, k: 4, d: 16, margin: .soft(0), mining: .semiHard),
    Case(name: "squared euclidean hinge 1, semi-hard", p: 10, k: 3, d: 12, metric: .squaredEuclidean,
         margin: .hinge(1), mining: .semiHard),
    Case(name: "cosine hinge 0.2", p: 8, k: 4, d: 32, metric: .cosine, margin: .hinge(0.2)),
    Case(name: "euclidean normalize, hinge 0.3", p: 8, k: 4, d: 16, normalize: true),
    Case(name: "cosine soft margin 0.1, normalize", p: 6, k: 4, d: 16, metric: .cosine, margin: .soft(0.1), normalize: true),
    Case(name: "a label seen once (skipped anchor)", p: 5, k: 3, d: 8, singleton: true),
    Case(name: "large batch P x K = 32 x 8, d 64", p: 32, k: 8, d: 64),
    Case(name: "NaN in one row", p: 6, k: 4, d: 8, nan: true),
    Case(name: "one identity only: no anchor kept on any rank", p: 1, k: 9, d: 8),
]
let tolerance: Float = 0x1p-20
var worstValue: Float = 0, worstGradient: Float = 0
var bitwiseElements = 0, comparedElements = 0, bitwiseValues = 0

@MainActor func shares(_ n: Int, _ split: Split) -> [Int] {
    switch split {
    case .equal, .alternate: return (0..<size).map { n / size + ($0 < n % size ? 1 : 0) }
    case .allOnFirst: return (0..<size).map { $0 == 0 ? n : 0 }
    case .unequal:
        // rank r's share grows with r: weights 1, 2, ... (with 2 ranks: a third and two thirds)
        let weight = size * (size + 1) / 2
        var s = (0..<size).map { n * ($0 + 1) / weight }
        s[size - 1] += n - s.reduce(0, +)
        return s
    }
}

for (index, c) in cases.enumerated() {
    var g = SplitMix64(seed: 0x5EED &+ UInt64(index))
    var rowLabels: [Int] = []
    for id in 0..<c.p { for _ in 0..<c.k { rowLabels.append(100 + 7 * id) } }
    if c.singleton { rowLabels.append(-5) }
    let n = rowLabels.count
    var order = Array(0..<n)
    if c.split == .alternate {
        // rows 2a and 2a+1 of identity a go to different ranks: no rank holds a positive of its own
        var firstHalf: [Int] = [], secondHalf: [Int] = []
        for a in 0..<c.p { firstHalf.append(a * 2); secondHalf.append(a * 2 + 1) }
        g.shuffle(&firstHalf); g.shuffle(&secondHalf)
        order = firstHalf + secondHalf
    } else {
        g.shuffle(&order)
    }
    let labels = order.map { rowLabels[$0] }
    var features = (0..<(n * c.d)).map { _ in g.symmetric() * c.scale }
    // a few duplicated rows and exact ties: the lowest global index must win on every rank
    if n > 4 { for j in 0..<c.d { features[3 * c.d + j] = features[1 * c.d + j] } }
    if c.nan { features[(n - 2) * c.d + 1] = .nan }

    var counts = shares(n, c.split)
    if c.split == .alternate && size == 2 { counts = [c.p, c.p] }
    let offset = counts[..<rank].reduce(0, +), mine = counts[rank]
    let myFeatures = Array(features[(offset * c.d)..<((offset + mine) * c.d)])
    let myLabels = Array(labels[offset..<(offset + mine)])

    let distributed = try distributedTriHardLoss(features: myFeatures, labels: myLabels, dimension: c.d,
                                                 metric: c.metric, margin: c.margin, mining: c.mining,
                                                 normalize: c.normalize, communicator: comm)

    // One process, the whole batch.
    let referenceValue: Float, referenceGradient: [Float], keptByKernel: Int
    let batchMargin: Float?? = { switch c.margin { case let .hinge(m): m; case .soft(0): .some(nil); default: nil } }()
    if let m = batchMargin {
        let (r, positive, _) = try triHard(features: features, labels: labels, dimension: c.d, metric: c.metric,
                                           margin: m, mining: c.mining, normalize: c.normalize, reduction: .mean)
        referenceValue = r.value
        referenceGradient = r.gradients![0]
        keptByKernel = positive.filter { $0 >= 0 }.count
    } else {
        let r = try triHardLoss(queries: features, labels: labels, references: .batch(features, labels: labels),
                                dimension: c.d, metric: c.metric, margin: c.margin, mining: c.mining,
                                normalize: c.normalize, reduction: .mean)
        referenceValue = r.value
        referenceGradient = zip(r.queryGradient!, r.referenceGradient!).map { $0 + $1 }
        keptByKernel = r.hardestPositive!.filter { $0 >= 0 }.count
    }
    let kept = triHardKeptAnchors(labels: labels)
    expect(kept == keptByKernel, "\(c.name): kept anchors from labels \(kept) != the kernel's \(keptByKernel)")

    // Every rank holds the same value, bitwise.
    let values = try comm.allGather([distributed.value])
    expect(values.allSatisfy { $0.bitPattern == values[0].bitPattern } || values.allSatisfy(\.isNaN),
           "\(c.name): the ranks' values differ: \(values)")

    let mineReference = Array(referenceGradient[(offset * c.d)..<((offset + mine) * c.d)])
    if c.nan {
        expect(distributed.value.isNaN && referenceValue.isNaN, "\(c.name): value \(distributed.value), want NaN")
    } else {
        let valueError = abs(distributed.value - referenceValue)
        expect(valueError <= tolerance * abs(referenceValue),
               "\(c.name): value \(distributed.value) vs one process \(referenceValue)")
        if distributed.value.bitPattern == referenceValue.bitPattern { bitwiseValues += 1 }
        worstValue = max(worstValue, referenceValue == 0 ? valueError : valueError / abs(referenceValue))
        let largest = referenceGradient.reduce(Float(0)) { max($0, abs($1)) }
        expect(distributed.gradient.count == mineReference.count, "\(c.name): gradient size")
        for (a, b) in zip(distributed.gradient, mineReference) {
            let e = abs(a - b)
            if !(e <= tolerance * largest) { expect(false, "\(c.name): gradient \(a) vs one process \(b)"); break }
            worstGradient = max(worstGradient, largest > 0 ? e / largest : e)
            comparedElements += 1
            if a.bitPattern == b.bitPattern { bitwiseElements += 1 }
        }
    }
    say("  \(c.name): rows per rank \(counts), value \(distributed.value) (one process \(referenceValue))")
}

// Totals over the ranks: worst errors and how many results came out bitwise equal.
let totals = try comm.allGather([Double(worstValue), Double(worstGradient), Double(bitwiseElements),
                                 Double(comparedElements), Double(bitwiseValues)])
let stat = (0..<5).map { k in (0..<size).map { totals[5 * $0 + k] } }
say("""
distributed vs one process: \(cases.count) batches; worst value error \(stat[0].max()!) (relative), worst gradient \
error \(stat[1].max()!) (of the batch's largest gradient element); tolerance 2^-20 = \(tolerance); \
bitwise equal: \(Int(stat[2].reduce(0, +))) of \(Int(stat[3].reduce(0, +))) gradient elements, \
\(Int(stat[4][0])) of \(cases.count - 1) values
""")

// MARK: - 3. A bad argument on one rank: every rank throws, none hangs

do {
    // the last rank passes one label too few
    let d = 4, rows = 3
    let f = [Float](repeating: 0.5, count: rows * d)
    let l = rank == size - 1 ? [1, 2] : [1, 2, 1]
    do {
        _ = try distributedTriHardLoss(features: f, labels: l, dimension: d, communicator: comm)
        expect(false, "labels one short on rank \(size - 1): no error")
    } catch let e as LossKitError {
        expect(rank == size - 1, "rank \(rank) threw \(e), want MPIError.remoteFailure")
    } catch let e as MPIError {
        expect(rank != size - 1 && e == .remoteFailure(ranks: [size - 1], operation: "distributedTriHardLoss (arguments)"),
               "rank \(rank) threw \(e)")
    }
    // dimensions that differ between ranks (each rank's own shapes fine)
    if size > 1 {
        let dr = rank == 0 ? 4 : 2
        do {
            _ = try distributedTriHardLoss(features: [Float](repeating: 1, count: 4 * dr), labels: [1, 1, 2, 2],
                                           dimension: dr, communicator: comm)
            expect(false, "dimensions 4 and 2: no error")
        } catch let e as LossKitError {
            if case .shapeMismatch(argument: "dimension", _, _) = e {} else { expect(false, "rank \(rank) threw \(e)") }
        }
    }
    // a negative margin everywhere: the local error on every rank
    do {
        _ = try distributedTriHardLoss(features: f, labels: [1, 2, 1], dimension: d, margin: .hinge(-1), communicator: comm)
        expect(false, "margin -1: no error")
    } catch let e as LossKitError {
        if case .invalidParameter(argument: "margin", _, _) = e {} else { expect(false, "rank \(rank) threw \(e)") }
    }
    // counts that do not fit, on every rank: thrown before any communication
    do {
        _ = try comm.allGatherV([Float(1)], counts: [Int](repeating: 1, count: size + 1))
        expect(false, "allGatherV with \(size + 1) counts: no error")
    } catch LossKitError.shapeMismatch(argument: "allGatherV counts", _, _) {}
    do {
        _ = try comm.allGatherV([Float(1), 2], counts: [Int](repeating: 1, count: size))
        expect(false, "allGatherV with 2 values for count 1: no error")
    } catch LossKitError.shapeMismatch(argument: "allGatherV values", _, _) {}
    do {
        _ = try comm.reduceScatterSum([Float](repeating: 0, count: size + 1), counts: [Int](repeating: 1, count: size))
        expect(false, "reduceScatterSum with \(size + 1) values for \(size) counts: no error")
    } catch LossKitError.shapeMismatch(argument: "reduceScatterSum values", _, _) {}
    say("errors: a bad argument on one rank throws there and MPIError.remoteFailure on the others; no rank hangs; " +
        "bad counts throw before any communication")
}

// MARK: - Verdict

let failed = try comm.allGather([Int64(failures.count)])
for f in failures.prefix(20) { print("FAIL \(f)") }
let total = failed.reduce(0, +)
say(total == 0 ? "losskit-mpi-check: all checks passed on \(size) rank(s)" : "losskit-mpi-check: \(total) failure(s)")
try Communicator.finalize()
exit(total == 0 ? 0 : 1)
