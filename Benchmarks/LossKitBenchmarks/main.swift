// `make bench`: times every workload of Benchmarks/README.md on the C path and
// the portable Swift path, at 1 thread and at all cores, against the machine's
// own measured ceilings. Flags: --json, --filter NAME, --quick, --threads, --c-only.
// Exits 1 if a workload failed, 2 for a bad argument or an unoptimized build.
import CBenchSupport
import CLossKit
import Foundation
import LossKit

// Before anything calls OpenBLAS: undo its fallback to a generic core in VMs it does not recognise.
bench_fix_blas_core(CommandLine.unsafeArgv)

var options = Options()
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let arg = arguments.next() {
    switch arg {
    case "--json": options.json = true
    case "--quick": options.quick = true
    case "--c-only": options.cOnly = true
    case "--allow-unoptimized": options.allowUnoptimized = true
    case "--filter": options.filter = arguments.next()
    case "--threads": options.threadCounts = arguments.next().map { $0.split(separator: ",").compactMap { Int($0) } } ?? []
    case "-h", "--help":
        print("usage: losskit-bench [--json] [--quick] [--filter NAME] [--threads 1,2] [--c-only] [--allow-unoptimized]")
        print("workloads: " + allWorkloads.map(\.name).joined(separator: ", "))
        exit(0)
    default:
        fail("unknown argument \(arg)", status: 2)
    }
}

// Timing a debug build measures the compiler's -O0, not LossKit: refuse it.
if !options.allowUnoptimized {
    if losskit_optimized_build() == 0 {
        fail("the C kernels were compiled without optimization (a debug build): build with "
             + "`swift build -c release` (make bench does), or pass --allow-unoptimized", status: 2)
    }
    #if DEBUG
    fail("losskit-bench is a debug build: build it with `swift build -c release` (make bench does), "
         + "or pass --allow-unoptimized", status: 2)
    #endif
}

let cores = Int(losskit_cpu_count())
if options.threadCounts.isEmpty { options.threadCounts = cores > 1 ? [1, cores] : [1] }
let workloads = allWorkloads.filter { options.filter == nil || $0.name == options.filter }
if workloads.isEmpty {
    fail("no workload named \(options.filter ?? ""); the workloads are: "
         + allWorkloads.map(\.name).joined(separator: ", "), status: 2)
}

let isa = String(cString: losskit_isa_name(losskit_active_isa()))
let ceilings = Ceilings(threadCounts: options.threadCounts, quick: options.quick)
let dramBytes = Double(options.quick ? 48 << 20 : 384 << 20)
let runs = options.quick ? 1 : 5

if options.json {
    for t in options.threadCounts {
        print(jsonLine([("machine", cpuModel()), ("isa", isa), ("threads", t),
                        ("bandwidth_gbs", ceilings.bandwidthCeiling(threads: t, bytes: dramBytes)),
                        ("sgemm_gflops", ceilings.sgemmCeiling(threads: t)),
                        ("sgemm_measured_gflops", ceilings.sgemm[t]!)]))
    }
} else {
    print("LossKit benchmarks\(options.quick ? " (quick: smaller shapes, one run each)" : "")")
    print("CPU: \(cpuModel()), \(cores) cores; ISA path: \(isa); threads: \(options.threadCounts.map(String.init).joined(separator: ", "))")
    let blasCore = String(cString: bench_blas_core())
    if let detected = ProcessInfo.processInfo.environment["LOSSKIT_BENCH_BLAS_DETECTED"] {
        print("OpenBLAS core: \(blasCore) (OpenBLAS detected \(detected) on this CPU; losskit-bench set OPENBLAS_CORETYPE=\(blasCore))")
    } else {
        print("OpenBLAS core: \(blasCore)")
    }
    for t in options.threadCounts {
        let gemm = ceilings.sgemmCeiling(threads: t), measured = ceilings.sgemm[t]!
        print("ceilings at \(t) thread\(t == 1 ? "" : "s"): streaming \(fmt(ceilings.bandwidthCeiling(threads: t, bytes: dramBytes), 1)) GB/s "
              + "(read-read-write over \(Int(dramBytes) >> 20) MiB; bandwidth-bound rows use the probe at their own size), "
              + "SGEMM \(fmt(gemm, 1)) GFLOP/s (OpenBLAS, \(options.quick ? 512 : 1024)-cube"
              + (gemm > measured ? "; measured \(fmt(measured, 1)), below \(t) x the 1-thread figure)" : ")"))
    }
    print("")
    print([pad("workload", 22), pad("path", 9), pad("thr", 4, right: true), pad("median ms", 11, right: true),
           pad("min", 9, right: true), pad("max", 9, right: true), pad("throughput", 18, right: true),
           pad("% ceiling", 10, right: true), pad("C/Swift", 8, right: true)].joined(separator: " "))
}

var failures = 0
for workload in workloads {
    let prepared = workload.prepare(options.quick)
    // --quick rows run smaller shapes: they get their own name, never the full-size one
    let name = options.quick ? workload.name + "_quick" : workload.name
    for threads in options.threadCounts {
        var medians: [Backend: Double] = [:]
        for backend in options.cOnly || prepared.cOnly ? [Backend.c] : [Backend.portable, .c] {
            let execution = Execution(backend: backend, threads: threads)
            let isPortable = backend == .portable
            let body = isPortable ? (prepared.runPortable ?? prepared.run) : prepared.run
            let fraction = isPortable ? prepared.portableFraction : 1
            bench_blas_threads(Int32(threads))
            let m: Measurement
            do {
                m = try measure(runs: runs) { try body(execution) }
            } catch {
                FileHandle.standardError.write("\(name) \(backend) \(threads) thread(s) failed: \(error)\n".data(using: .utf8)!)
                failures += 1
                continue
            }
            medians[backend] = m.median / fraction
            let throughput = prepared.work * fraction / (m.median / 1e3) / unitScale(prepared.unit)
            let scaled: Ceiling
            switch prepared.ceiling {
            case let .bandwidth(bytes): scaled = .bandwidth(bytes: bytes * fraction)
            case let .sgemm(flops): scaled = .sgemm(flops: flops * fraction)
            }
            let roof = ceilings.percent(of: scaled, ms: m.median, threads: threads)
            let path = isPortable ? "swift" : "c"
            let speedup = isPortable ? Double.nan : (medians[.portable] ?? .nan) / m.median
            if options.json {
                print(jsonLine([("workload", name), ("path", path), ("threads", threads), ("ms", m.median),
                                ("min_ms", m.min), ("max_ms", m.max), ("throughput", throughput),
                                ("unit", prepared.unit), ("roofline_pct", roof)]
                               + (isPortable && fraction != 1 ? [("portable_fraction", fraction)] : [])))
            } else {
                var line = [pad(name, 22), pad(path, 9), pad("\(threads)", 4, right: true),
                            pad(fmt(m.median), 11, right: true), pad(fmt(m.min), 9, right: true),
                            pad(fmt(m.max), 9, right: true),
                            pad("\(fmt(throughput)) \(prepared.unit)", 18, right: true),
                            pad(fmt(roof, 0) + "%", 10, right: true),
                            pad(isPortable ? "" : fmt(speedup, 1) + "x", 8, right: true)].joined(separator: " ")
                if isPortable, let note = prepared.note { line += "  (\(note))" }
                print(line)
            }
            fflush(stdout)
        }
    }
}
if !options.json {
    print("\npeak resident memory: \(bench_peak_rss_bytes() >> 20) MiB")
}
if failures > 0 { fail("\(failures) workload run(s) failed", status: 1) }
