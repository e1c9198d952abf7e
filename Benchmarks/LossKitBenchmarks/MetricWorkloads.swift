import LossKit

/// Metric-learning workloads of BENCHMARKS.md (the TriHard rows come with the TriHard kernel).
let metricWorkloads: [Workload] = [
    Workload(name: "cdist_4096x4096x512", shape: "4096 x 4096, dim 512") { quick in
        let n = quick ? 512 : 4096, d = 512
        var rng = BenchRandom(state: 9)
        let x = rng.normal(n * d, std: 1), y = rng.normal(n * d, std: 1)
        let portableRows = n / 8
        let xPortable = Array(x[0..<(portableRows * d)])
        return PreparedWorkload(work: 2 * Double(n) * Double(n) * Double(d), unit: "GFLOP/s",
                                ceiling: .sgemm(flops: 2 * Double(n) * Double(n) * Double(d)),
                                run: { execution in _ = try pairwiseDistance(x, y, dimension: d, execution: execution) },
                                portableFraction: 0.125,
                                runPortable: { execution in _ = try pairwiseDistance(xPortable, y, dimension: d, execution: execution) },
                                note: "portable: 1/8 of the rows")
    },
]
