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

    /// The golden inputs with PyTorch float64 autograd gradients
    /// (Benchmarks/peers/make_distance_backward_fixture.py; ../shared/golden has none for this op).
    @Test("gradient: vs PyTorch autograd (incl. near-duplicates), both backends")
    func gradientGolden() throws {
        for g in try Golden.cases("pairwise_distance_backward") {
            let x = g.input("x"), y = g.input("y"), metric = Self.metric(g.string("metric")!)
            for exec in [Execution.portable, .default] {
                let dist = try pairwiseDistance(x.floats, y.floats, dimension: x.shape[1], metric: metric, execution: exec)
                let grad = try pairwiseDistanceGradient(x.floats, y.floats, dimension: x.shape[1], metric: metric, distances: dist,
                                                        upstream: g.input("upstream").floats, execution: exec)
                let mx = firstMismatch(grad.x, g.output("grad_x").data, rtol: 1e-4, atol: 1e-5)
                let my = firstMismatch(grad.y, g.output("grad_y").data, rtol: 1e-4, atol: 1e-5)
                #expect(mx == nil && my == nil, "\(g) \(exec.backend): \(mx ?? "") \(my ?? "")")
            }
        }
    }

    /// sum_ij g_ij D_ij's gradient: the analytic one of both backends against finite differences.
    @Test("gradient: finite differences, every metric, both backends")
    func gradientCheck() throws {
        var rng = SeededRandom(seed: 8)
        let (n, m, d) = (4, 3, 5)
        let x = rng.normal(count: n * d), y = rng.normal(count: m * d), g = rng.normal(count: n * m)
        for metric in DistanceMetric.allCases {
            func terms(_ x: [Float], _ y: [Float]) throws -> [Float] {
                let dist = try pairwiseDistance(x, y, dimension: d, metric: metric, execution: .portable)
                return zip(dist, g).map { $0 * $1 }
            }
            // steps of 1e-2: the terms are Float, whose rounding a smaller step would magnify
            let numericX = try finiteDifferenceGradient(at: x, relativeStep: 1e-2, minimumStep: 1e-2) { try terms($0, y) }
            let numericY = try finiteDifferenceGradient(at: y, relativeStep: 1e-2, minimumStep: 1e-2) { try terms(x, $0) }
            for exec in [Execution.portable, .default] {
                let dist = try pairwiseDistance(x, y, dimension: d, metric: metric, execution: exec)
                let grad = try pairwiseDistanceGradient(x, y, dimension: d, metric: metric, distances: dist, upstream: g,
                                                        execution: exec)
                #expect(firstMismatch(grad.x, numericX, rtol: 5e-3, atol: 2e-4) == nil, "\(metric) \(exec.backend) x")
                #expect(firstMismatch(grad.y, numericY, rtol: 5e-3, atol: 2e-4) == nil, "\(metric) \(exec.backend) y")
            }
        }
    }

    @Test("gradient: C vs portable (two row blocks, near-duplicates), clamps, NaN, threads")
    func gradientDifferential() throws {
        var rng = SeededRandom(seed: 9)
        for (n, m, d) in [(1, 1, 1), (5, 7, 3), (33, 17, 64), (600, 40, 32)] {
            var x = rng.normal(count: n * d), y = rng.normal(count: m * d)
            // a few near-duplicate pairs, where the SGEMM form cancels
            for i in 0..<min(n, m, 3) { for k in 0..<d { x[i * d + k] = 50 * y[i * d + k] + (k == 0 ? 1e-3 : 0); y[i * d + k] *= 50 } }
            let g = rng.normal(count: n * m)
            for metric in DistanceMetric.allCases {
                let dist = try pairwiseDistance(x, y, dimension: d, metric: metric)
                let reference = try pairwiseDistanceGradient(x, y, dimension: d, metric: metric, distances: dist, upstream: g,
                                                             execution: .portable)
                let c = try pairwiseDistanceGradient(x, y, dimension: d, metric: metric, distances: dist, upstream: g)
                let scale = max(1, Double((reference.x + reference.y).map(abs).max() ?? 1))
                #expect(firstMismatch(c.x, reference.x, rtol: 1e-3, atol: 1e-5 * scale) == nil, "\(metric) \(n)x\(m)x\(d) x")
                #expect(firstMismatch(c.y, reference.y, rtol: 1e-3, atol: 1e-5 * scale) == nil, "\(metric) \(n)x\(m)x\(d) y")
                let one = try pairwiseDistanceGradient(x, y, dimension: d, metric: metric, distances: dist, upstream: g,
                                                       execution: Execution(threads: 1))
                #expect(sameBits(one.x, c.x) && sameBits(one.y, c.y), "\(metric): thread count changed the gradient")
            }
        }
        // identical vectors: the Euclidean clamp passes no gradient (0, not NaN); a zero vector's floored cosine norm neither
        let v: [Float] = [1, 2, 3], zero: [Float] = [0, 0, 0]
        for exec in [Execution.portable, .default] {
            let same = try pairwiseDistanceGradient(v, v, dimension: 3, distances: [1e-6], upstream: [1], execution: exec)
            #expect(same.x == [0, 0, 0] && same.y == [0, 0, 0], "\(exec.backend)")
            let dz = try pairwiseDistance(zero, v, dimension: 3, metric: .cosine)
            let z = try pairwiseDistanceGradient(zero, v, dimension: 3, metric: .cosine, distances: dz, upstream: [1], execution: exec)
            #expect((z.x + z.y).allSatisfy { $0.isFinite }, "\(exec.backend): \(z)")
            // NaN upstream poisons its row of x and its column of y; a NaN feature its own gradient
            let x2: [Float] = [1, 0, 0, 1], y2: [Float] = [1, 1, 2, 0, 0, 3]
            let d2 = try pairwiseDistance(x2, y2, dimension: 2)
            let nanG = try pairwiseDistanceGradient(x2, y2, dimension: 2, distances: d2, upstream: [.nan, 1, 1, 1, 1, 1],
                                                    execution: exec)
            #expect(nanG.x[0].isNaN && nanG.x[1].isNaN && !nanG.x[2].isNaN && nanG.y[0].isNaN && !nanG.y[2].isNaN,
                    "\(exec.backend): \(nanG)")
            let x3: [Float] = [.nan, 0, 0, 1]
            let d3 = try pairwiseDistance(x3, y2, dimension: 2)
            let nanX = try pairwiseDistanceGradient(x3, y2, dimension: 2, distances: d3, upstream: [1, 1, 1, 1, 1, 1], execution: exec)
            #expect(nanX.x[0].isNaN && !nanX.x[2].isNaN, "\(exec.backend): \(nanX)")
        }
    }

    /// Shapes where OpenBLAS's threaded driver would block the inner dimension
    /// otherwise than its single-threaded one (inner lengths past 512): the
    /// kernels slice their SGEMMs themselves, so 1 and 2 threads agree bit for bit.
    @Test("bitwise identical at 1 and 2 threads where OpenBLAS would thread: distances, Mahalanobis, gradients")
    func threadsPastBLASBlocking() throws {
        var rng = SeededRandom(seed: 12)
        let one = Execution(threads: 1), two = Execution(threads: 2)
        let (n, m, d) = (700, 600, 600)
        let x = rng.normal(count: n * d), y = rng.normal(count: m * d)
        for metric in DistanceMetric.allCases {
            #expect(sameBits(try pairwiseDistance(x, y, dimension: d, metric: metric, execution: one),
                             try pairwiseDistance(x, y, dimension: d, metric: metric, execution: two)), "\(metric)")
        }
        let factor = rng.normal(count: 64 * d, std: 0.05)
        #expect(sameBits(try mahalanobisDistance(x, y, dimension: d, matrix: .factor(factor, rows: 64), execution: one),
                         try mahalanobisDistance(x, y, dimension: d, matrix: .factor(factor, rows: 64), execution: two)))
        let (bn, bm, bd) = (900, 1200, 64) // two row blocks, an inner length of 1200 and a last block of 388
        let bx = rng.normal(count: bn * bd), by = rng.normal(count: bm * bd), g = rng.normal(count: bn * bm)
        for metric in DistanceMetric.allCases {
            let dist = try pairwiseDistance(bx, by, dimension: bd, metric: metric)
            let a = try pairwiseDistanceGradient(bx, by, dimension: bd, metric: metric, distances: dist, upstream: g, execution: one)
            let b = try pairwiseDistanceGradient(bx, by, dimension: bd, metric: metric, distances: dist, upstream: g, execution: two)
            #expect(sameBits(a.x, b.x) && sameBits(a.y, b.y), "\(metric)")
        }
    }

    @Test("gradient: NaN features for every metric, near-parallel cosine, the Euclidean clamp's edge")
    func gradientEdges() throws {
        for exec in [Execution.portable, .default] {
            // a NaN feature poisons its row's gradient whatever the metric, even with a zero upstream
            for metric in DistanceMetric.allCases {
                for g: Float in [1, 0] {
                    let x: [Float] = [.nan, 0], y: [Float] = [1, 1]
                    let dist = try pairwiseDistance(x, y, dimension: 2, metric: metric, execution: exec)
                    let r = try pairwiseDistanceGradient(x, y, dimension: 2, metric: metric, distances: dist, upstream: [g],
                                                         execution: exec)
                    #expect((r.x + r.y).allSatisfy { $0.isNaN }, "\(metric) g \(g) \(exec.backend): \(r)")
                }
            }
            // near-parallel vectors: the cosine gradient to float precision (1/norm in double)
            let a: [Float] = [0.3, -0.7, 0.5], b: [Float] = [0.3, -0.7, 0.50001]
            let dc = try pairwiseDistance(a, b, dimension: 3, metric: .cosine, execution: exec)
            let gc = try pairwiseDistanceGradient(a, b, dimension: 3, metric: .cosine, distances: dc, upstream: [1], execution: exec)
            let (_, ga, gb) = cosineReference(a, b)
            #expect(firstMismatch(gc.x, ga, rtol: 1e-5, atol: 0) == nil && firstMismatch(gc.y, gb, rtol: 1e-5, atol: 0) == nil,
                    "\(exec.backend): \(gc)")
            // d^2 just above the clamp (1e-12): a gradient, although D rounds to sqrt(1e-12) in float
            let p: [Float] = [0, 0], q: [Float] = [9.99999997e-07, 1e-10]
            let de = try pairwiseDistance(p, q, dimension: 2, execution: exec)
            let ge = try pairwiseDistanceGradient(p, q, dimension: 2, distances: de, upstream: [1], execution: exec)
            #expect(isClose(Double(ge.x[0]), -1, rtol: 1e-4, atol: 0) && isClose(Double(ge.x[1]), -1e-4, rtol: 1e-3, atol: 0),
                    "\(exec.backend): \(ge)")
        }
    }

    /// The cosine distance's gradient in double, from the formula.
    func cosineReference(_ a: [Float], _ b: [Float]) -> (Double, [Double], [Double]) {
        let u = a.map(Double.init), v = b.map(Double.init)
        let dot = zip(u, v).reduce(0) { $0 + $1.0 * $1.1 }
        let nu = u.reduce(0) { $0 + $1 * $1 }.squareRoot(), nv = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let c = dot / (nu * nv)
        return (1 - c, u.indices.map { -v[$0] / (nu * nv) + c * u[$0] / (nu * nu) },
                v.indices.map { -u[$0] / (nu * nv) + c * v[$0] / (nv * nv) })
    }

    @Test("gradient: bad input")
    func gradientBadInput() {
        #expect(throws: LossKitError.self) {
            try pairwiseDistanceGradient([1, 2], [1, 2], dimension: 2, distances: [1, 2], upstream: [1])
        }
        #expect(throws: LossKitError.self) {
            try pairwiseDistanceGradient([1, 2], [1, 2], dimension: 2, distances: [1], upstream: [1, 1])
        }
        #expect(throws: LossKitError.self) {
            try pairwiseDistanceGradient([1, 2, 3], [1, 2], dimension: 2, distances: [1], upstream: [1])
        }
        var gx: [Float] = [-1], gy: [Float] = [-1]
        #expect(losskit_pairwise_distance_backward(losskit_metric(rawValue: 5), [1], 1, [1], 1, 1, [1], [1], &gx, &gy, 1) == -1)
        #expect(losskit_pairwise_distance_backward(LOSSKIT_METRIC_EUCLIDEAN, [1], 1, [1], 1, 1, nil, [1], &gx, &gy, 1) == -7)
        #expect(losskit_pairwise_distance_backward(LOSSKIT_METRIC_EUCLIDEAN, [1], 1, [1], 1, 1, [1], nil, &gx, &gy, 1) == -8)
        #expect(gx == [-1] && gy == [-1], "a rejected call writes nothing")
    }
}
