// The TriHard embedding experiment that trihard-embeddings (one process) and
// MPI/'s trihard-embeddings-mpi (the batch split over MPI ranks) both run:
// options, the synthetic identities, the linear model, rank-1 retrieval and
// the SGD loop. The loop takes the loss as a closure, so that each program
// supplies only how a batch's TriHard gradient is computed and how the weight
// gradient is combined across processes.
//
// The data: each identity is a random code in an 8-dimensional "identity"
// subspace; a sample is its identity's code plus small within-identity noise,
// plus large nuisance noise in the 24 other dimensions (each dimension with
// its own scale), all mixed by one fixed random rotation of the 32-dimensional
// input space. In the raw inputs the nuisance dominates the Euclidean
// distance, so nearest-neighbour retrieval is poor; a linear map W [16 x 32]
// that keeps the identity subspace and drops the nuisance retrieves well.
//
// Training: P x K batches (P identities, K samples each), f = W x, TriHard
// gives dL/df, and dL/dW = sum_i g_i x_i^T; plain SGD.

import ExampleSupport
import LossKit

// MARK: - Options

public struct Options: Sendable {
    public var trainIdentities = 256    // identities in the training set
    public var samplesPerTrain = 8      // samples per training identity
    public var testIdentities = 200     // held-out identities (query + gallery)
    public var samplesPerTest = 6       // per test identity: 1 query + the rest in the gallery
    public var inputDim = 32            // Din
    public var identityDim = 8          // dimensions of the input space that carry identity
    public var embeddingDim = 16        // Dout
    public var withinNoise = 0.25       // std of a sample around its identity's code (code std 1)
    public var nuisanceNoise = 0.7      // typical std of the nuisance dimensions
    public var p = 16, k = 4            // batch: P identities x K samples
    public var steps = 2000
    public var learningRate: Float = 0.05
    public var margin: Float = 0.3
    public var logEvery = 200
    public var seed: UInt64 = 42

    public static let usage = """
      --quick              small, fast run (CI): 400 steps, loss printed every 50
      --steps N            SGD steps (default 2000)
      --lr X               learning rate (default 0.05; a tenth of it for the last quarter of the steps)
      --margin X           TriHard margin (default 0.3)
      --P N --K N          batch: P identities x K samples (default 16 x 4)
      --train-ids N        training identities (default 256)
      --test-ids N         held-out identities for retrieval (default 200)
      --din N --dout N     input / embedding dimension (default 32 / 16)
      --log-every N        print the loss every N steps (default 200)
      --within X           within-identity noise std (identity codes have std 1; default 0.25)
      --nuisance X         typical nuisance std (default 0.7; each nuisance dimension gets 0.5x-1.5x)
      --seed N             data and batch seed (default 42)
    """

    /// Parses the shared options; `extra` gets each flag it does not know
    /// first (true: consumed) so that a program can add its own.
    public static func parse(_ arguments: [String], fail: @escaping (String) -> Never,
                             extra: (String, inout ArgumentReader) -> Bool = { _, _ in false }) -> Options {
        var o = Options()
        if arguments.contains("--quick") { o.steps = 400; o.logEvery = 50 }
        var args = ArgumentReader(arguments, fail: fail)
        while let arg = args.next() {
            if extra(arg, &args) { continue }
            switch arg {
            case "--quick": break  // applied first, so that explicit options override it
            case "--steps": o.steps = args.int(arg, min: 0)
            case "--lr": o.learningRate = Float(args.number(arg))
            case "--margin": o.margin = Float(args.number(arg))
            case "--P": o.p = args.int(arg, min: 2)
            case "--K": o.k = args.int(arg, min: 2)
            case "--train-ids": o.trainIdentities = args.int(arg, min: 2)
            case "--test-ids": o.testIdentities = args.int(arg, min: 2)
            case "--din": o.inputDim = args.int(arg, min: 2)
            case "--dout": o.embeddingDim = args.int(arg)
            case "--log-every": o.logEvery = args.int(arg)
            case "--within": o.withinNoise = args.number(arg)
            case "--nuisance": o.nuisanceNoise = args.number(arg)
            case "--seed": o.seed = UInt64(args.int(arg, min: 0))
            default: fail("unknown option '\(arg)'")
            }
        }
        if o.p > o.trainIdentities { fail("--P (\(o.p)) exceeds the training identities (\(o.trainIdentities))") }
        if o.k > o.samplesPerTrain { fail("--K (\(o.k)) exceeds the samples per identity (\(o.samplesPerTrain))") }
        o.identityDim = min(o.identityDim, o.inputDim - 1)
        return o
    }

