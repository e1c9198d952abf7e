import CBenchSupport
import CLossKit
import Foundation
import LossKit

/// What bounds a workload: the roofline its throughput is compared with.
enum Ceiling {
    /// Memory traffic: `bytes` moved per run, against measured streaming bandwidth.
    case bandwidth(bytes: Double)
    /// Arithmetic: `flops` per run, against measured OpenBLAS SGEMM throughput.
    case sgemm(flops: Double)
}

/// One prepared workload: inputs allocated, ready to time.
struct PreparedWorkload {
    /// Work per run in `unit` (before the 1e9 / 1e6 scaling of the unit).
    var work: Double
    /// "Gelem/s", "GB/s", "GFLOP/s" or "Mpairs/s".
    var unit: String
    var ceiling: Ceiling
    /// Runs the op once (forward, and backward where the workload says so).
    var run: (Execution) throws -> Void
    /// The portable path's share of the work (1, or 0.25 where it runs a quarter of the rows).
    var portableFraction: Double = 1
    /// Runs the portable path (defaults to `run`).
    var runPortable: ((Execution) throws -> Void)? = nil
    /// Shown after the row (e.g. "portable: 1/4 of the rows").
    var note: String? = nil
    /// No portable row (the workload has no portable path to time yet).
    var cOnly = false
}

/// A named workload of Benchmarks/README.md.
struct Workload {
    var name: String
    var shape: String
    /// Builds the inputs; `quick` asks for smaller shapes.
    var prepare: (_ quick: Bool) -> PreparedWorkload
}

struct Options {
    var json = false
    var quick = false
    var filter: String? = nil
    var threadCounts: [Int] = []
    /// Skip the portable path (e.g. to read the C path's peak memory alone).
    var cOnly = false
    /// Time a debug build anyway (it is refused otherwise).
    var allowUnoptimized = false
}

/// Every workload, in the order they run.
var allWorkloads: [Workload] {
    elementwiseWorkloads + detectionWorkloads + metricWorkloads + evaluationWorkloads + reidEvalWorkloads
}

/// A message on stderr (stdout may be JSON lines), then exit.
func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write("losskit-bench: \(message)\n".data(using: .utf8)!)
    exit(status)
}

struct Measurement {
    var median: Double, min: Double, max: Double  // milliseconds
}

/// Times `body`: one warm-up, then `runs` timed runs (median, min, max in ms);
/// 3 runs where the warm-up took over 2 s (re-ranking: ~13 s a run), so that
/// the whole `make bench` stays within its 5 minutes.
func measure(runs: Int, _ body: () throws -> Void) rethrows -> Measurement {
    let w0 = DispatchTime.now().uptimeNanoseconds
    try body()
    let slow = DispatchTime.now().uptimeNanoseconds - w0 > 2_000_000_000
    var times: [Double] = []
    for _ in 0..<(slow ? min(runs, 3) : runs) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
    }
    times.sort()
    return Measurement(median: times[times.count / 2], min: times.first!, max: times.last!)
}

/// The machine's ceilings, measured at each thread count.
///
/// Streaming bandwidth depends on the working set (a large last-level cache
/// serves tens of MiB), so a bandwidth-bound workload is compared with the
/// same read-read-write probe run over *its own* byte count; the header also
/// shows the probe at 384 MiB, which no cache holds (DRAM).
final class Ceilings {
    var sgemm: [Int: Double] = [:] // GFLOP/s
    private var bandwidthCache: [String: Double] = [:] // GB/s by threads and bytes
    let quick: Bool

    init(threadCounts: [Int], quick: Bool) {
        self.quick = quick
        let size = quick ? 512 : 1024
        for t in Set(threadCounts + [1]).sorted() {
            let gemm = bench_sgemm_seconds(Int32(size), Int32(size), Int32(size), Int32(t), quick ? 1 : 3)
            sgemm[t] = 2 * pow(Double(size), 3) / gemm / 1e9
        }
        bench_blas_threads(0)
    }

    /// GB/s of the read-read-write probe moving `bytes` per pass on `threads` threads.
    func bandwidth(threads: Int, bytes: Double) -> Double {
        let n = max(1 << 16, Int(bytes / 12))
        let key = "\(threads)/\(n)"
        if let cached = bandwidthCache[key] { return cached }
        let a = [Float](repeating: 1, count: n), b = [Float](repeating: 2, count: n)
        var out = [Float](repeating: 0, count: n)
        let repeats = quick ? 3 : max(5, min(50, (400 << 20) / (12 * n)))
        let seconds = a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    bench_stream_seconds(a.baseAddress, b.baseAddress, o.baseAddress, n, Int32(threads), Int32(repeats))
                }
            }
        }
        let gbs = Double(12 * n) / seconds / 1e9
        bandwidthCache[key] = gbs
        return gbs
    }

    /// The ceiling for `threads` threads. On a shared machine the probe at
    /// t threads can come out low (the other core busy), which once showed
    /// cdist at "191%" of it; so the SGEMM ceiling at t threads is at least
    /// t times the 1-thread one (perfect scaling, what t cores can do at most),
    /// and streaming at t threads at least the 1-thread figure.
    func sgemmCeiling(threads: Int) -> Double {
        max(sgemm[threads] ?? .nan, Double(threads) * (sgemm[1] ?? 0))
    }

    func bandwidthCeiling(threads: Int, bytes: Double) -> Double {
        let measured = bandwidth(threads: threads, bytes: bytes)
        return threads > 1 ? max(measured, bandwidth(threads: 1, bytes: bytes)) : measured
    }

    func percent(of ceiling: Ceiling, ms: Double, threads: Int) -> Double {
        switch ceiling {
        case let .bandwidth(bytes): return 100 * bytes / (ms / 1e3) / 1e9 / bandwidthCeiling(threads: threads, bytes: bytes)
        case let .sgemm(flops): return 100 * flops / (ms / 1e3) / 1e9 / sgemmCeiling(threads: threads)
        }
    }
}

func unitScale(_ unit: String) -> Double {
    unit.hasPrefix("M") ? 1e6 : 1e9
}

func cpuModel() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
    }
    return "unknown CPU"
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let p = String(repeating: " ", count: max(0, width - s.count))
    return right ? p + s : s + p
}

func fmt(_ x: Double, _ digits: Int = 2) -> String {
    x.isFinite ? String(format: "%.\(digits)f", x) : "-"
}

func jsonLine(_ fields: [(String, Any)]) -> String {
    let parts = fields.map { key, value -> String in
        switch value {
        case let s as String: return "\"\(key)\": \"\(s)\""
        case let d as Double: return "\"\(key)\": \(d.isFinite ? String(format: "%.4f", d) : "null")"
        default: return "\"\(key)\": \(value)"
        }
    }
    return "{" + parts.joined(separator: ", ") + "}"
}

/// Deterministic inputs for the workloads.
struct BenchRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ count: Int, _ range: ClosedRange<Float>) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }
    mutating func normal(_ count: Int, std: Float) -> [Float] {
        (0..<count).map { _ in
            let u1 = Float.random(in: Float.ulpOfOne...1, using: &self), u2 = Float.random(in: 0...1, using: &self)
            return std * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
    }
}
