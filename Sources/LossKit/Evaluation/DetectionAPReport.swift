import Foundation

// What `losskit-eval coco` and `losskit-eval voc` print, kept in the library so it is tested.

extension COCOEvaluation {
    /// One JSON object: `{"AP": ..., "AP50": ..., ..., "ARl": ...}` in ``statNames`` order
    /// (-1 where pycocotools gives -1).
    public var summaryJSON: String {
        "{" + zip(Self.statNames, stats).map { "\"\($0)\": \(jsonNumber($1))" }.joined(separator: ", ") + "}"
    }

    /// pycocotools' summarize() lines.
    public var summaryTable: String {
        let rows: [(String, String, String, String)] = [
            ("Average Precision", "(AP)", "0.50:0.95", "all"), ("Average Precision", "(AP)", "0.50", "all"),
            ("Average Precision", "(AP)", "0.75", "all"), ("Average Precision", "(AP)", "0.50:0.95", "small"),
            ("Average Precision", "(AP)", "0.50:0.95", "medium"), ("Average Precision", "(AP)", "0.50:0.95", "large"),
            ("Average Recall", "(AR)", "0.50:0.95", "all"), ("Average Recall", "(AR)", "0.50:0.95", "all"),
            ("Average Recall", "(AR)", "0.50:0.95", "all"), ("Average Recall", "(AR)", "0.50:0.95", "small"),
            ("Average Recall", "(AR)", "0.50:0.95", "medium"), ("Average Recall", "(AR)", "0.50:0.95", "large"),
        ]
        let maxDets = [100, 100, 100, 100, 100, 100, 1, 10, 100, 100, 100, 100]
        return rows.enumerated().map { i, r in
            let iou = r.2.padding(toLength: 9, withPad: " ", startingAt: 0)
            let area = r.3.padding(toLength: 6, withPad: " ", startingAt: 0)
            let name = Self.statNames[i].padding(toLength: 5, withPad: " ", startingAt: 0)
            return " \(name) \(r.0.padding(toLength: 17, withPad: " ", startingAt: 0)) \(r.1) @[ IoU=\(iou) | area=\(area) | maxDets=\(String(maxDets[i]).leftPadded(3)) ] = \(String(format: "%.3f", stats[i]))"
        }.joined(separator: "\n")
    }
}

extension VOCEvaluation {
    /// One JSON object: `{"mAP": ..., "AP": {"<category name>": ..., ...}}` (null for NaN;
    /// -1 for a category without non-difficult ground truth).
    public var summaryJSON: String {
        let per = zip(categories, averagePrecisions).map { "\(jsonString($0.name)): \(jsonNumber($1))" }
        return "{\"mAP\": \(jsonNumber(mAP)), \"AP\": {" + per.joined(separator: ", ") + "}}"
    }

    /// A two-column table: each category's AP, then the mean.
    public var summaryTable: String {
        let width = max(8, categories.map(\.name.count).max() ?? 0)
        var lines = categories.enumerated().map { k, c in
            c.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + (averagePrecisions[k] == -1 ? "   -  (no ground truth)" : String(format: "%.4f", averagePrecisions[k]))
        }
        lines.append(String(repeating: "-", count: width + 8))
        lines.append("mAP".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(format: "%.4f", mAP))
        return lines.joined(separator: "\n")
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

/// A JSON number with every digit Double round-trips (`null` for NaN / infinity).
private func jsonNumber(_ v: Double) -> String { v.isFinite ? "\(v)" : "null" }

private func jsonString(_ s: String) -> String {
    let data = try? JSONSerialization.data(withJSONObject: [s], options: [])
    let array = data.flatMap { String(data: $0, encoding: .utf8) } ?? "[\"?\"]"
    return String(array.dropFirst().dropLast())
}