    /// Rows of one batch (P x K).
    public var batchRows: Int { p * k }
}

public func percent(_ x: Double) -> String { fixed(100 * x, 1) + "%" }

// MARK: - Data

public struct Dataset: Sendable {
    public var x: [Float]       // [n, Din] row-major
    public var labels: [Int]    // n identity labels
    public var count: Int { labels.count }
}

/// The generator: a fixed random rotation Q of the input space, per-dimension
/// nuisance scales, and a code per identity.
public struct World: Sendable {
    public let din: Int, identityDim: Int
    public let rotation: [Double]       // Din x Din, orthonormal rows
    public let nuisanceScale: [Double]  // Din - identityDim
    public let withinNoise: Double

    public init(options o: Options, rng: inout SplitMix64) {
        din = o.inputDim; identityDim = o.identityDim; withinNoise = o.withinNoise
        // Gram-Schmidt on a Gaussian matrix: a uniformly random rotation.
        var q = (0..<(din * din)).map { _ in rng.gaussian() }
        for i in 0..<din {
            for j in 0..<i {
                var dot = 0.0
                for c in 0..<din { dot += q[i * din + c] * q[j * din + c] }
                for c in 0..<din { q[i * din + c] -= dot * q[j * din + c] }
            }
            var norm = 0.0
            for c in 0..<din { norm += q[i * din + c] * q[i * din + c] }
            norm = norm.squareRoot()
            for c in 0..<din { q[i * din + c] /= norm }
        }
        rotation = q
        // Nuisance dimensions with scales from 0.5x to 1.5x the typical one.
        nuisanceScale = (0..<(din - identityDim)).map { _ in o.nuisanceNoise * (0.5 + rng.uniform()) }
    }

    func identityCode(_ rng: inout SplitMix64) -> [Double] { (0..<identityDim).map { _ in rng.gaussian() } }

    /// One sample of the identity with this code: Q [code + noise; nuisance].
    func sample(code: [Double], _ rng: inout SplitMix64) -> [Float] {
        var latent = code.map { $0 + withinNoise * rng.gaussian() }
        latent += nuisanceScale.map { $0 * rng.gaussian() }
        return (0..<din).map { r in
            var s = 0.0
            for c in 0..<din { s += rotation[c * din + r] * latent[c] }  // Q^T latent: rows of Q are the axes
            return Float(s)
        }
    }

    public func dataset(identities: Int, samplesEach: Int, firstLabel: Int, _ rng: inout SplitMix64) -> Dataset {
        var data = Dataset(x: [], labels: [])
        for id in 0..<identities {
            let code = identityCode(&rng)
            for _ in 0..<samplesEach {
                data.x += sample(code: code, &rng)
                data.labels.append(firstLabel + id)
            }
        }
        return data
    }
}

// MARK: - Model: f = W x, W [Dout x Din]

public func embed(_ w: [Float], _ x: [Float], dout: Int, din: Int) -> [Float] {
    let n = x.count / din
    var f = [Float](repeating: 0, count: n * dout)
    for i in 0..<n {
        for o in 0..<dout {
            var s: Float = 0
            for c in 0..<din { s += w[o * din + c] * x[i * din + c] }
            f[i * dout + o] = s
        }
    }
    return f
}

/// Rank-1: for each query, is its nearest gallery feature (Euclidean) of the same identity?
public func rank1(query: [Float], queryLabels: [Int], gallery: [Float], galleryLabels: [Int], dimension: Int) throws -> Double {
    let d = try pairwiseDistance(query, gallery, dimension: dimension, metric: .euclidean)
    let m = galleryLabels.count
    var hits = 0
    for i in 0..<queryLabels.count {
        var best = 0
        for j in 1..<m where d[i * m + j] < d[i * m + best] { best = j }
        if galleryLabels[best] == queryLabels[i] { hits += 1 }
    }
    return Double(hits) / Double(queryLabels.count)
}

// MARK: - The experiment

/// Everything a run derives from the options and the seed: the data, the
/// held-out query / gallery split, the initial weights and the batch stream.
/// Every process that builds one from the same options holds the same values.
public struct Experiment {
    public let options: Options
    public let world: World
    public let train: Dataset
    public var query: [Float] = [], queryLabels: [Int] = [], gallery: [Float] = [], galleryLabels: [Int] = []
    /// W [Dout x Din] before training: Gaussian with variance 1/Din, so ||W x|| ~ ||x||.
    public let initialWeights: [Float]
    /// The stream the batches are drawn from (after the data and the weights).
    public var rng: SplitMix64

