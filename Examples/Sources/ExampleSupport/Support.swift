// Shared by the two example programs: command-line options, a seeded random
// stream and number formatting, from the standard library and libc alone.

#if canImport(Glibc)
import Glibc  // exit() and write() only
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Command line

/// Prints `program: message` and the usage to stderr, then exits with status 2.
public func exitWithUsage(program: String, usage: String, _ message: String) -> Never {
    let text = "\(program): \(message)\n\n\(usage)\n"
    text.utf8CString.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count - 1) }
    exit(2)
}

/// The options after the program name, one by one; a flag's value that is
/// missing or out of range ends the program through `fail`.
public struct ArgumentReader {
    private var rest: IndexingIterator<ArraySlice<String>>
    private let fail: (String) -> Never

    public init(_ arguments: [String], fail: @escaping (String) -> Never) {
        rest = arguments.dropFirst().makeIterator()
        self.fail = fail
    }

    public mutating func next() -> String? { rest.next() }

    private mutating func value(_ flag: String) -> String {
        guard let v = rest.next() else { fail("\(flag) needs a value") }
        return v
    }

    /// An integer >= `min`.
    public mutating func int(_ flag: String, min: Int = 1) -> Int {
        let v = value(flag)
        guard let n = Int(v), n >= min else { fail("\(flag): expected an integer >= \(min), got '\(v)'") }
        return n
    }

    /// A finite number in [0, max].
    public mutating func number(_ flag: String, max: Double = .infinity) -> Double {
        let v = value(flag)
        guard let x = Double(v), x.isFinite, x >= 0, x <= max else {
            fail("\(flag): expected a number " + (max.isFinite ? "in [0, \(max)]" : ">= 0") + ", got '\(v)'")
        }
        return x
    }
}

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
