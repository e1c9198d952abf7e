// Shared by the two example programs: a seeded random stream and number formatting,
// from the standard library alone.

// MARK: - Deterministic random numbers (no Foundation, same stream on every platform)

public struct SplitMix64 {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in 0..<n.
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

    private var spare: Double?

    /// Standard normal (Marsaglia's polar form of Box-Muller).
    public mutating func gaussian() -> Double {
        if let s = spare { spare = nil; return s }
        while true {
            let u = 2 * uniform() - 1, v = 2 * uniform() - 1
            let s = u * u + v * v
            guard s > 0, s < 1 else { continue }
            let f = (-2 * naturalLog(s) / s).squareRoot()
            spare = v * f
            return u * f
        }
    }

    /// A uniformly random unit vector in the plane (no sin/cos needed).
    public mutating func direction() -> (Double, Double) {
        while true {
            let u = 2 * uniform() - 1, v = 2 * uniform() - 1
            let s = u * u + v * v
            if s > 1e-6, s < 1 { let r = s.squareRoot(); return (u / r, v / r) }
        }
    }
}

/// ln(x) for x > 0 from the stdlib alone (exponent/significand + atanh series):
/// bit-identical on every platform, unlike the C library's log.
public func naturalLog(_ x: Double) -> Double {
    var m = x.significand, e = Double(x.exponent)      // x = m 2^e, m in [1, 2)
    if m > 1.4142135623730951 { m /= 2; e += 1 }       // m in [0.71, 1.42]
    let z = (m - 1) / (m + 1), z2 = z * z              // |z| < 0.172
    var term = z, sum = 0.0
    for i in stride(from: 1, through: 27, by: 2) { sum += term / Double(i); term *= z2 }
    return 2 * sum + e * 0.6931471805599453
}

// MARK: - Formatting

public func fixed(_ x: Double, _ digits: Int = 1) -> String {
    guard x.isFinite else { return "\(x)" }
    var scale: Int64 = 1
    for _ in 0..<digits { scale *= 10 }
    let n = Int64((abs(x) * Double(scale)).rounded())
    var s = "\(n / scale)"
    if digits > 0 {
        let frac = "\(n % scale)"
        s += "." + String(repeating: "0", count: digits - frac.count) + frac
    }
    return (x < 0 && n != 0 ? "-" : "") + s
}

public func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
