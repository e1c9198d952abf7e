import ArgumentParser
import Foundation
import LossKit

/// `losskit-eval landmarks`: NME, AUC and failure rate of predicted landmarks from .npy files.
struct LandmarksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "landmarks",
        abstract: "Landmark NME, AUC and failure rate at a threshold (300W: 0.08, WFLW: 0.1), and the CED curve.",
        discussion: """
        Predictions and targets are float32 [N, K, 2] .npy files. --eyes L,R names the landmarks of \
        inter-ocular normalization (300W: 36,45; WFLW: 60,72), or the first landmarks of each eye for \
        inter-pupil (300W: 36,42 with --eye-points 6; WFLW: 96,97 with --eye-points 1).
        """
    )

    @Option(help: "Predicted landmarks, float32 [N, K, 2].") var pred: String
    @Option(help: "Target landmarks, float32 [N, K, 2].") var target: String
    @Option(help: "L,R: landmark indices (0-based) of the normalization.") var eyes: String?
    @Option(help: "inter-ocular, inter-pupil, bbox (diagonal) or area (sqrt(w h)).") var norm: String = "inter-ocular"
    @Option(name: .customLong("eye-points"), help: "Landmarks per eye for inter-pupil (their mean is the centre).")
    var eyePoints: Int = 1
    @Option(help: "AUC / failure threshold.") var threshold: Double = 0.1
    @Option(help: "Write the CED curve to this SVG file.") var ced: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let p = try readNumpy(pred), t = try readNumpy(target)
        let pv = try p.floats(rank: 3, name: pred), tv = try t.floats(rank: 3, name: target)
        guard t.shape[2] == 2, t.shape[1] >= 1 else {
            throw ValidationError("\(target) has shape \(t.shape) (expected [N, K, 2])")
        }
        guard p.shape == t.shape else {
            throw ValidationError("\(pred) has shape \(p.shape) but \(target) has \(t.shape)")
        }
        let normalization = try LandmarksCommand.normalization(norm, eyes: eyes, eyePoints: eyePoints)
        let result = try evaluateLandmarks(predictions: pv, targets: tv, landmarks: t.shape[1],
                                           normalization: normalization, threshold: threshold)
        if let ced {
            let curve = try cumulativeErrorDistribution(result.perSample, threshold: threshold)
            let svg = cedSVG(thresholds: curve.thresholds, shares: curve.shares, auc: result.auc)
            do { try svg.write(toFile: ced, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("cannot write \(ced): \(error.localizedDescription)")
            }
        }
        if json {
            print("{\"NME\": \(jsonNumber(result.meanNME)), \"AUC\": \(jsonNumber(result.auc)), "
                  + "\"FR\": \(jsonNumber(result.failureRate)), \"threshold\": \(threshold), \"samples\": \(result.perSample.count)}")
        } else {
            print("metric     value")
            print("---------  --------")
            print(String(format: "NME        %.5f", result.meanNME))
            print(String(format: "AUC@%-5g  %.5f", threshold, result.auc))
            print(String(format: "FR@%-6g  %.5f", threshold, result.failureRate))
            print("samples    \(result.perSample.count)")
        }
    }

    static func normalization(_ name: String, eyes: String?, eyePoints: Int) throws -> LandmarkNormalization {
        func pair() throws -> (Int, Int) {
            guard let eyes else { throw ValidationError("--norm \(name) needs --eyes L,R") }
            let parts = eyes.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, let l = parts[0], let r = parts[1] else {
                throw ValidationError("--eyes must be two indices L,R, not \(eyes)")
            }
            return (l, r)
        }
        switch name {
        case "inter-ocular": let (l, r) = try pair(); return .interOcular(left: l, right: r)
        case "inter-pupil": let (l, r) = try pair(); return .interPupil(left: l, right: r, points: eyePoints)
        case "bbox": return .boundingBoxDiagonal
        case "area": return .boundingBoxArea
        default: throw ValidationError("--norm must be inter-ocular, inter-pupil, bbox or area, not \(name)")
        }
    }
}

/// A minimal SVG of a CED curve (fraction of samples against the NME threshold).
func cedSVG(thresholds: [Double], shares: [Double], auc: Double) -> String {
    let w = 480.0, h = 360.0, left = 60.0, bottom = 50.0, top = 20.0, right = 20.0
    let maxT = thresholds.last ?? 1
    func x(_ t: Double) -> Double { left + (w - left - right) * t / maxT }
    func y(_ s: Double) -> Double { h - bottom - (h - bottom - top) * (s.isNaN ? 0 : s) }
    let points = zip(thresholds, shares).map { String(format: "%.2f,%.2f", x($0), y($1)) }.joined(separator: " ")
    var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
    svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    svg += String(format: "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left, h - bottom, w - right, h - bottom)
    svg += String(format: "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left, top, left, h - bottom)
    for i in 0...4 {
        let s = Double(i) / 4, t = maxT * Double(i) / 4
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", left - 6, y(s) + 4, s)
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n", x(t), h - bottom + 18, t)
    }
    svg += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"\(points)\"/>\n"
    svg += String(format: "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">NME</text>\n", (left + w - right) / 2, h - 12)
    svg += String(format: "<text x=\"16\" y=\"%.0f\" transform=\"rotate(-90 16 %.0f)\" text-anchor=\"middle\">fraction of samples</text>\n", (top + h - bottom) / 2, (top + h - bottom) / 2)
    svg += String(format: "<text x=\"%.0f\" y=\"%.0f\">AUC@%.3g = %.4f</text>\n", left + 10, top + 14, maxT, auc)
    svg += "</svg>\n"
    return svg
}
