// trihard-embeddings: learn a linear embedding with TriHard (batch-hard
// triplet loss) on synthetic identities, and measure rank-1 retrieval on
// identities the model never saw, before and after training. The data, the
// model and the SGD loop are in Sources/TriHardExample (shared with MPI/'s
// trihard-embeddings-mpi, the same run with the batch split over processes).
//
//     swift run -c release trihard-embeddings [--quick] [--steps N] ...

#if canImport(Glibc)
import Glibc  // exit() only
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ExampleSupport
import TriHardExample

let usage = "usage: trihard-embeddings [options]\n" + Options.usage

func fail(_ message: String) -> Never { exitWithUsage(program: "trihard-embeddings", usage: usage, message) }

@main
struct TriHardEmbeddings {
    static func main() throws {
        if CommandLine.arguments.contains("-h") || CommandLine.arguments.contains("--help") { print(usage); exit(0) }
        let o = Options.parse(CommandLine.arguments, fail: fail)
        let clock = ContinuousClock(), start = clock.now
        let experiment = Experiment(options: o)
        try experiment.printHeader(program: "trihard-embeddings",
                                   lossDescription: "TriHard (Euclidean, margin \(fixed(Double(o.margin), 2)), batch-hard)")
        let raw = try experiment.rawRank1(), before = try experiment.evaluate(experiment.initialWeights)

        let w = try trainTriHardOneProcess(experiment, log: true)

        let after = try experiment.evaluate(w)
        let elapsed = clock.now - start
        print("rank-1 (unseen identities, \(experiment.queryLabels.count) queries vs " +
              "\(experiment.galleryLabels.count) gallery): before \(percent(before)), after \(percent(after))  " +
              "[raw inputs \(percent(raw)); \(fixed(seconds(elapsed), 2)) s]")
        // CI runs this: training that does not clearly beat the raw inputs is a failure, not a printout
        if !(after > max(before, raw) + 0.2) { fail("training did not improve rank-1 enough: \(percent(before)) -> \(percent(after))") }
    }
}
