import CLossKit
import Foundation
import LossKit
import Testing
import _TestSupport

/// Detection AP against pycocotools and ssd.pytorch's voc_eval (fixtures written by
/// Benchmarks/peers/make_coco_fixture.py), C against the portable twin, threads, bad input.
@Suite("Detection AP: COCO and VOC evaluation")
struct DetectionAPTests {
    struct Case {
        var name: String
        var gt: COCOGroundTruth, dt: COCODetections
        var cocoStats: [Double]
        var cocoStatsPycocotoolsAsIs: [Double]?
        var voc: [String: (map: Double?, ap: [String: Double])]
    }

    static func fixtureCases() throws -> [Case] {
        let url = Golden.directory.appendingPathComponent("detection_ap.json")
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return try (root["cases"] as! [[String: Any]]).map { c in
            let gt = try COCOGroundTruth(jsonData: JSONSerialization.data(withJSONObject: c["gt"]!), source: "gt")
            let dt = try COCODetections(jsonData: JSONSerialization.data(withJSONObject: c["dt"]!), source: "dt")
            var voc: [String: (map: Double?, ap: [String: Double])] = [:]
            for key in ["voc07", "voc2010", "voc2010_plus_one"] {
                let v = c[key] as! [String: Any]
                voc[key] = (v["map"] as? Double, (v["ap"] as! [String: Any]).mapValues { ($0 as! NSNumber).doubleValue })
            }
            return Case(name: c["name"] as! String, gt: gt, dt: dt,
                        cocoStats: (c["coco_stats"] as! [NSNumber]).map(\.doubleValue),
                        cocoStatsPycocotoolsAsIs: (c["coco_stats_pycocotools_as_is"] as? [NSNumber])?.map(\.doubleValue), voc: voc)
        }
    }

    /// Random COCO-style data: integer boxes (IoUs on thresholds), scores with one decimal
    /// (ties), crowds, empty images, a category without ground truth, cells with > 100
    /// detections, areas on the range borders, difficult boxes.
    static func randomData(seed: UInt64, images: Int = 40, categories: Int = 5) -> (COCOGroundTruth, COCODetections) {
        var rng = SeededRandom(seed: seed)
        var anns: [COCOGroundTruth.Annotation] = [], dets: [COCODetections.Detection] = []
        let borders: [Double] = [32, 96]
        for image in 0..<images {
            let ng = image % 7 == 0 ? 0 : Int.random(in: 1...6, using: &rng)
            var truths: [COCOGroundTruth.Annotation] = []
            for _ in 0..<ng {
                let side = Bool.random(using: &rng) ? borders.randomElement(using: &rng)! : Double(Int.random(in: 4...140, using: &rng))
                let w = side, h = Bool.random(using: &rng) ? side : Double(Int.random(in: 4...140, using: &rng))
                let b = COCOBox(x: Double(Int.random(in: 0...300, using: &rng)), y: Double(Int.random(in: 0...300, using: &rng)), width: w, height: h)
                truths.append(.init(id: anns.count + truths.count + 1, imageId: 100 - image, categoryId: Int.random(in: 0..<(categories - 1), using: &rng),
                                    bbox: b, area: Bool.random(using: &rng) ? w * h : (w * h * 0.7).rounded(),
                                    isCrowd: Int.random(in: 0..<10, using: &rng) == 0, isDifficult: Int.random(in: 0..<8, using: &rng) == 0))
            }
            anns += truths
            let nd = image % 11 == 3 ? 130 : Int.random(in: 0...12, using: &rng)
            for _ in 0..<nd {
                var b: COCOBox, cat: Int
                if let g = truths.randomElement(using: &rng), Bool.random(using: &rng) {
                    b = COCOBox(x: g.bbox.x + Double(Int.random(in: -6...6, using: &rng)), y: g.bbox.y + Double(Int.random(in: -6...6, using: &rng)),
                                width: max(0, g.bbox.width + Double(Int.random(in: -8...8, using: &rng))),
                                height: max(0, g.bbox.height + Double(Int.random(in: -8...8, using: &rng))))
                    cat = Int.random(in: 0..<6, using: &rng) == 0 ? Int.random(in: 0..<categories, using: &rng) : g.categoryId
                } else {
                    b = COCOBox(x: Double(Int.random(in: 0...300, using: &rng)), y: Double(Int.random(in: 0...300, using: &rng)),
                                width: Double(Int.random(in: 1...150, using: &rng)), height: Double(Int.random(in: 1...150, using: &rng)))
                    cat = Int.random(in: 0..<categories, using: &rng)
                }
                dets.append(.init(imageId: 100 - image, categoryId: cat, bbox: b, score: Double(Int.random(in: 0...10, using: &rng)) / 10))
            }
        }
        let cats = (0..<categories).map { COCOGroundTruth.Category(id: $0, name: "c\($0)") }
        return (COCOGroundTruth(imageIds: (0..<images).map { 100 - $0 }, categories: cats, annotations: anns), COCODetections(dets))
    }

