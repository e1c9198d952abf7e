import CLossKit
import LossKit
import Testing
import _TestSupport

@Suite("Landmark evaluation: NME, AUC, failure rate, CED")
struct LandmarkEvalTests {
    static func normalization(_ g: GoldenCase) -> LandmarkNormalization {
        let l = Int(g.number("left")!), r = Int(g.number("right")!), p = Int(g.number("points")!)
        switch g.string("norm")! {
        case "inter-ocular": return .interOcular(left: l, right: r)
        case "inter-pupil": return .interPupil(left: l, right: r, points: p)
        case "bbox": return .boundingBoxDiagonal
        default: return .boundingBoxArea
        }
    }

    @Test("vs mmpose keypoint_nme semantics, both backends")
    func golden() throws {
        for g in try Golden.cases("landmark_eval") {
            let pred = g.input("pred"), target = g.input("target")
            for exec in [Execution.portable, .default] {
                let r = try evaluateLandmarks(predictions: pred.floats, targets: target.floats, landmarks: target.shape[1],
                                              normalization: Self.normalization(g), threshold: g.number("threshold")!,
                                              execution: exec)
                for (i, v) in g.output("nme").data.enumerated() {
                    #expect(isClose(r.perSample[i], v, rtol: 1e-12, atol: 0), "\(g) nme[\(i)]")
                }
                #expect(isClose(r.meanNME, g.output("mean").scalar, rtol: 1e-12, atol: 0))
                #expect(isClose(r.auc, g.output("auc").scalar, rtol: 1e-12, atol: 1e-15), "\(g) auc")
                #expect(isClose(r.failureRate, g.output("failure").scalar, rtol: 0, atol: 1e-15), "\(g) fr")
            }
        }
    }

    @Test("AUC is mean(max(0, t - NME)) / t; failures strictly above t; CED shares")
    func summaryAndCED() throws {
        // one landmark, inter-ocular over landmarks 0 and 1 of the target (distance 10)
        let target: [Float] = [0, 0, 10, 0, /* sample 2 */ 0, 0, 10, 0, /* sample 3 */ 0, 0, 10, 0]
        let pred: [Float] = [0, 0, 10, 0, /* NME 0.05 */ 1, 0, 10, 0, /* NME 0.15 */ 3, 0, 10, 0]
        for exec in [Execution.portable, .default] {
            let r = try evaluateLandmarks(predictions: pred, targets: target, landmarks: 2,
                                          normalization: .interOcular(left: 0, right: 1), threshold: 0.1, execution: exec)
            #expect(r.perSample == [0, 0.05, 0.15])
            #expect(isClose(r.auc, (0.1 + 0.05 + 0) / 3 / 0.1, rtol: 1e-15, atol: 0))
            #expect(r.failureRate == 1.0 / 3)
            let ced = try cumulativeErrorDistribution(r.perSample, threshold: 0.2, points: 5, execution: exec)
            let expectedThresholds = [0, 0.05, 0.1, 0.15, 0.2]
            #expect(zip(ced.thresholds, expectedThresholds).allSatisfy { isClose($0, $1, rtol: 1e-15, atol: 0) })
            let third = 1.0 / 3, twoThirds = 2.0 / 3
            let shares: [Double] = [third, twoThirds, twoThirds, 1, 1]
            #expect(ced.shares == shares)
        }
    }

    @Test("zero normalizer: infinite NME (a failure); NaN: NaN mean, a failure")
    func degenerate() throws {
        let target: [Float] = [1, 1, 1, 1, /* */ 0, 0, .nan, 0]
        let pred: [Float] = [1, 2, 1, 1, /* */ 0, 0, 0, 0]
        for exec in [Execution.portable, .default] {
            let r = try evaluateLandmarks(predictions: pred, targets: target, landmarks: 2,
                                          normalization: .interOcular(left: 0, right: 1), execution: exec)
            #expect(r.perSample[0] == .infinity)
            #expect(r.perSample[1].isNaN && r.meanNME.isNaN)
            #expect(r.failureRate == 1 && r.auc == 0)
        }
    }

    @Test("bad shapes and parameters throw")
    func badInput() throws {
        let t = [Float](repeating: 1, count: 12)
        #expect(throws: LossKitError.self) {
            try evaluateLandmarks(predictions: t, targets: t + [1], landmarks: 3, normalization: .boundingBoxArea)
        }
        #expect(throws: LossKitError.self) {
            try evaluateLandmarks(predictions: t, targets: t, landmarks: 5, normalization: .boundingBoxArea)
        }
        #expect(throws: LossKitError.self) {
            try evaluateLandmarks(predictions: t, targets: t, landmarks: 3, normalization: .interOcular(left: 0, right: 3))
        }
        #expect(throws: LossKitError.self) {
            try evaluateLandmarks(predictions: t, targets: t, landmarks: 3, normalization: .interPupil(left: 0, right: 2, points: 2))
        }
        #expect(throws: LossKitError.self) {
            try evaluateLandmarks(predictions: t, targets: t, landmarks: 3, normalization: .boundingBoxArea, threshold: 0)
        }
        #expect(throws: LossKitError.self) { try cumulativeErrorDistribution([0.1], threshold: 0.1, points: 1) }
        var out = [Double](repeating: 0, count: 2)
        #expect(losskit_landmark_nme(t, t, 2, 3, LOSSKIT_NORM_INTER_OCULAR, 0, 3, 1, &out) == -7)
        #expect(losskit_landmark_summary(out, 2, -1, nil, nil, nil) == -3)
    }
}
