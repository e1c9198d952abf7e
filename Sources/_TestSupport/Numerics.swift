import CLossKit
#if canImport(Glibc)
import Glibc
#endif

/// Tolerance check in the terms of golden/README.md: |a - e| <= atol + rtol |e|,
/// NaN matching NaN and infinities matching exactly.
public func isClose(_ actual: Double, _ expected: Double, rtol: Double, atol: Double) -> Bool {
    if expected.isNaN { return actual.isNaN }
    if expected.isInfinite || actual.isInfinite { return actual == expected }
    return abs(actual - expected) <= atol + rtol * abs(expected)
}

/// The first index where two arrays disagree beyond tolerance, with a message; nil if they agree.
public func firstMismatch(_ actual: [Float], _ expected: [Double], rtol: Double, atol: Double) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) != expected \(expected.count)" }
    for i in actual.indices where !isClose(Double(actual[i]), expected[i], rtol: rtol, atol: atol) {
        return "[\(i)]: got \(actual[i]), expected \(expected[i]) (rtol \(rtol), atol \(atol))"
    }
    return nil
}

public func firstMismatch(_ actual: [Float], _ expected: [Float], rtol: Double, atol: Double) -> String? {
    firstMismatch(actual, expected.map(Double.init), rtol: rtol, atol: atol)
}

/// Central finite differences of a loss given as its separate terms: each
/// coordinate is nudged by +-h (h relative to its size) and the terms are
/// summed in Double, so the terms the nudge does not touch cancel exactly.
/// Returns the numerical gradient of the sum of the terms.
public func finiteDifferenceGradient(
    at x: [Float], relativeStep: Float = 1e-3, minimumStep: Float = 1e-3,
    terms: ([Float]) throws -> [Float]
) rethrows -> [Double] {
    var grad = [Double](repeating: 0, count: x.count)
    var probe = x
    for i in x.indices {
        let h = max(minimumStep, relativeStep * abs(x[i]))
        probe[i] = x[i] + h
        let up = try terms(probe).reduce(0.0) { $0 + Double($1) }
        let hiX = probe[i]
        probe[i] = x[i] - h
        let down = try terms(probe).reduce(0.0) { $0 + Double($1) }
        let loX = probe[i]
        probe[i] = x[i]
        grad[i] = (up - down) / (Double(hiX) - Double(loX))
    }
    return grad
}

/// Every ISA path this CPU has (scalar first).
public var availableISAs: [losskit_isa] {
    [LOSSKIT_ISA_SCALAR, LOSSKIT_ISA_AVX2, LOSSKIT_ISA_AVX512, LOSSKIT_ISA_NEON].filter { losskit_isa_supported($0) != 0 }
}

/// Runs `body` once per ISA path, pinned on the calling thread only, so
/// tests running in parallel are not disturbed.
public func forEachISA(_ body: (losskit_isa) throws -> Void) rethrows {
    defer { _ = losskit_set_thread_isa(-1) }
    for isa in availableISAs {
        _ = losskit_set_thread_isa(Int32(isa.rawValue))
        try body(isa)
    }
}

public func isaName(_ isa: losskit_isa) -> String { String(cString: losskit_isa_name(isa)) }

/// A small deterministic generator (SplitMix64) so random tests are reproducible.
public struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    public mutating func uniform(_ range: ClosedRange<Float>, count: Int) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }
    /// Standard normal samples (Box-Muller).
    public mutating func normal(count: Int, mean: Float = 0, std: Float = 1) -> [Float] {
        (0..<count).map { _ in
            let u1 = Double.random(in: Double.ulpOfOne...1, using: &self), u2 = Double.random(in: 0...1, using: &self)
            return mean + std * Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
        }
    }
}

@inline(__always) private func _log(_ x: Double) -> Double { x.isZero ? -.infinity : _logImpl(x) }
private func _logImpl(_ x: Double) -> Double {
    // Natural log without Foundation: log2 via exponent + series would be overkill; use the C library.
    return Double(logl(Float80(x)))
}
private func _cos(_ x: Double) -> Double { Double(cosl(Float80(x))) }
