// wing-landmarks: the same linear landmark regressor trained twice, from the
// same initial weights on the same batches, once with Wing loss and once with
// MSE, on training labels that contain gross annotation errors; both are then
// scored by NME on a clean test set.
//
// The data: 5 facial landmarks (eye centres, nose tip, mouth corners) in a
// 112 x 112 crop, around the ArcFace alignment template. A sample's 16
// features x ~ N(0, I) move the landmarks through a fixed random linear map
// (about 4 px of variation per coordinate). Training labels carry 0.5 px of
// annotation noise, and a fraction of the landmark points (10% by default)
// are gross errors: moved 10 to 40 px in a random direction, as a careless
// annotator or a swapped point would. Test labels are exact.
//
// Model: y = W x + b, W [10 x 16]; LossKit gives dL/dy, and
// dL/dW = sum_i g_i x_i^T, dL/db = sum_i g_i; plain SGD.
//
// NME: per test face, the mean over landmarks of the point error divided by
// the ground-truth inter-ocular distance (landmarks 0 and 1), averaged.
//
//     swift run -c release wing-landmarks [--quick] [--steps N] ...

#if canImport(Glibc)
import Glibc  // exit() and write() only
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ExampleSupport
import LossKit

// MARK: - Options

struct Options {
    var trainCount = 500
    var testCount = 2000
    var featureDim = 16
    var labelNoise = 0.5          // px, every training coordinate
    var outlierFraction = 0.1     // of the training landmark points
    var outlierMin = 10.0, outlierMax = 40.0  // px
    var batch = 32
    var steps = 3000
    var learningRate: Float = 1
    var wingW: Float = 10, wingEpsilon: Float = 2
    var logEvery = 500
    var seed: UInt64 = 7

    static let usage = """
    usage: wing-landmarks [options]
      --quick              small, fast run (CI): 600 steps, loss and NME printed every 100
      --steps N            SGD steps (default 3000)
      --lr X               learning rate of both runs (default 1; a tenth of it for the last quarter)
      --batch N            batch size (default 32)
      --train N            training faces (default 500)
      --test N             clean test faces (default 2000)
      --outliers X         fraction of training landmark points that are gross errors (default 0.1)
      --noise X            annotation noise of every training coordinate, px (default 0.5)
      --w X --epsilon X    Wing parameters (default 10, 2: the paper's)
      --log-every N        print progress every N steps (default 500)
      --seed N             data and batch seed (default 7)
    """

    static func parse(_ arguments: [String]) -> Options {
        var o = Options()
        if arguments.contains("--quick") { o.steps = 600; o.logEvery = 100 }
        var args = ArgumentReader(arguments, fail: fail)
        while let arg = args.next() {
            switch arg {
            case "--quick": break  // applied first, so that explicit options override it
            case "--steps": o.steps = args.int(arg, min: 0)
            case "--lr": o.learningRate = Float(args.number(arg))
            case "--batch": o.batch = args.int(arg)
            case "--train": o.trainCount = args.int(arg)
            case "--test": o.testCount = args.int(arg)
            case "--outliers": o.outlierFraction = args.number(arg, max: 1)
            case "--noise": o.labelNoise = args.number(arg)
            case "--w": o.wingW = Float(args.number(arg))
            case "--epsilon": o.wingEpsilon = Float(args.number(arg))
            case "--log-every": o.logEvery = args.int(arg)
            case "--seed": o.seed = UInt64(args.int(arg, min: 0))
            case "-h", "--help": print(usage); exit(0)
            default: fail("unknown option '\(arg)'")
            }
        }
        if o.trainCount <= o.featureDim { fail("--train must exceed \(o.featureDim) (the least-squares reference needs it)") }
        o.batch = min(o.batch, o.trainCount)
        return o
    }
}

func fail(_ message: String) -> Never { exitWithUsage(program: "wing-landmarks", usage: Options.usage, message) }

// MARK: - Formatting

func percent(_ x: Double, _ digits: Int = 2) -> String { fixed(100 * x, digits) + "%" }

// MARK: - Data

/// The ArcFace 112 x 112 five-point template: left eye, right eye, nose tip, mouth corners.
let template: [Double] = [38.2946, 51.6963, 73.5318, 51.5014, 56.0252, 71.7366, 41.5493, 92.3655, 70.7299, 92.2041]
let landmarks = 5, outputs = 10

struct Dataset {
    var x: [Float] = []          // [n, featureDim]
    var y: [Float] = []          // [n, 10]: x0, y0, x1, y1, ...
    var count = 0
}