    public init(options o: Options) {
        options = o
        var rng = SplitMix64(seed: o.seed)
        world = World(options: o, rng: &rng)
        train = world.dataset(identities: o.trainIdentities, samplesEach: o.samplesPerTrain, firstLabel: 0, &rng)
        let test = world.dataset(identities: o.testIdentities, samplesEach: o.samplesPerTest,
                                 firstLabel: o.trainIdentities, &rng)
        let din = o.inputDim
        // Query: the first sample of each held-out identity; gallery: the others.
        for i in 0..<test.count {
            let row = test.x[(i * din)..<((i + 1) * din)]
            if i % o.samplesPerTest == 0 { query += row; queryLabels.append(test.labels[i]) }
            else { gallery += row; galleryLabels.append(test.labels[i]) }
        }
        initialWeights = (0..<(o.embeddingDim * din)).map { _ in Float(rng.gaussian() / Double(din).squareRoot()) }
        self.rng = rng
    }

    /// Rank-1 of the embedding W on the held-out identities.
    public func evaluate(_ w: [Float]) throws -> Double {
        let din = options.inputDim, dout = options.embeddingDim
        return try rank1(query: embed(w, query, dout: dout, din: din), queryLabels: queryLabels,
                         gallery: embed(w, gallery, dout: dout, din: din), galleryLabels: galleryLabels, dimension: dout)
    }

    /// The description, the raw-input and untrained rank-1, and the ceiling
    /// (the ideal projection onto the identity subspace, known to the generator).
    public func printHeader(program: String, lossDescription: String) throws {
        let o = options, din = o.inputDim, dout = o.embeddingDim
        print("""
        \(program): synthetic identities in R^\(din): identity lives in a random \(o.identityDim)-d subspace \
        (code std 1, within-identity std \(fixed(o.withinNoise, 2))), the other \(din - o.identityDim) dimensions \
        are nuisance (std \(fixed(o.nuisanceNoise * 0.5, 2))-\(fixed(o.nuisanceNoise * 1.5, 2))), all randomly rotated
          train: \(o.trainIdentities) identities x \(o.samplesPerTrain) samples; \
        test (unseen identities): \(o.testIdentities) queries, \(galleryLabels.count) gallery samples
          model: linear embedding W [\(dout) x \(din)]; \(lossDescription); SGD lr \(o.learningRate), \
        P x K = \(o.p) x \(o.k), \(o.steps) steps
        """)
        let ideal = world.rotation[0..<(o.identityDim * din)].map { Float($0) }
        let oracle = try rank1(query: embed(ideal, query, dout: o.identityDim, din: din), queryLabels: queryLabels,
                               gallery: embed(ideal, gallery, dout: o.identityDim, din: din),
                               galleryLabels: galleryLabels, dimension: o.identityDim)
        print("rank-1 on raw inputs: \(percent(try rawRank1())); untrained embedding: " +
              "\(percent(try evaluate(initialWeights))); " +
              "ideal projection onto the identity subspace (the ceiling): \(percent(oracle))")
    }

    /// Rank-1 of nearest neighbours on the raw inputs.
    public func rawRank1() throws -> Double {
        try rank1(query: query, queryLabels: queryLabels, gallery: gallery, galleryLabels: galleryLabels,
                  dimension: options.inputDim)
    }
}

/// What a loss closure returns for this process's rows of a batch.
public struct StepLoss {
    /// The batch's mean TriHard loss (over the whole batch, every process's rows).
    public var meanLoss: Double
    /// d loss / d features of this process's rows, `[rows, Dout]`.
    public var gradient: [Float]
    /// The SGD step is `lr / gradientDivisor` times the weight gradient: the
    /// batch size when `gradient` is that of the sum, 1 when of the mean.
    public var gradientDivisor: Float
    /// The fraction of the batch's anchors whose loss is above 0, when known.
    public var violating: Double?

    public init(meanLoss: Double, gradient: [Float], gradientDivisor: Float, violating: Double? = nil) {
        self.meanLoss = meanLoss
        self.gradient = gradient
        self.gradientDivisor = gradientDivisor
        self.violating = violating
    }
}

