import CLossKit
import LossKit
import Testing
import _TestSupport

@Suite("Re-identification: Mahalanobis distance")
struct MahalanobisTests {
    /// `A^T A` for a random `A` `[rows, d]` (+ `ridge` on the diagonal): PSD by construction, rank `rows` without ridge.
    static func gram(_ rng: inout SeededRandom, rows: Int, d: Int, ridge: Float = 0) -> (m: [Float], a: [Float]) {
        let a = rng.normal(count: rows * d, std: 1 / Float(d).squareRoot())
        var m = [Float](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var s = 0.0
                for r in 0..<rows { s += Double(a[r * d + i]) * Double(a[r * d + j]) }
                m[i * d + j] = Float(s) + (i == j ? ridge : 0)
                m[j * d + i] = m[i * d + j]
            }
        }
        return (m, a)
    }

    @Test("golden vs PyTorch, both backends")
    func golden() throws {
        for g in try Golden.cases("mahalanobis_distance") {
            let x = g.input("x"), y = g.input("y"), m = g.input("M")
            for exec in [Execution.portable, .default, Execution(threads: 1)] {
                let out = try mahalanobisDistance(x.floats, y.floats, dimension: x.shape[1], matrix: .full(m.floats),
                                                  execution: exec)
                let mismatch = firstMismatch(out, g.output("matrix").data, rtol: 1e-4, atol: 1e-6)
                #expect(mismatch == nil, "\(g) \(exec.backend): \(mismatch ?? "")")
            }
        }
    }

    @Test("C vs portable: definite, singular (rank-deficient) and factor forms; squared; threads")
    func differential() throws {
        var rng = SeededRandom(seed: 11)
        for (n, m, d, rank) in [(1, 1, 1, 1), (5, 7, 3, 3), (9, 4, 16, 5), (40, 33, 64, 64), (300, 20, 32, 8)] {
            let x = rng.normal(count: n * d), y = rng.normal(count: m * d)
            let (full, factor) = Self.gram(&rng, rows: rank, d: d, ridge: rank == d ? 0.1 : 0)
            for squared in [false, true] {
                let reference = try mahalanobisDistance(x, y, dimension: d, matrix: .full(full), squared: squared,
                                                        execution: .portable)
                let c = try mahalanobisDistance(x, y, dimension: d, matrix: .full(full), squared: squared)
                #expect(firstMismatch(c, reference, rtol: 1e-4, atol: 1e-5) == nil, "M \(n)x\(m)x\(d) rank \(rank)")
                let one = try mahalanobisDistance(x, y, dimension: d, matrix: .full(full), squared: squared,
                                                  execution: Execution(threads: 1))
                #expect(sameBits(one, c), "thread count changed the result")
                if rank < d { // the factor form gives the same matrix
                    let viaFactor = try mahalanobisDistance(x, y, dimension: d, matrix: .factor(factor, rows: rank),
                                                            squared: squared)
                    let portableFactor = try mahalanobisDistance(x, y, dimension: d, matrix: .factor(factor, rows: rank),
                                                                 squared: squared, execution: .portable)
                    #expect(firstMismatch(viaFactor, reference, rtol: 1e-4, atol: 1e-5) == nil, "A \(n)x\(m)x\(d)")
                    #expect(firstMismatch(portableFactor, reference, rtol: 1e-4, atol: 1e-5) == nil)
                }
            }
            // M = I is the Euclidean distance
            var identity = [Float](repeating: 0, count: d * d)
            for i in 0..<d { identity[i * d + i] = 1 }
            let euclid = try pairwiseDistance(x, y, dimension: d)
            #expect(firstMismatch(try mahalanobisDistance(x, y, dimension: d, matrix: .full(identity)), euclid,
                                  rtol: 1e-5, atol: 1e-6) == nil)
        }
    }

    @Test("the factor reproduces M; M = 0 gives 0")
    func factor() throws {
        var rng = SeededRandom(seed: 5)
        for (d, rank) in [(6, 6), (12, 4), (1, 1)] {
            let (m, _) = Self.gram(&rng, rows: rank, d: d)
            let (a, rows) = try mahalanobisFactor(m, dimension: d)
            #expect(rows == rank, "rank of a rank-\(rank) gram matrix")
            var worst = 0.0
            let scale = Double(m.map { abs($0) }.max()!)
            for i in 0..<d {
                for j in 0..<d {
                    var s = 0.0
                    for r in 0..<rows { s += Double(a[r * d + i]) * Double(a[r * d + j]) }
                    worst = max(worst, abs(s - Double(m[i * d + j])) / scale)
                }
            }
            #expect(worst < 1e-5, "A^T A vs M, d \(d): \(worst)")
        }
        let zero = [Float](repeating: 0, count: 4)
        #expect(try mahalanobisFactor(zero, dimension: 2).rows == 0)
        #expect(try mahalanobisDistance([1, 2], [3, 5], dimension: 2, matrix: .full(zero), squared: true) == [0])
    }

    /// Norm ~100, difference ~1e-3: recomputed from the original features.
    @Test("near-duplicates within 1e-4 of float64")
    func nearDuplicates() throws {
        var rng = SeededRandom(seed: 9)
        let d = 96, n = 12
        let base = rng.normal(count: n * d, std: 100 / Float(d).squareRoot())
        let y = zip(base, rng.normal(count: n * d, std: 1e-3 / Float(d).squareRoot())).map { $0 + $1 }
        let (m, _) = Self.gram(&rng, rows: d, d: d, ridge: 0.5)
        let c = try mahalanobisDistance(base, y, dimension: d, matrix: .full(m))
        let reference = try mahalanobisDistance(base, y, dimension: d, matrix: .full(m), execution: .portable)
        #expect(firstMismatch(c, reference, rtol: 1e-4, atol: 0) == nil)
    }

    @Test("NaN in a feature gives NaN in its row only")
    func nan() throws {
        let m: [Float] = [2, 0.5, 0.5, 1]
        for exec in [Execution.portable, .default] {
            let out = try mahalanobisDistance([1, .nan, 0, 0], [1, 1], dimension: 2, matrix: .full(m), execution: exec)
            #expect(out[0].isNaN && !out[1].isNaN, "\(exec.backend)")
        }
    }

    @Test("bad input: not symmetric, indefinite, non-finite, shapes; C status codes")
    func badInput() {
        let x: [Float] = [1, 2, 3, 4]
        for exec in [Execution.portable, .default] {
            #expect(throws: LossKitError.notPositiveSemidefinite(argument: "matrix", reason: "not symmetric: M[0][1] = 1.0, M[1][0] = 0.0")) {
                try mahalanobisDistance(x, x, dimension: 2, matrix: .full([1, 1, 0, 1]), execution: exec)
            }
            #expect(throws: LossKitError.self) { // eigenvalues 3 and -1
                try mahalanobisDistance(x, x, dimension: 2, matrix: .full([1, 2, 2, 1]), execution: exec)
            }
            do {
                _ = try mahalanobisDistance(x, x, dimension: 2, matrix: .full([1, 2, 2, 1]), execution: exec)
            } catch let LossKitError.notPositiveSemidefinite(argument, _) {
                #expect(argument == "matrix")
            } catch { Issue.record("unexpected \(error)") }
            #expect(throws: LossKitError.self) { try mahalanobisDistance(x, x, dimension: 2, matrix: .full([1, .nan, .nan, 1]), execution: exec) }
            #expect(throws: LossKitError.self) { try mahalanobisDistance(x, x, dimension: 2, matrix: .full([1, 0, 0]), execution: exec) }
            #expect(throws: LossKitError.self) { try mahalanobisDistance(x, x, dimension: 2, matrix: .factor([1, 0], rows: 2), execution: exec) }
            #expect(throws: LossKitError.self) { try mahalanobisDistance(x, x, dimension: 2, matrix: .factor([], rows: 0), execution: exec) }
            #expect(throws: LossKitError.self) { try mahalanobisDistance([1, 2, 3], x, dimension: 2, matrix: .full([1, 0, 0, 1]), execution: exec) }
        }
        #expect(throws: LossKitError.self) { try mahalanobisFactor([1, 2, 2, 1], dimension: 2) }
        var out: Float = -1
        var rank = 0
        let m: [Float] = [1, 0, 0, 1]
        #expect(losskit_mahalanobis_distance(LOSSKIT_METRIC_COSINE, [1, 2], 1, [1, 2], 1, 2, m, 0, &out, 1) == -1)
        #expect(losskit_mahalanobis_distance(LOSSKIT_METRIC_EUCLIDEAN, [1, 2], 1, [1, 2], 1, 2, nil, 0, &out, 1) == -7)
        #expect(losskit_mahalanobis_distance(LOSSKIT_METRIC_EUCLIDEAN, [1, 2], 1, [1, 2], 1, 2, [1, 2, 2, 1], 0, &out, 1)
                == LOSSKIT_ERR_NOT_PSD)
        var factor: [Float] = [-1, -1, -1, -1]
        #expect(losskit_mahalanobis_factor([1, 2, 2, 1], 2, &factor, &rank) == LOSSKIT_ERR_NOT_PSD)
        #expect(out == -1 && factor == [-1, -1, -1, -1], "nothing written on error")
    }
}
