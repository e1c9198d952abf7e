import LossKit
import Testing
import _TestSupport

@Suite("Cross-batch memory (XBM)")
struct CrossBatchMemoryTests {
    static let d = 6

    /// `count` batches of `size` rows over `identities` labels, each row distinct.
    static func batches(_ count: Int, size: Int, identities: Int = 5, seed: UInt64 = 4) -> [([Float], [Int])] {
        var rng = SeededRandom(seed: seed)
        return (0..<count).map { _ in
            let labels = (0..<size).map { _ in Int(rng.next() % UInt64(identities)) }
            return (clusteredRows(labels, d: d, rng: &rng), labels)
        }
    }

    static func triHardStep(_ xbm: CrossBatchMemory, _ batch: ([Float], [Int]), execution: Execution = .default,
                            margin: TripletMargin = .hinge(0.3)) throws -> CrossBatchStep {
        try xbm.step(features: batch.0, labels: batch.1) { references in
            try triHardLoss(queries: batch.0, labels: batch.1, references: references, dimension: d, margin: margin,
                            execution: execution)
        }
    }

    @Test("an empty memory's step is the batch TriHard: loss and gradient", arguments: Backend.allCases)
    func emptyMemoryIsTheBatch(backend: Backend) throws {
        let execution = Execution(backend: backend)
        let batch = Self.batches(1, size: 12)[0]
        let xbm = try CrossBatchMemory(capacity: 32, dimension: Self.d)
        let step = try Self.triHardStep(xbm, batch, execution: execution)
        #expect(step.memoryCount == 0)
        let direct = try triHardLoss(queries: batch.0, labels: batch.1, references: .batch(batch.0, labels: batch.1),
                                     dimension: Self.d, execution: execution)
        #expect(step.result == direct && step.value == direct.value)
        #expect(step.gradient! == zip(direct.queryGradient!, direct.referenceGradient!).map { $0 + $1 })
        let plain = try triHardLoss(features: batch.0, labels: batch.1, dimension: Self.d, execution: execution)
        #expect(isClose(Double(step.value), Double(plain.value), rtol: 1e-5, atol: 1e-6))
        let m = firstMismatch(step.gradient!, plain.gradients![0], rtol: 1e-4, atol: 1e-6)
        #expect(m == nil, "\(m ?? "")")
        #expect(xbm.count == 12 && xbm.stepIndex == 1)
    }

    @Test("a sequence of batches equals reference-set calls built by hand: losses and gradients",
          arguments: [(Backend.c, false), (.portable, false), (.c, true), (.portable, true)])
    func sequence(backend: Backend, detach: Bool) throws {
        let execution = Execution(backend: backend)
        let capacity = 17, size = 7
        let xbm = try CrossBatchMemory(capacity: capacity, dimension: Self.d, detachBatchReferences: detach)
        var seenFeatures: [Float] = [], seenLabels: [Int] = []
        for (step, batch) in Self.batches(6, size: size).enumerated() {
            // by hand: the last `capacity` rows seen before this batch, oldest first, then the batch, marked
            let held = min(seenLabels.count, capacity)
            let memoryFeatures = Array(seenFeatures.suffix(held * Self.d)), memoryLabels = Array(seenLabels.suffix(held))
            let references = ReferenceSet(features: memoryFeatures + batch.0, labels: memoryLabels + batch.1,
                                          queriesAt: held, queryCount: size)
            let expected = try triHardLoss(queries: batch.0, labels: batch.1, references: references, dimension: Self.d,
                                           margin: .soft(0.1), execution: execution)
            var gradient = expected.queryGradient!
            if !detach { for k in gradient.indices { gradient[k] += expected.referenceGradient![held * Self.d + k] } }
            #expect(xbm.memory == ReferenceSet(features: memoryFeatures, labels: memoryLabels), "step \(step)")
            let got = try Self.triHardStep(xbm, batch, execution: execution, margin: .soft(0.1))
            #expect(got.memoryCount == held, "step \(step)")
            #expect(got.value == expected.value && got.result == expected, "step \(step)")
            #expect(got.gradient! == gradient, "step \(step)")
            seenFeatures += batch.0
            seenLabels += batch.1
            #expect(xbm.stepIndex == step + 1 && xbm.count == min(seenLabels.count, capacity))
        }
    }