    @Test("COCO: the 12 numbers equal pycocotools' (C at 1 and 2 threads, portable)")
    func cocoVsPycocotools() throws {
        for c in try Self.fixtureCases() {
            for exec in [Execution(threads: 1), Execution(threads: 2), .portable] {
                let r = try cocoEvaluate(groundTruth: c.gt, detections: c.dt, execution: exec)
                for (i, name) in COCOEvaluation.statNames.enumerated() {
                    #expect(abs(r.stats[i] - c.cocoStats[i]) <= 1e-9, "\(c.name) \(exec.backend) \(name): \(r.stats[i]) vs \(c.cocoStats[i])")
                }
            }
        }
    }

    @Test("COCO: a ground truth with id 0 counts (pycocotools never matches it)")
    func groundTruthIdZero() throws {
        let c = try #require(try Self.fixtureCases().first { $0.cocoStatsPycocotoolsAsIs != nil })
        #expect(c.gt.annotations.contains { $0.id == 0 })
        let r = try cocoEvaluate(groundTruth: c.gt, detections: c.dt)
        #expect(abs(r.ap - c.cocoStats[0]) <= 1e-9)
        #expect(abs(r.ap - c.cocoStatsPycocotoolsAsIs![0]) > 1e-4, "the fixture must show pycocotools' id-0 bug")
    }

    @Test("VOC: per-class AP and mAP equal voc_eval's (07, 2010, 2010 with +1)")
    func vocVsPeer() throws {
        let variants: [(String, VOCMetric, Bool)] = [("voc07", .voc07, false), ("voc2010", .voc2010, false), ("voc2010_plus_one", .voc2010, true)]
        for c in try Self.fixtureCases() {
            for (key, metric, plusOne) in variants {
                let expected = c.voc[key]!
                for exec in [Execution(threads: 1), Execution(threads: 2), .portable] {
                    let r = try vocEvaluate(groundTruth: c.gt, detections: c.dt, metric: metric, plusOne: plusOne, execution: exec)
                    #expect(r.categories.count == expected.ap.count)
                    for (k, cat) in r.categories.enumerated() {
                        let e = try #require(expected.ap[cat.name])
                        #expect(abs(r.averagePrecisions[k] - e) <= 1e-12, "\(c.name) \(key) \(cat.name): \(r.averagePrecisions[k]) vs \(e)")
                    }
                    #expect(abs(r.mAP - expected.map!) <= 1e-12, "\(c.name) \(key) mAP \(r.mAP) vs \(expected.map!)")
                }
            }
        }
    }

