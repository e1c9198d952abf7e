import CLossKit
import Foundation
import Testing
import _TestSupport

/// The vector exp / log / log1p / sigmoid / softplus against float64
/// references, over the whole float range, on every ISA path: <= 2 ulp.
@Suite("Vector math: ulp sweep")
struct VectorMathSweepTests {
    static var functions: [(losskit_vecmath_fn, String, (Double) -> Double)] { [
        (LOSSKIT_VEC_EXP, "exp", { exp($0) }),
        (LOSSKIT_VEC_LOG, "log", { log($0) }),
        (LOSSKIT_VEC_LOG1P, "log1p", { log1p($0) }),
        (LOSSKIT_VEC_SIGMOID, "sigmoid", { $0 >= 0 ? 1 / (1 + exp(-$0)) : exp($0) / (1 + exp($0)) }),
        (LOSSKIT_VEC_SOFTPLUS, "softplus", { $0 > 0 ? $0 + log1p(exp(-$0)) : log1p(exp($0)) }),
    ] }

    /// Every 4099th bit pattern of all 2^32, plus dense runs where the functions are delicate.
    static let inputs: [Float] = {
        var v: [Float] = []
        var bits: UInt64 = 0
        while bits <= UInt64(UInt32.max) { v.append(Float(bitPattern: UInt32(bits))); bits += 4099 }
        for center: Float in [0, 1, -1, 0.5, 2, 88.72, -87.3, -103.97, 1e-38, -0.35, 0.35] {
            var x = center
            for _ in 0..<2000 { v.append(x); x = x.nextUp }
            x = center
            for _ in 0..<2000 { v.append(x); x = x.nextDown }
        }
        v += [.infinity, -.infinity, .nan, 0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude]
        return v
    }()

    /// Distance in ulps between two finite floats (monotone integer mapping).
    static func ulps(_ a: Float, _ b: Float) -> Int64 {
        func key(_ f: Float) -> Int64 {
            let i = Int64(Int32(bitPattern: f.bitPattern))
            return i < 0 ? Int64(Int32.min) - i : i
        }
        return abs(key(a) - key(b))
    }

    @Test func sweep() throws {
        let x = Self.inputs
        #expect(x.count > 1_000_000)
        for (fn, name, reference) in Self.functions {
            let expected = x.map { Float(reference(Double($0))) }
            forEachISA { isa in
                var out = [Float](repeating: 0, count: x.count)
                let status = x.withUnsafeBufferPointer { xb in
                    out.withUnsafeMutableBufferPointer { ob in losskit_vecmath(fn, xb.baseAddress, ob.baseAddress, xb.count) }
                }
                #expect(status == LOSSKIT_OK)
                var worst: Int64 = 0, worstAt: Float = 0
                for i in x.indices {
                    let e = expected[i], o = out[i]
                    if e.isNaN || o.isNaN {
                        if e.isNaN != o.isNaN { Issue.record("\(name) \(isaName(isa)) at \(x[i]): \(o) vs \(e)"); break }
                        continue
                    }
                    if e.isInfinite || o.isInfinite || e == 0 || o == 0 {
                        // exact where the reference is exact (0 compared up to the sign of zero)
                        if !(e == o || Self.ulps(e, o) <= 2) { Issue.record("\(name) \(isaName(isa)) at \(x[i]): \(o) vs \(e)"); break }
                        continue
                    }
                    let d = Self.ulps(e, o)
                    if d > worst { worst = d; worstAt = x[i] }
                }
                #expect(worst <= 2, "\(name) \(isaName(isa)): \(worst) ulp at \(worstAt)")
            }
        }
    }
}