/// Features x ~ N(0, I); exact landmarks template + B x. Training labels get noise and gross errors.
func makeData(count: Int, map b: [Double], options o: Options, noisy: Bool, _ rng: inout SplitMix64)
    -> (data: Dataset, grossPoints: Int) {
    var data = Dataset(count: count)
    var gross = 0
    let d = o.featureDim
    for _ in 0..<count {
        let x = (0..<d).map { _ in rng.gaussian() }
        var y = template
        for r in 0..<outputs { for c in 0..<d { y[r] += b[r * d + c] * x[c] } }
        if noisy {
            for r in 0..<outputs { y[r] += o.labelNoise * rng.gaussian() }
            for l in 0..<landmarks where rng.uniform() < o.outlierFraction {
                let (dx, dy) = rng.direction()
                let magnitude = o.outlierMin + (o.outlierMax - o.outlierMin) * rng.uniform()
                y[2 * l] += magnitude * dx
                y[2 * l + 1] += magnitude * dy
                gross += 1
            }
        }
        data.x += x.map { Float($0) }
        data.y += y.map { Float($0) }
    }
    return (data, gross)
}

// MARK: - Model: y = W x + b

struct Regressor {
    var w: [Float]   // [10, d]
    var b: [Float]   // [10]
    let d: Int

    func predict(_ x: [Float]) -> [Float] {
        let n = x.count / d
        var y = [Float](repeating: 0, count: n * outputs)
        for i in 0..<n {
            for r in 0..<outputs {
                var s = b[r]
                for c in 0..<d { s += w[r * d + c] * x[i * d + c] }
                y[i * outputs + r] = s
            }
        }
        return y
    }

    /// One SGD step from g = dL/dy [n, 10] on the batch x [n, d].
    mutating func step(x: [Float], g: [Float], lr: Float) {
        let n = g.count / outputs
        for i in 0..<n {
            for r in 0..<outputs {
                let gi = g[i * outputs + r]
                b[r] -= lr * gi
                for c in 0..<d { w[r * d + c] -= lr * gi * x[i * d + c] }
            }
        }
    }
}

/// Normalised mean error: per face, mean point error / ground-truth inter-ocular distance; averaged.
func nme(_ predictions: [Float], _ truth: [Float]) -> Double {
    let n = truth.count / outputs
    var total = 0.0
    for i in 0..<n {
        let p = predictions[(i * outputs)...], t = truth[(i * outputs)...]
        func point(_ a: ArraySlice<Float>, _ l: Int) -> (Double, Double) {
            (Double(a[a.startIndex + 2 * l]), Double(a[a.startIndex + 2 * l + 1]))
        }
        func distance(_ u: (Double, Double), _ v: (Double, Double)) -> Double {
            ((u.0 - v.0) * (u.0 - v.0) + (u.1 - v.1) * (u.1 - v.1)).squareRoot()
        }
        let interOcular = distance(point(t, 0), point(t, 1))
        var error = 0.0
        for l in 0..<landmarks { error += distance(point(p, l), point(t, l)) }
        total += error / Double(landmarks) / interOcular
    }
    return total / Double(n)
}

/// The least-squares fit of W, b on the training set (normal equations in
/// Double): where SGD on MSE converges, to show its result is MSE's, not SGD's.
func leastSquares(_ data: Dataset, d: Int) -> Regressor {
    let m = d + 1  // features and a 1 for the bias
    var a = [Double](repeating: 0, count: m * m), rhs = [Double](repeating: 0, count: m * outputs)
    for i in 0..<data.count {
        var z = (0..<d).map { Double(data.x[i * d + $0]) }
        z.append(1)
        for r in 0..<m {
            for c in 0..<m { a[r * m + c] += z[r] * z[c] }
            for k in 0..<outputs { rhs[r * outputs + k] += z[r] * Double(data.y[i * outputs + k]) }
        }
    }
    // Gauss-Jordan with partial pivoting (A is symmetric positive definite for enough samples).
    for col in 0..<m {
        var pivot = col
        for r in (col + 1)..<m where abs(a[r * m + col]) > abs(a[pivot * m + col]) { pivot = r }
        if pivot != col {
            for c in 0..<m { a.swapAt(col * m + c, pivot * m + c) }
            for k in 0..<outputs { rhs.swapAt(col * outputs + k, pivot * outputs + k) }
        }
        let inv = 1 / a[col * m + col]
        for r in 0..<m where r != col {
            let f = a[r * m + col] * inv
            if f == 0 { continue }
            for c in 0..<m { a[r * m + c] -= f * a[col * m + c] }
            for k in 0..<outputs { rhs[r * outputs + k] -= f * rhs[col * outputs + k] }
        }
    }
    var model = Regressor(w: [Float](repeating: 0, count: outputs * d), b: [Float](repeating: 0, count: outputs), d: d)
    for k in 0..<outputs {
        for c in 0..<d { model.w[k * d + c] = Float(rhs[c * outputs + k] / a[c * m + c]) }
        model.b[k] = Float(rhs[d * outputs + k] / a[d * m + d])
    }
    return model
}

// MARK: - Main