    @Test("C equals the portable twin on random data (precision, recall, stats, VOC AP)")
    func cVersusPortable() throws {
        for seed in UInt64(1)...6 {
            let (gt, dt) = Self.randomData(seed: seed)
            let c = try cocoEvaluate(groundTruth: gt, detections: dt, execution: Execution(threads: 1))
            let p = try cocoEvaluate(groundTruth: gt, detections: dt, execution: .portable)
            #expect(c.precision == p.precision, "seed \(seed): precision")
            #expect(c.recall == p.recall, "seed \(seed): recall")
            #expect(zip(c.stats, p.stats).allSatisfy { abs($0 - $1) <= 1e-12 }, "seed \(seed): \(c.stats) vs \(p.stats)")
            #expect(c.stats.contains { $0 > 0 }, "seed \(seed): a degenerate case tests nothing")
            for metric in VOCMetric.allCases {
                for plusOne in [false, true] {
                    let vc = try vocEvaluate(groundTruth: gt, detections: dt, metric: metric, plusOne: plusOne, execution: Execution(threads: 1))
                    let vp = try vocEvaluate(groundTruth: gt, detections: dt, metric: metric, plusOne: plusOne, execution: .portable)
                    #expect(vc.averagePrecisions == vp.averagePrecisions, "seed \(seed) \(metric) plusOne \(plusOne)")
                }
            }
        }
    }

    @Test("bitwise identical at any thread count")
    func threadDeterminism() throws {
        let (gt, dt) = Self.randomData(seed: 42, images: 120, categories: 9)
        let one = try cocoEvaluate(groundTruth: gt, detections: dt, execution: Execution(threads: 1))
        let voc1 = try vocEvaluate(groundTruth: gt, detections: dt, execution: Execution(threads: 1))
        for threads in [2, 3, nil] as [Int?] {
            let r = try cocoEvaluate(groundTruth: gt, detections: dt, execution: Execution(threads: threads))
            #expect(r == one, "threads \(String(describing: threads))")
            let v = try vocEvaluate(groundTruth: gt, detections: dt, execution: Execution(threads: threads))
            #expect(v.averagePrecisions == voc1.averagePrecisions && v.mAP.bitPattern == voc1.mAP.bitPattern)
            let p = try cocoEvaluate(groundTruth: gt, detections: dt, execution: Execution(backend: .portable, threads: threads))
            #expect(p.precision == one.precision)
        }
    }

    @Test("a category with ground truth and no detection has VOC AP 0; without ground truth -1, left out of the mAP")
    func vocEmptyCategories() throws {
        let gt = COCOGroundTruth(imageIds: [1], categories: [.init(id: 1, name: "a"), .init(id: 2, name: "b"), .init(id: 3, name: "c")],
                                 annotations: [.init(id: 1, imageId: 1, categoryId: 1, bbox: COCOBox(x: 0, y: 0, width: 10, height: 10), area: 100),
                                               .init(id: 2, imageId: 1, categoryId: 2, bbox: COCOBox(x: 0, y: 0, width: 10, height: 10), area: 100)])
        let dt = COCODetections([.init(imageId: 1, categoryId: 1, bbox: COCOBox(x: 1, y: 0, width: 10, height: 10), score: 0.9)])
        for exec in [Execution.default, .portable] {
            let r = try vocEvaluate(groundTruth: gt, detections: dt, execution: exec)
            #expect(r.averagePrecisions == [1, 0, -1])
            #expect(r.mAP == 0.5)
        }
    }

    // MARK: - Bad input

