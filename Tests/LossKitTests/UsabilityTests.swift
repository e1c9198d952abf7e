import CLossKit
import Foundation
import LossKit
import Testing

/// What a new user meets in the first hour: error messages, thread caps, build facts.
@Suite("Usability: errors, threads, build")
struct UsabilityTests {
    /// `localizedDescription` (what `print(error.localizedDescription)` and most
    /// logging show) names the argument, not Foundation's generic sentence.
    @Test func errorsAreLocalized() {
        do {
            _ = try wingLoss(predictions: [1, 2, 3], targets: [1, 2])
            Issue.record("a count mismatch must throw")
        } catch {
            #expect(error.localizedDescription == "\(error)")
            #expect(error.localizedDescription.contains("targets"))
            #expect(!error.localizedDescription.contains("could not be completed"))
        }
        let e = LossKitError.invalidParameter(argument: "margin", value: "-1.0", reason: "must be finite and >= 0")
        #expect((e as Error).localizedDescription == "margin = -1.0: must be finite and >= 0")
    }

    /// A `threads:` above the online core count starts no more threads than there are cores.
    @Test func threadsCappedAtOnlineCores() throws {
        let cores = losskit_cpu_count()
        #expect(losskit_max_threads(4096) == cores)
        #expect(losskit_max_threads(cores + 1) == cores)
        #expect(losskit_max_threads(0) == cores)
        #expect(losskit_max_threads(-5) == cores)
        #expect(losskit_max_threads(1) == 1)
        #expect(losskit_max_threads(cores) == cores)
        // and the result is the same bits as one thread (it would be at any count)
        var rng = SystemRandomNumberGenerator()
        let p = (0..<300_000).map { _ in Float.random(in: -20...20, using: &rng) }
        let t = (0..<300_000).map { _ in Float.random(in: -20...20, using: &rng) }
        let many = try wingLoss(predictions: p, targets: t, execution: Execution(threads: 4096))
        let one = try wingLoss(predictions: p, targets: t, execution: Execution(threads: 1))
        #expect(many.value.bitPattern == one.value.bitPattern)
        #expect(many.gradient == one.gradient)
    }

    /// The flag `make bench` reads to refuse timing a debug build is the compiler's own.
    @Test func optimizedBuildFlag() {
        #if DEBUG
        // `swift build` (debug) compiles the C target at -O0; `make test-sanitized` and CI run debug too
        #expect(losskit_optimized_build() == 0)
        #else
        #expect(losskit_optimized_build() == 1)
        #endif
    }
}