    @Test("ring wrap-around: the memory keeps the last rows, oldest first")
    func wrapAround() throws {
        let xbm = try CrossBatchMemory(capacity: 5, dimension: 1)
        var all: [Float] = []
        for s in 0..<4 {
            let rows: [Float] = (0..<3).map { Float(s * 3 + $0) }
            _ = try xbm.step(features: rows, labels: rows.map { Int($0) % 2 }) { references in
                ReferenceLossResult(value: Float(references.labels.count))
            }
            all += rows
            let expected = Array(all.suffix(5))
            #expect(xbm.memory.features == expected, "step \(s): \(xbm.memory.features)")
            #expect(xbm.memory.labels == expected.map { Int($0) % 2 } && xbm.memory.queryIndex == nil)
            #expect(xbm.count == min(all.count, 5))
        }
        // a batch larger than the capacity: all of it are references, its last 5 rows are kept
        let big: [Float] = (100..<108).map(Float.init)
        let step = try xbm.step(features: big, labels: [Int](repeating: 0, count: 8)) { references in
            #expect(references.features == Array(all.suffix(5)) + big)
            #expect(references.queryIndex == [-1, -1, -1, -1, -1] + Array(0..<8))
            return ReferenceLossResult(value: 0)
        }
        #expect(step.memoryCount == 5 && step.gradient == nil)
        #expect(xbm.memory.features == Array(big.suffix(5)) && xbm.count == 5)
        xbm.reset()
        #expect(xbm.count == 0 && xbm.stepIndex == 0 && xbm.memory.features.isEmpty)
    }

    @Test("warm-up: steps before startStep use the batch alone, whole gradient, and enqueue nothing")
    func warmUp() throws {
        let batches = Self.batches(4, size: 8)
        for detach in [false, true] {
            let xbm = try CrossBatchMemory(capacity: 100, dimension: Self.d, startStep: 2, detachBatchReferences: detach)
            for s in 0..<2 {
                let step = try Self.triHardStep(xbm, batches[s])
                let batch = try triHardLoss(queries: batches[s].0, labels: batches[s].1,
                                            references: .batch(batches[s].0, labels: batches[s].1), dimension: Self.d)
                #expect(step.result == batch && step.memoryCount == 0)
                #expect(step.gradient! == zip(batch.queryGradient!, batch.referenceGradient!).map { $0 + $1 })
                #expect(xbm.count == 0 && xbm.stepIndex == s + 1)
            }
            let third = try Self.triHardStep(xbm, batches[2])
            #expect(third.memoryCount == 0 && xbm.count == 8, "the first memory step starts from an empty memory")
            let fourth = try Self.triHardStep(xbm, batches[3])
            #expect(fourth.memoryCount == 8 && xbm.count == 16)
            if detach { #expect(fourth.gradient! == fourth.result.queryGradient!) }
            else { #expect(fourth.gradient! != fourth.result.queryGradient!) }
            xbm.reset()
            let again = try Self.triHardStep(xbm, batches[3])
            #expect(again.memoryCount == 0 && xbm.count == 0, "reset restarts the warm-up")
        }
    }

    @Test("bad inputs throw, and a failed step changes nothing")
    func badInput() throws {
        #expect(throws: LossKitError.self) { try CrossBatchMemory(capacity: 0, dimension: 4) }
        #expect(throws: LossKitError.self) { try CrossBatchMemory(capacity: 4, dimension: 0) }
        #expect(throws: LossKitError.self) { try CrossBatchMemory(capacity: 4, dimension: 4, startStep: -1) }
        #expect(throws: LossKitError.self) { try CrossBatchMemory(capacity: Int.max / 2, dimension: 4) }
        let xbm = try CrossBatchMemory(capacity: 10, dimension: Self.d)
        let batch = Self.batches(2, size: 4)
        _ = try Self.triHardStep(xbm, batch[0])
        let before = xbm.memory
        func unchanged() { #expect(xbm.memory == before && xbm.stepIndex == 1 && xbm.count == 4) }
        #expect(throws: LossKitError.self) {
            try xbm.step(features: batch[1].0 + [1], labels: batch[1].1) { _ in ReferenceLossResult(value: 0) }
        }
        unchanged()
        #expect(throws: LossKitError.self) {
            try xbm.step(features: batch[1].0, labels: [0]) { _ in ReferenceLossResult(value: 0) }
        }
        unchanged()
        // a closure whose query gradient is not the batch's shape, or whose reference gradient is not the references'
        #expect(throws: LossKitError.self) {
            try xbm.step(features: batch[1].0, labels: batch[1].1) { _ in ReferenceLossResult(value: 0, queryGradient: [0]) }
        }
        unchanged()
        #expect(throws: LossKitError.self) {
            try xbm.step(features: batch[1].0, labels: batch[1].1) { _ in
                ReferenceLossResult(value: 0, queryGradient: [Float](repeating: 0, count: 4 * Self.d), referenceGradient: [1])
            }
        }
        unchanged()
        // the closure's own error (here: labels that do not match its queries)
        #expect(throws: LossKitError.self) {
            try xbm.step(features: batch[1].0, labels: batch[1].1) { references in
                try triHardLoss(queries: batch[1].0, labels: [0], references: references, dimension: Self.d)
            }
        }
        unchanged()
    }
}