    static func expectError(_ argumentPrefix: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("no error (expected one about \(argumentPrefix))", sourceLocation: sourceLocation)
        } catch let error as LossKitError {
            #expect(error.description.contains(argumentPrefix), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("not a LossKitError: \(error)", sourceLocation: sourceLocation)
        }
    }

    static let goodGT = #"{"images": [{"id": 1}, {"id": 2}], "categories": [{"id": 5, "name": "cat"}], "annotations": [{"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}]}"#

    @Test("bad files: malformed JSON, missing fields, wrong shapes, unknown ids, negative sizes")
    func badFiles() throws {
        let gtData = Data(Self.goodGT.utf8)
        let gt = try COCOGroundTruth(jsonData: gtData)
        Self.expectError("ground truth") { _ = try COCOGroundTruth(jsonData: Data("{\"images\": [".utf8)) }
        Self.expectError("annotations[0].area") {
            _ = try COCOGroundTruth(jsonData: Data(Self.goodGT.replacingOccurrences(of: ", \"area\": 100", with: "").utf8))
        }
        Self.expectError("annotations[0].bbox") {
            _ = try COCOGroundTruth(jsonData: Data(Self.goodGT.replacingOccurrences(of: "[0, 0, 10, 10]", with: "[0, 0, 10]").utf8))
        }
        Self.expectError("iscrowd") {
            _ = try COCOGroundTruth(jsonData: Data(Self.goodGT.replacingOccurrences(of: "\"iscrowd\": 0", with: "\"iscrowd\": 7").utf8))
        }
        Self.expectError("detections") { _ = try COCODetections(jsonData: Data(#"{"image_id": 1}"#.utf8), source: "detections") }
        Self.expectError("[0].score") { _ = try COCODetections(jsonData: Data(#"[{"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1]}]"#.utf8)) }
        Self.expectError("/nonexistent/file.json") { _ = try COCOGroundTruth(contentsOf: URL(fileURLWithPath: "/nonexistent/file.json")) }

        func det(_ image: Int, _ cat: Int, _ w: Double = 5, score: Double = 0.5) -> COCODetections {
            COCODetections([.init(imageId: image, categoryId: cat, bbox: COCOBox(x: 0, y: 0, width: w, height: 5), score: score)])
        }
        for exec in [Execution.default, .portable] {
            Self.expectError("detections[0].image_id") { _ = try cocoEvaluate(groundTruth: gt, detections: det(3, 5), execution: exec) }
            Self.expectError("detections[0].category_id") { _ = try cocoEvaluate(groundTruth: gt, detections: det(1, 6), execution: exec) }
            Self.expectError("detections[0].bbox") { _ = try vocEvaluate(groundTruth: gt, detections: det(1, 5, -1), execution: exec) }
            Self.expectError("detections[0].score") { _ = try cocoEvaluate(groundTruth: gt, detections: det(1, 5, score: .nan), execution: exec) }
            var bad = gt
            bad.annotations[0].imageId = 9
            Self.expectError("annotations[0].image_id") { _ = try cocoEvaluate(groundTruth: bad, detections: det(1, 5), execution: exec) }
            bad = gt
            bad.annotations[0].categoryId = 1
            Self.expectError("annotations[0].category_id") { _ = try vocEvaluate(groundTruth: bad, detections: det(1, 5), execution: exec) }
            bad = gt
            bad.annotations[0].area = -1
            Self.expectError("annotations[0].area") { _ = try cocoEvaluate(groundTruth: bad, detections: det(1, 5), execution: exec) }
            bad = gt
            bad.annotations[0].bbox.height = -2
            Self.expectError("annotations[0].bbox") { _ = try cocoEvaluate(groundTruth: bad, detections: det(1, 5), execution: exec) }
        }
        Self.expectError("iouThreshold") { _ = try vocEvaluate(groundTruth: gt, detections: det(1, 5), iouThreshold: 1.5) }
        Self.expectError("threads") { _ = try cocoEvaluate(groundTruth: gt, detections: det(1, 5), execution: Execution(threads: 0)) }
    }

    @Test("file reader: escapes, unknown fields of every kind, number forms, trailing data")
    func readerEdgeCases() throws {
        let text = #"""
         { "info": {"year": 2017, "list": [1, [2, {"a": null}], true, false], "s": "x\"y"},
           "images": [ {"id": 3, "file_name": "a b.jpg"}, {"id": 1.0} ],
           "categories": [{"id": 2, "name": "caf\u00e9 \"q\"\n"}],
           "annotations": [{"segmentation": [[1, 2, 3]], "id": 9, "image_id": 3, "category_id": 2,
                            "bbox": [1e1, -0.5, 2.5E+1, 0], "area": 1.25e2, "iscrowd": true, "difficult": 0}] }
        """#
        let gt = try COCOGroundTruth(jsonData: Data(text.utf8))
        #expect(gt.imageIds == [3, 1])
        #expect(gt.categories == [.init(id: 2, name: "café \"q\"\n")])
        #expect(gt.annotations == [.init(id: 9, imageId: 3, categoryId: 2, bbox: COCOBox(x: 10, y: -0.5, width: 25, height: 0),
                                         area: 125, isCrowd: true, isDifficult: false)])
        // numbers read exactly as Python's json (correctly rounded)
        let dt = try COCODetections(jsonData: Data(#"[{"image_id": 3, "category_id": 2, "bbox": [0.1, 0.2, 0.30000000000000004, 5e-324], "score": 0.7}]"#.utf8))
        #expect(dt.detections[0].bbox == COCOBox(x: 0.1, y: 0.2, width: 0.30000000000000004, height: .leastNonzeroMagnitude))
        #expect(try COCODetections(jsonData: Data("  [ ]\n".utf8)).detections.isEmpty)
        Self.expectError("unexpected data after") { _ = try COCODetections(jsonData: Data("[] x".utf8)) }
        Self.expectError("[0].image_id") { _ = try COCODetections(jsonData: Data(#"[{"image_id": 1.5, "category_id": 2, "bbox": [0, 0, 1, 1], "score": 1}]"#.utf8)) }
        Self.expectError(".images") { _ = try COCOGroundTruth(jsonData: Data(#"{"categories": [], "annotations": []}"#.utf8)) }
        Self.expectError("unterminated string") { _ = try COCOGroundTruth(jsonData: Data(#"{"images": [{"id": 1, "x": "abc"#.utf8)) }
        Self.expectError(".categories[0].id") { _ = try COCOGroundTruth(jsonData: Data(#"{"images": [], "categories": [{"name": "a"}], "annotations": []}"#.utf8)) }
    }

    @Test("C entry points: a bad argument gives -k and writes nothing")
    func cArgumentChecks() {
        let box: [Double] = [0, 0, 10, 10], area: [Double] = [100], score: [Double] = [0.5]
        let zero: [Int64] = [0], big: [Int64] = [3]
        var stats = [Double](repeating: 7, count: 12)
        func run(gtImages: [Int64] = zero, dtCats: [Int64] = zero, dtBox: [Double] = box, gtNull: Bool = false, statsNull: Bool = false) -> Int32 {
            var g = losskit_eval_boxes(boxes: box.withUnsafeBufferPointer { $0.baseAddress }, scores: nil, areas: area.withUnsafeBufferPointer { $0.baseAddress },
                                       flags: nil, images: gtImages.withUnsafeBufferPointer { $0.baseAddress }, categories: zero.withUnsafeBufferPointer { $0.baseAddress }, n: 1)
            var d = losskit_eval_boxes(boxes: dtBox.withUnsafeBufferPointer { $0.baseAddress }, scores: score.withUnsafeBufferPointer { $0.baseAddress }, areas: nil,
                                       flags: nil, images: zero.withUnsafeBufferPointer { $0.baseAddress }, categories: dtCats.withUnsafeBufferPointer { $0.baseAddress }, n: 1)
            return withExtendedLifetime((box, area, score, zero, gtImages, dtCats, dtBox)) {
                stats.withUnsafeMutableBufferPointer { s in
                    gtNull ? losskit_coco_evaluate(nil, &d, 1, 1, s.baseAddress, nil, nil, 1)
                        : losskit_coco_evaluate(&g, &d, 1, 1, statsNull ? nil : s.baseAddress, nil, nil, 1)
                }
            }
        }
        #expect(run(gtNull: true) == -1)
        #expect(run(gtImages: big) == -1)
        #expect(run(dtCats: big) == -2)
        #expect(run(dtBox: [0, 0, -1, 10]) == -2)
        #expect(run(statsNull: true) == -5)
        #expect(stats.allSatisfy { $0 == 7 })
        #expect(run() == 0)
        #expect(abs(stats[1] - 1) <= 1e-12) // one detection on its ground truth: AP50 1 (tp / (tp + fp + eps))
    }

    // MARK: - What the command prints

    @Test("summary JSON and tables (what losskit-eval prints)")
    func reports() throws {
        let c = try #require(try Self.fixtureCases().first { $0.name == "only_small_ground_truth" })
        let r = try cocoEvaluate(groundTruth: c.gt, detections: c.dt)
        let json = try JSONSerialization.jsonObject(with: Data(r.summaryJSON.utf8)) as! [String: Double]
        #expect(Set(json.keys) == Set(COCOEvaluation.statNames))
        // (Foundation's JSON reader may round the last digit; Swift's Double(String) is exact)
        for (i, name) in COCOEvaluation.statNames.enumerated() { #expect(abs(json[name]! - r.stats[i]) <= 1e-15) }
        #expect(r.summaryJSON.contains("\"AP\": \(r.stats[0]),"))
        #expect(json["APm"] == -1)
        #expect(r.summaryTable.split(separator: "\n").count == 12)
        #expect(r.summaryTable.contains("area=medium | maxDets=100 ] = -1.000"))

        let v = try vocEvaluate(groundTruth: c.gt, detections: c.dt, metric: .voc07)
        let vj = try JSONSerialization.jsonObject(with: Data(v.summaryJSON.utf8)) as! [String: Any]
        #expect(abs((vj["mAP"] as! Double) - v.mAP) <= 1e-15)
        let ap = vj["AP"] as! [String: Double]
        for (k, cat) in v.categories.enumerated() { #expect(abs(ap[cat.name]! - v.averagePrecisions[k]) <= 1e-15) }
        #expect(v.summaryTable.contains("mAP"))
    }

    @Test("losskit-eval: JSON equals the library; a bad file exits non-zero with a message")
    func command() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let binary = root.appendingPathComponent(".build/debug/losskit-eval")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            Issue.record("build losskit-eval first (swift build --build-tests builds it): \(binary.path)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("losskit-eval-test-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let gtURL = dir.appendingPathComponent("gt.json"), dtURL = dir.appendingPathComponent("dt.json"), badURL = dir.appendingPathComponent("bad.json")
        try Data(Self.goodGT.utf8).write(to: gtURL)
        try Data(#"[{"image_id": 1, "category_id": 5, "bbox": [1, 0, 10, 10], "score": 0.9}, {"image_id": 2, "category_id": 5, "bbox": [0, 0, 4, 4], "score": 0.8}]"#.utf8).write(to: dtURL)
        try Data(#"[{"image_id": 7, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 0.9}]"#.utf8).write(to: badURL)
        func run(_ args: [String]) throws -> (Int32, String, String) {
            let p = Process()
            p.executableURL = binary
            p.arguments = args
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        let expected = try cocoEvaluate(groundTruth: COCOGroundTruth(contentsOf: gtURL), detections: COCODetections(contentsOf: dtURL))
        let (status, out, _) = try run(["coco", gtURL.path, dtURL.path, "--json"])
        #expect(status == 0)
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == expected.summaryJSON)
        let (vs, vout, _) = try run(["voc", gtURL.path, dtURL.path, "--json", "--voc07"])
        #expect(vs == 0 && vout.contains("\"cat\": 1.0"))
        let (bs, bout, berr) = try run(["coco", gtURL.path, badURL.path])
        #expect(bs != 0 && bout.isEmpty)
        #expect(berr.contains("detections[0].image_id = 7"), "\(berr)")
        let (ms, _, merr) = try run(["voc", gtURL.path, dir.appendingPathComponent("missing.json").path])
        #expect(ms != 0 && merr.contains("cannot be read"), "\(merr)")
    }
}
