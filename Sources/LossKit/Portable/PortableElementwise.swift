import Foundation

extension Portable {
    /// Runs an elementwise loss; returns the reduced value (for `.none`: the sum).
    static func elementwise(
        _ loss: ElementwiseLoss, _ x: UnsafeBufferPointer<Float>, _ t: UnsafeBufferPointer<Float>,
        weights: UnsafeBufferPointer<Float>? = nil, reduction: Reduction, unreduced: UnsafeMutableBufferPointer<Float>?,
        gradient: UnsafeMutableBufferPointer<Float>?, threads: Int, normalizer: Float? = nil
    ) -> Float {
        let n = x.count
        var count = reduction == .mean ? Double(n) : 1
        if case let .sigmoidFocal(_, _, norm?) = loss { count = Double(norm) }
        let scale = Float(1 / count)

        // Weights scale pred and target before the loss (mmpose's target weight)
        // for these; for the others they scale each element's loss.
        let weightInputs: Bool
        switch loss {
        case .l1, .mse, .smoothL1, .huber, .wing, .adaptiveWing: weightInputs = true
        default: weightInputs = false
        }

        // One generic loop; `term` gives an element's loss and its derivative.
        func run(_ term: (Int, Float, Float) -> (Float, Float)) -> Double {
            chunkedSum(count: n, threads: threads) { range in
                var acc = 0.0
                for i in range {
                    var l: Float, g: Float
                    if let weights {
                        let w = weights[i]
                        (l, g) = weightInputs ? term(i, w * x[i], w * t[i]) : term(i, x[i], t[i])
                        g *= w
                        if !weightInputs { l *= w }
                    } else {
                        (l, g) = term(i, x[i], t[i])
                    }
                    acc += Double(l)
                    unreduced?[i] = l
                    gradient?[i] = g * scale
                }
                return acc
            }
        }

        let sum: Double
        switch loss {
        case .l1:
            sum = run { _, p, y in let r = p - y; return (abs(r), sign(r)) }
        case .mse:
            sum = run { _, p, y in let r = p - y; return (r * r, 2 * r) }
        case let .smoothL1(beta):
            sum = run { _, p, y in
                let r = p - y
                return abs(r) < beta ? (0.5 * r * r / beta, r / beta) : (abs(r) - 0.5 * beta, sign(r))
            }
        case let .huber(delta):
            sum = run { _, p, y in
                let r = p - y
                return abs(r) < delta ? (0.5 * r * r, r) : (delta * (abs(r) - 0.5 * delta), delta * sign(r))
            }
        case let .wing(w, epsilon):
            let c = Float(Double(w) - Double(w) * log1p(Double(w) / Double(epsilon)))
            sum = run { _, p, y in
                let r = p - y, a = abs(r)
                return a < w ? (w * log1p(a / epsilon), sign(r) * w / (epsilon + a)) : (a - c, sign(r))
            }
        case let .adaptiveWing(alpha, omega, epsilon, theta):
            sum = run { _, p, y in
                let r = p - y, a = abs(r), e = alpha - y
                if a < theta {
                    let ue = pow(a / epsilon, e)
                    let d = a > 0 ? omega * e * pow(a / epsilon, e - 1) / (epsilon * (1 + ue)) : 0
                    return (omega * log1p(ue), sign(r) * d)
                }
                let k = pow(theta / epsilon, e)
                let A = omega / (1 + k) * e * pow(theta / epsilon, e - 1) / epsilon
                let C = theta * A - omega * log1p(k)
                return (A * a - C, sign(r) * A)
            }
        case let .focalRegression(gamma):
            let k = 2 + gamma
            sum = run { _, p, y in
                let r = p - y, a = abs(r)
                let ak1 = pow(a, k - 1)
                return (ak1 * a, sign(r) * k * ak1)
            }
        case let .shrinkage(a, c, weight):
            var invMax: Float = 0
            if weight == .dsltCode {
                var m: Float = 0
                var sawNaN = false
                for y in t { let v = y * exp(1.6 * y); if v.isNaN { sawNaN = true } else if v > m { m = v } }
                invMax = sawNaN ? .nan : (m > 0 ? 1 / m : 0)
            }
            sum = run { _, p, y in
                let r = p - y, l = abs(r)
                let w: Float
                switch weight {
                case .exponentialTarget: w = exp(y)
                case .none: w = 1
                case .dsltCode: let v = y * exp(1.6 * y) * invMax; w = v * v
                }
                let z = a * (l - c)
                let s = sigmoid(z), sc = sigmoid(-z)
                return (w * l * l * s, w * sign(r) * (2 * l * s + l * l * a * s * sc))
            }
        case let .binaryCrossEntropyWithLogits(posWeight):
            let pw = posWeight ?? [1]
            // (1 - t) softplus(x) + pw t softplus(-x): no cancellation (see elementwise.c)
            sum = run { i, z, y in
                let pwt = pw[i % pw.count] * y
                return ((1 - y) * softplus(z) + pwt * softplus(-z), (1 - y) * sigmoid(z) - pwt * sigmoid(-z))
            }
        case let .sigmoidFocal(alpha, gamma, _):
            sum = run { _, z, y in
                let p = sigmoid(z), pc = sigmoid(-z)
                let ce = (1 - y) * softplus(z) + y * softplus(-z)
                let q = p * (1 - y) + pc * y                 // 1 - p_t
                let m = gamma == 0 ? 1 : pow(q, gamma)
                let dm: Float = gamma == 0 || q == 0 ? 0 : gamma * m / q
                let at: Float = alpha >= 0 ? alpha * y + (1 - alpha) * (1 - y) : 1
                let grad = at * ((p * (1 - y) - pc * y) * m - ce * dm * p * pc * (2 * y - 1))
                return (at * ce * m, grad)
            }
        }
        return reduction == .none ? Float(sum) : Float(sum / count)
    }

    /// sign(r): -1, 0, +1; NaN stays NaN.
    @inline(__always) static func sign(_ r: Float) -> Float {
        r > 0 ? 1 : (r < 0 ? -1 : (r == 0 ? 0 : r))
    }

    /// 1 / (1 + e^-z), accurate in both tails.
    @inline(__always) static func sigmoid(_ z: Float) -> Float {
        if z >= 0 { return 1 / (1 + exp(-z)) }
        if z.isNaN { return z }
        let e = exp(z)
        return e / (1 + e)
    }

    /// log(1 + e^z) without overflow.
    @inline(__always) static func softplus(_ z: Float) -> Float {
        z.isNaN ? z : max(z, 0) + log1p(exp(-abs(z)))
    }
}
