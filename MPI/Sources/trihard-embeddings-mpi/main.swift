// trihard-embeddings-mpi: Examples/'s trihard-embeddings with each batch split
// over the MPI ranks. Every rank builds the same data and weights from the
// seed and draws the same P x K batches; rank r embeds only its rows of each
// batch, distributedTriHardLoss mines over the whole batch and returns the
// gradient of the global mean for those rows, each rank forms its share of
// dL/dW, and allReduceSum adds the shares in rank order, so that every
// replica of W takes the same step (checked bitwise at the end).
//
//     mpirun -np 2 trihard-embeddings-mpi [--quick] [--compare] [--first-rows N] [trihard-embeddings' options]
//
// --compare: rank 0 then trains the same model in one process (batch
// triHardLoss, Examples/'s loop) and fails unless both reach the same rank-1
// within --rank1-tolerance percentage points (default 1.0: 2 of 200 queries).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ExampleSupport
import LossKit
import LossKitMPI
import TriHardExample

let usage = """
usage: mpirun -np R trihard-embeddings-mpi [options]
  --compare            rank 0 also trains in one process and compares rank-1
  --rank1-tolerance X  the largest rank-1 difference --compare accepts, in percentage points (default 1.0)
  --first-rows N       rank 0's rows of each batch (default: a third of the batch with 2 ranks, a share by
                       weights 1, 2, ..., R otherwise); the other ranks split the rest evenly
""" + Options.usage

let comm = try Communicator.initialize()
func fail(_ message: String) -> Never {
    let rank = (try? Communicator.world)?.rank ?? 0
    try? Communicator.finalize()  // every rank parses the same options, so every rank ends here
    if rank == 0 { exitWithUsage(program: "trihard-embeddings-mpi", usage: usage, message) }
    exit(2)
}

var compare = false, tolerance = 1.0, firstRows: Int?
let o = Options.parse(CommandLine.arguments, fail: fail) { flag, args in
    switch flag {
    case "--compare": compare = true
    case "--rank1-tolerance": tolerance = args.number(flag, max: 100)
    case "--first-rows": firstRows = args.int(flag, min: 0)
    case "-h", "--help": if comm.rank == 0 { print(usage) }; try? Communicator.finalize(); exit(0)
    default: return false
    }
    return true
}
let n = o.batchRows, size = comm.size, rank = comm.rank
var counts: [Int]
if let first = firstRows {
    guard first <= n else { fail("--first-rows (\(first)) exceeds the batch (\(n) rows)") }
    let rest = n - first, others = max(size - 1, 1)
    counts = [first] + (1..<max(size, 1)).map { rest / others + ($0 - 1 < rest % others ? 1 : 0) }
    if size == 1 { counts = [n] }
} else {
    let weight = size * (size + 1) / 2
    counts = (0..<size).map { n * ($0 + 1) / weight }
    counts[size - 1] += n - counts.reduce(0, +)
}
let start = counts[..<rank].reduce(0, +)
let rows = start..<(start + counts[rank])

let clock = ContinuousClock(), began = clock.now
let experiment = Experiment(options: o)
if rank == 0 {
    try experiment.printHeader(program: "trihard-embeddings-mpi",
                               lossDescription: "distributed TriHard over \(size) rank(s), rows per batch \(counts) " +
                               "(Euclidean, margin \(fixed(Double(o.margin), 2)), batch-hard)")
}
let raw = try experiment.rawRank1(), before = try experiment.evaluate(experiment.initialWeights)

let w = try trainTriHard(experiment, rows: rows, log: rank == 0, loss: { features, labels in
    let r = try distributedTriHardLoss(features: features, labels: labels, dimension: o.embeddingDim,
                                       metric: .euclidean, margin: .hinge(o.margin), communicator: comm)
    return StepLoss(meanLoss: Double(r.value), gradient: r.gradient, gradientDivisor: 1)
}, combine: { gradW in gradW = try comm.allReduceSum(gradW) })

// Every replica must hold the same W, bitwise.
let replicas = try comm.allGather(w)
let inSync = (0..<size).allSatisfy { r in (0..<w.count).allSatisfy { replicas[r * w.count + $0].bitPattern == w[$0].bitPattern } }
let after = try experiment.evaluate(w)
var ok = inSync && after > max(before, raw) + 0.2
if rank == 0 {
    print("rank-1 (unseen identities, \(experiment.queryLabels.count) queries vs \(experiment.galleryLabels.count) " +
          "gallery): before \(percent(before)), after \(percent(after))  [raw inputs \(percent(raw)); " +
          "\(fixed(seconds(clock.now - began), 2)) s; W the same on every rank: \(inSync ? "yes" : "NO")]")
    if !(after > max(before, raw) + 0.2) { print("FAIL: training did not improve rank-1 enough") }
    if compare {
        let single = try trainTriHardOneProcess(experiment, log: false)
        let singleRank1 = try experiment.evaluate(single)
        var largest: Float = 0, difference: Float = 0
        for (a, b) in zip(w, single) { largest = max(largest, abs(b)); difference = max(difference, abs(a - b)) }
        let gap = 100 * abs(after - singleRank1)
        let same = gap <= tolerance
        print("one process, same seed: rank-1 \(percent(singleRank1)); distributed \(percent(after)): " +
              "difference \(fixed(gap, 1)) points (tolerance \(fixed(tolerance, 1))); " +
              "largest |W difference| \(difference) (largest |W| \(largest))")
        if !same { print("FAIL: the distributed run's rank-1 differs from one process's") }
        ok = ok && same
    }
}
let verdict = try comm.allGather([Int64(ok ? 1 : 0)])
try Communicator.finalize()
exit(verdict[0] == 1 && verdict.allSatisfy { $0 == 1 } ? 0 : 1)
