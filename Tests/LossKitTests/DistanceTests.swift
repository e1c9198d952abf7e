import CLossKit
import LossKit
import Testing
import _TestSupport

@Suite("Re-identification: distance matrices")
struct DistanceTests {
    static func metric(_ name: String) -> DistanceMetric {
        name == "cosine" ? .cosine : (name == "sqeuclidean" ? .squaredEuclidean : .euclidean)
    }

    @Test("golden vs PyTorch (incl. near-duplicates), both backends, every ISA")
    func golden() throws {
        for g in try Golden.cases("pairwise_distance") {
            let x = g.input("x"), y = g.input("y")
            for exec in [Execution.portable, .default] {
                let out = try pairwiseDistance(x.floats, y.floats, dimension: x.shape[1], metric: Self.metric(g.string("metric")!),
                                               execution: exec)
                let m = firstMismatch(out, g.output("matrix").data, rtol: 1e-4, atol: 1e-6)
                #expect(m == nil, "\(g) \(exec.backend): \(m ?? "")")
            }
        }
    }

    /// Vectors of norm ~100 differing by ~1e-3: the SGEMM form alone has no correct digit left.
    @Test("near-duplicates within 1e-4 of float64")
    func nearDuplicates() throws {
        var rng = SeededRandom(seed: 42)
        let d = 512, n = 16
        let base = rng.normal(count: n * d, std: 100 / Float(d).squareRoot())
        let noise = rng.normal(count: n * d, std: 1e-3 / Float(d).squareRoot())
        let y = zip(base, noise).map { $0 + $1 }
        for metric in DistanceMetric.allCases {
            let c = try pairwiseDistance(base, y, dimension: d, metric: metric)
            let reference = try pairwiseDistance(base, y, dimension: d, metric: metric, execution: .portable)
            for i in 0..<n {
                let k = i * n + i // the near-duplicate pairs
                #expect(isClose(Double(c[k]), Double(reference[k]), rtol: 1e-4, atol: metric == .cosine ? 1e-12 : 0),
                        "\(metric) [\(i)]: \(c[k]) vs \(reference[k])")
            }
            #expect(firstMismatch(c, reference, rtol: 1e-4, atol: 1e-9) == nil, "\(metric)")
        }
    }

    @Test("random shapes: C vs portable; identical vectors; NaN; threads")
    func differential() throws {
        var rng = SeededRandom(seed: 3)
        for (n, m, d) in [(1, 1, 1), (5, 7, 3), (33, 17, 64), (300, 40, 128)] {
            let x = rng.normal(count: n * d), y = rng.normal(count: m * d)
            for metric in DistanceMetric.allCases {
                let reference = try pairwiseDistance(x, y, dimension: d, metric: metric, execution: .portable)
                let c = try pairwiseDistance(x, y, dimension: d, metric: metric)
                #expect(firstMismatch(c, reference, rtol: 1e-4, atol: 1e-5) == nil, "\(metric) \(n)x\(m)x\(d)")
                let one = try pairwiseDistance(x, y, dimension: d, metric: metric, execution: Execution(threads: 1))
                #expect(sameBits(one, c), "\(metric): thread count changed the result")
            }
        }
        let v: [Float] = [1, 2, 3]
        #expect(try pairwiseDistance(v, v, dimension: 3) == [1e-6], "sqrt of the 1e-12 clamp")
        #expect(try pairwiseDistance(v, v, dimension: 3, metric: .squaredEuclidean) == [0])
        #expect(try pairwiseDistance(v, v, dimension: 3, metric: .cosine) == [0])
        let nanRow = try pairwiseDistance([1, .nan, 0, 0, 1, 1], [1, 1], dimension: 2)
        #expect(nanRow[0].isNaN && !nanRow[1].isNaN)
    }

    @Test("bad input")
    func badInput() {
        #expect(throws: LossKitError.self) { try pairwiseDistance([1, 2, 3], [1, 2], dimension: 2) }
        #expect(throws: LossKitError.self) { try pairwiseDistance([1, 2], [1, 2, 3], dimension: 2) }
        #expect(throws: LossKitError.self) { try pairwiseDistance([1, 2], [1, 2], dimension: 0) }
        var out: Float = -1
        #expect(losskit_pairwise_distance(losskit_metric(rawValue: 5), [1], 1, [1], 1, 1, &out, 1) == -1)
        #expect(losskit_pairwise_distance(LOSSKIT_METRIC_EUCLIDEAN, nil, 1, [1], 1, 1, &out, 1) == -2)
        #expect(out == -1)
    }
}
