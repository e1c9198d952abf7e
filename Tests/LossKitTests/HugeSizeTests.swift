import LossKit
import Testing

/// Sizes whose products overflow `Int` (or exceed any buffer) through the
/// public functions whose sizes are parameters rather than array counts: each
/// throws a `LossKitError`, on both backends, and never traps. (The distance
/// and metric losses have the same sweep in their own suite, MultiBox in the
/// detection suite.)
@Suite("Huge sizes: typed errors, never a trap")
struct HugeSizeTests {
    static let huge = [Int.max, Int.max / 2 + 1, 1 << 62, 1 << 33]

    /// An overflowing labels x classes product is the checked-size error that
    /// names the logits, the same one every other size product gives.
    @Test func softmaxOverflowIsInvalidShape() {
        do {
            _ = try softmaxCrossEntropy(logits: [1, 2, 3, 4], labels: [0, 1], classes: Int.max / 2 + 1)
            Issue.record("no error")
        } catch let LossKitError.invalidShape(argument, shape, _) {
            #expect(argument == "logits")
            #expect(shape == [2, Int.max / 2 + 1])
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test(arguments: [Backend.c, .portable])
    func classificationSizes(backend: Backend) {
        let e = Execution(backend: backend, threads: 1)
        let logits: [Float] = [1, 2, 3, 4]
        for size in Self.huge {
            #expect(throws: LossKitError.self) {
                try softmaxCrossEntropy(logits: logits, labels: [0, 1], classes: size, execution: e)
            }
            #expect(throws: LossKitError.self) {
                try softmaxCrossEntropy(logits: logits, targetProbabilities: logits, classes: size, execution: e)
            }
            #expect(throws: LossKitError.self) {
                try softmaxFocalLoss(logits: logits, labels: [0, 1], classes: size, execution: e)
            }
            #expect(throws: LossKitError.self) {
                try identityLoss(logits: logits, identities: [0, 1], identityCount: size, execution: e)
            }
        }
    }

    @Test(arguments: [Backend.c, .portable])
    func evaluationSizes(backend: Backend) {
        let e = Execution(backend: backend, threads: 1)
        let features: [Float] = [1, 2, 3, 4]
        let labels = ReIDLabels(queryIDs: [1, 2], queryCameras: [0, 0], galleryIDs: [1, 2], galleryCameras: [1, 1])
        for size in Self.huge {
            #expect(throws: LossKitError.self) {
                try evaluateReID(query: features, gallery: features, dimension: size, labels: labels, execution: e)
            }
            #expect(throws: LossKitError.self) {
                try kReciprocalRerank(query: features, gallery: features, dimension: size, execution: e)
            }
            #expect(throws: LossKitError.self) {
                try evaluateLandmarks(predictions: features, targets: features, landmarks: size,
                                      normalization: .boundingBoxDiagonal, execution: e)
            }
            #expect(throws: LossKitError.self) {
                try cumulativeErrorDistribution([0.1, 0.2], threshold: 0.1, points: size)
            }
        }
    }
}