/// Trains W with SGD on P x K batches and returns it. Every process draws the
/// same batches (the same seeded stream); this one embeds only `rows` of each
/// (batch rows in identity-major order, `a * K + b`), `loss` gets those rows'
/// features and labels, and `combine` turns this process's weight gradient
/// into the whole batch's (identity for one process; a sum over processes).
/// `log`: print the running loss and the rank-1 every `logEvery` steps.
public func trainTriHard(_ experiment: Experiment, rows: Range<Int>, log: Bool,
                         loss: (_ features: [Float], _ labels: [Int]) throws -> StepLoss,
                         combine: (inout [Float]) throws -> Void = { _ in }) throws -> [Float] {
    let o = experiment.options, din = o.inputDim, dout = o.embeddingDim
    var rng = experiment.rng
    var w = experiment.initialWeights
    // Indices of each training identity's samples.
    let byIdentity = (0..<o.trainIdentities).map { id in Array((id * o.samplesPerTrain)..<((id + 1) * o.samplesPerTrain)) }
    var ids = Array(0..<o.trainIdentities)
    var batchX = [Float](repeating: 0, count: rows.count * din)
    var batchLabels = [Int](repeating: 0, count: rows.count)
    var gradW = [Float](repeating: 0, count: dout * din)
    var runningLoss = 0.0, runningActive = 0.0, runningCount = 0, activeKnown = true

    for step in stride(from: 1, through: o.steps, by: 1) {
        // P distinct identities, K distinct samples of each (partial Fisher-Yates
        // shuffles); every process draws the whole batch and keeps its rows.
        for a in 0..<o.p {
            ids.swapAt(a, a + rng.below(ids.count - a))
            var samples = byIdentity[ids[a]]
            for b in 0..<o.k {
                samples.swapAt(b, b + rng.below(samples.count - b))
                let row = a * o.k + b, src = samples[b]
                guard rows.contains(row) else { continue }
                let local = row - rows.lowerBound
                for c in 0..<din { batchX[local * din + c] = experiment.train.x[src * din + c] }
                batchLabels[local] = ids[a]
            }
        }
        let features = embed(w, batchX, dout: dout, din: din)
        let result = try loss(features, batchLabels)
        let g = result.gradient
        // Step decay: the last quarter of the steps at a tenth of the learning rate.
        let lr = step > o.steps - o.steps / 4 ? o.learningRate / 10 : o.learningRate
        let scale = lr / result.gradientDivisor
        // dL/dW = sum_i g_i x_i^T
        for i in gradW.indices { gradW[i] = 0 }
        for i in 0..<rows.count {
            for r in 0..<dout {
                let gi = g[i * dout + r]
                if gi == 0 { continue }
                for c in 0..<din { gradW[r * din + c] += gi * batchX[i * din + c] }
            }
        }
        try combine(&gradW)
        for i in w.indices { w[i] -= scale * gradW[i] }

        runningLoss += result.meanLoss
        if let v = result.violating { runningActive += v } else { activeKnown = false }
        runningCount += 1
        if log && (step % o.logEvery == 0 || step == o.steps) {
            let active = activeKnown ? ", anchors violating the margin \(percent(runningActive / Double(runningCount)))" : ""
            print("step \(step)/\(o.steps): loss \(fixed(runningLoss / Double(runningCount), 4))\(active), " +
                  "rank-1 \(percent(try experiment.evaluate(w)))")
            runningLoss = 0; runningActive = 0; runningCount = 0
        }
    }
    return w
}

/// ``trainTriHard(_:rows:log:loss:combine:)`` in one process: the whole batch,
/// LossKit's batch `triHardLoss` (Euclidean, the options' margin, batch-hard).
/// Reduction `.none` gives the per-anchor losses (to count the anchors that
/// still violate the margin) and the gradient of their sum; the step divides
/// by the batch size, for the mean.
public func trainTriHardOneProcess(_ experiment: Experiment, log: Bool) throws -> [Float] {
    let o = experiment.options, n = o.batchRows
    return try trainTriHard(experiment, rows: 0..<n, log: log) { features, labels in
        let result = try triHardLoss(features: features, labels: labels, dimension: o.embeddingDim,
                                     metric: .euclidean, margin: o.margin, reduction: .none)
        guard let g = result.gradients?.first, let perAnchor = result.unreduced else {
            fatalError("triHardLoss returned no gradient")
        }
        return StepLoss(meanLoss: Double(result.value) / Double(n), gradient: g, gradientDivisor: Float(n),
                        violating: Double(perAnchor.filter { $0 > 0 }.count) / Double(n))
    }
}