@main
struct WingLandmarks {
    static func main() throws {
        let o = Options.parse(CommandLine.arguments)
        let clock = ContinuousClock(), start = clock.now
        var rng = SplitMix64(seed: o.seed)
        let d = o.featureDim
        // The true map: N(0, 1) entries, so each coordinate varies by about 4 px (sqrt(16)).
        let map = (0..<(outputs * d)).map { _ in rng.gaussian() }
        let (train, grossPoints) = makeData(count: o.trainCount, map: map, options: o, noisy: true, &rng)
        let (test, _) = makeData(count: o.testCount, map: map, options: o, noisy: false, &rng)

        print("""
        wing-landmarks: 5 landmarks in a 112 x 112 face crop = ArcFace template + B x, x ~ N(0, I_\(d)), \
        B fixed and random (~4 px per coordinate)
          train: \(o.trainCount) faces, labels with \(fixed(o.labelNoise, 2)) px Gaussian noise and \
        \(grossPoints) of \(o.trainCount * landmarks) points (\(percent(Double(grossPoints) / Double(o.trainCount * landmarks), 1))) \
        moved \(fixed(o.outlierMin, 0))-\(fixed(o.outlierMax, 0)) px in a random direction
          test: \(o.testCount) faces, exact labels; NME = mean point error / inter-ocular distance
          model: linear regressor W [\(outputs) x \(d)] + b, trained twice from the same init on the same batches: \
        Wing (w \(fixed(Double(o.wingW), 1)), epsilon \(fixed(Double(o.wingEpsilon), 1))) and MSE; \
        SGD lr \(o.learningRate), batch \(o.batch), \(o.steps) steps
        """)

        // Initial model, shared: W = 0, b = the coordinate-wise median of the training labels (the mean shape).
        var median = [Float](repeating: 0, count: outputs)
        for r in 0..<outputs {
            let column = (0..<train.count).map { train.y[$0 * outputs + r] }.sorted()
            median[r] = column[column.count / 2]
        }
        let initial = Regressor(w: [Float](repeating: 0, count: outputs * d), b: median, d: d)
        var wing = initial, mse = initial
        let before = nme(initial.predict(test.x), test.y)
        print("NME (test) of the initial model (median shape): \(percent(before))")

        var order = Array(0..<train.count), cursor = train.count
        var batchX = [Float](repeating: 0, count: o.batch * d), batchY = [Float](repeating: 0, count: o.batch * outputs)
        var wingRunning = 0.0, mseRunning = 0.0, runningCount = 0
        for step in stride(from: 1, through: o.steps, by: 1) {
            // Batches walk through a fresh shuffle of the training set every epoch.
            for i in 0..<o.batch {
                if cursor == train.count {
                    for j in order.indices.dropLast() { order.swapAt(j, j + rng.below(order.count - j)) }
                    cursor = 0
                }
                let src = order[cursor]; cursor += 1
                for c in 0..<d { batchX[i * d + c] = train.x[src * d + c] }
                for r in 0..<outputs { batchY[i * outputs + r] = train.y[src * outputs + r] }
            }
            let lr = step > o.steps - o.steps / 4 ? o.learningRate / 10 : o.learningRate

            let wingResult = try wingLoss(predictions: wing.predict(batchX), targets: batchY,
                                          w: o.wingW, epsilon: o.wingEpsilon, reduction: .mean)
            let mseResult = try mseLoss(predictions: mse.predict(batchX), targets: batchY, reduction: .mean)
            guard let wingGrad = wingResult.gradient, let mseGrad = mseResult.gradient else {
                fatalError("LossKit returned no gradient")
            }
            wing.step(x: batchX, g: wingGrad, lr: lr)
            mse.step(x: batchX, g: mseGrad, lr: lr)

            wingRunning += Double(wingResult.value); mseRunning += Double(mseResult.value); runningCount += 1
            if step % o.logEvery == 0 || step == o.steps {
                let k = Double(runningCount)
                print("step \(step)/\(o.steps): wing loss \(fixed(wingRunning / k, 3)), " +
                      "NME \(percent(nme(wing.predict(test.x), test.y))) | " +
                      "mse loss \(fixed(mseRunning / k, 2)), NME \(percent(nme(mse.predict(test.x), test.y)))")
                wingRunning = 0; mseRunning = 0; runningCount = 0
            }
        }

        let wingNME = nme(wing.predict(test.x), test.y), mseNME = nme(mse.predict(test.x), test.y)
        let lsNME = nme(leastSquares(train, d: d).predict(test.x), test.y)
        print("reference: the exact least-squares fit (MSE's optimum) scores NME \(percent(lsNME))")
        print("NME (test): wing \(percent(wingNME)), mse \(percent(mseNME))  " +
              "[initial \(percent(before)); \(fixed(seconds(clock.now - start), 2)) s]")
        // CI runs this: both must learn, and on these outlier-laden labels Wing must beat MSE
        if !(wingNME < mseNME && mseNME < before) { fail("unexpected result: wing \(percent(wingNME)), mse \(percent(mseNME))") }
    }
}
