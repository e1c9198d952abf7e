import CLossKit
import LossKit
import Testing
import _TestSupport

/// The box rules shared by every detection op: near-ties decided as float32
/// torchvision, one 0 / 0 rule for the matrices and the losses, one box
/// rule for every input, box formats, torchvision's empty mean,
/// ssd.pytorch's negative count, checked sizes.
@Suite("Detection: near-ties, degenerate pairs, the box rule, formats")
struct DetectionRulesTests {
    static let backends = [Execution.portable, .default]
    static let lossKinds: [IoUKind] = [.generalized, .distance, .complete]

    // MARK: near-ties

    /// Priors on a grid and truths on a coarser one: IoUs that tie in exact
    /// arithmetic and differ in their last bits depending on the rounding.
    static func gridCase(seed: UInt64) -> (priors: [Float], truths: [Float], labels: [Int]) {
        var rng = SeededRandom(seed: seed)
        var priors: [Float] = []
        let cells = [4, 8][Int(rng.next() % 2)], sizes: [Float] = [0.5, 0.25, 0.375, 0.125, 0.3]
        for gy in 0..<cells { for gx in 0..<cells { for _ in 0..<2 {
            let s = sizes[Int(rng.next() % UInt64(sizes.count))], t = sizes[Int(rng.next() % UInt64(sizes.count))]
            priors += [(Float(gx) + 0.5) / Float(cells), (Float(gy) + 0.5) / Float(cells), s, t]
        } } }
        var truths: [Float] = [], labels: [Int] = []
        for _ in 0..<(1 + Int(rng.next() % 4)) {
            let x = Float(rng.next() % 7) / 10, y = Float(rng.next() % 7) / 10
            truths += [x, y, x + Float(1 + rng.next() % 4) / 10, y + Float(1 + rng.next() % 4) / 10]
            labels.append(Int(rng.next() % 3))
        }
        return (priors, truths, labels)
    }

    @Test("ssdMatch and MultiBox near-ties: C and portable pick the same priors, as float32 torchvision")
    func nearTies() throws {
        // the issue's case: IoU(prior 0) and IoU(prior 1) tie in exact arithmetic; float32
        // torchvision box_iou and ssd.pytorch pick prior 0
        let priors: [Float] = [0.125, 0.125, 0.5, 0.5, 0.375, 0.125, 0.5, 0.5, 0.125, 0.375, 0.5, 0.5, 0.375, 0.375, 0.5, 0.5]
        let truth: [Float] = [0.1, 0.1, 0.4, 0.4]
        for exec in Self.backends {
            try forEachISA { isa in
                let r = try ssdMatch(truths: truth, labels: [0], priors: priors, execution: exec)
                #expect(r.matchedIndex == [0, -1, -1, -1], "\(exec.backend) \(isaName(isa))")
            }
        }
        // ... and MultiBox on it (the issue's conf loss: 1.79 on C, 3.29 on the Double-IoU twin)
        var rng = SeededRandom(seed: 77)
        let loc = rng.normal(count: 16), conf = rng.normal(count: 4 * 5, std: 2)
        let reference = try multiBoxLoss(loc: loc, conf: conf, priors: priors, truths: [truth], labels: [[2]], classes: 5,
                                         execution: .portable)
        #expect(reference.confTarget == [3, 0, 0, 0])
        try forEachISA { isa in
            let c = try multiBoxLoss(loc: loc, conf: conf, priors: priors, truths: [truth], labels: [[2]], classes: 5)
            #expect(c.confTarget == reference.confTarget && isClose(Double(c.confLoss), Double(reference.confLoss), rtol: 1e-5, atol: 1e-6),
                    "\(isaName(isa)): \(c.confLoss) vs \(reference.confLoss)")
        }
        var disagreements = 0
        for seed in UInt64(1)...60 {
            let g = Self.gridCase(seed: seed)
            let reference = try ssdMatch(truths: g.truths, labels: g.labels, priors: g.priors, threshold: 0.3, execution: .portable)
            try forEachISA { isa in
                let c = try ssdMatch(truths: g.truths, labels: g.labels, priors: g.priors, threshold: 0.3)
                if c.matchedIndex != reference.matchedIndex { disagreements += 1 }
                #expect(c.matchedIndex == reference.matchedIndex && c.confTarget == reference.confTarget,
                        "seed \(seed) \(isaName(isa))")
            }
            // MultiBox on the same image (twice: batch of 2): the same targets and losses
            let p = g.priors.count / 4, classes = 4
            var rng = SeededRandom(seed: seed + 100)
            let loc = rng.normal(count: 2 * p * 4), conf = rng.normal(count: 2 * p * classes, std: 2)
            let m = try multiBoxLoss(loc: loc, conf: conf, priors: g.priors, truths: [g.truths, g.truths], labels: [g.labels, g.labels],
                                     classes: classes, threshold: 0.3, execution: .portable)
            try forEachISA { isa in
                let c = try multiBoxLoss(loc: loc, conf: conf, priors: g.priors, truths: [g.truths, g.truths],
                                         labels: [g.labels, g.labels], classes: classes, threshold: 0.3)
                #expect(c.confTarget == m.confTarget, "seed \(seed) \(isaName(isa)) targets")
                #expect(isClose(Double(c.confLoss), Double(m.confLoss), rtol: 1e-5, atol: 1e-6),
                        "seed \(seed) \(isaName(isa)) conf \(c.confLoss) vs \(m.confLoss)")
                #expect(isClose(Double(c.locLoss), Double(m.locLoss), rtol: 1e-5, atol: 1e-6), "seed \(seed) \(isaName(isa)) loc")
            }
        }
        #expect(disagreements == 0)
    }

    // MARK: the 0 / 0 rule

    /// Pairs where torchvision divides 0 by 0 somewhere, and their neighbours.
    static let degeneratePairs: [([Float], [Float])] = [
        ([5, 5, 5, 5], [5, 5, 5, 5]),     // the same point: union 0, C 0
        ([5, 5, 5, 5], [7, 8, 7, 8]),     // two points: union 0, C > 0
        ([5, 5, 5, 5], [0, 0, 10, 10]),   // a point inside a box: aspect 0 / 0
        ([0, 0, 10, 10], [2, 3, 2, 3]),   // a box, a point off centre
        ([2, 2, 4, 4], [5, 5, 5, 5]),     // a box, a point outside
        ([1, 4, 9, 4], [0, 0, 10, 10]),   // a zero-height box
        ([1, 4, 9, 4], [2, 4, 6, 4]),     // two collinear segments: union 0
        ([1, 4, 9, 4], [1, 6, 9, 6]),     // two parallel segments
        ([3, 0, 3, 6], [0, 0, 10, 10]),   // a zero-width box
        ([0, 0, 10, 10], [0, 0, 10, 10]), // identical
        ([0, 0, 10, 10], [10, 0, 20, 10]) // touching
    ]

    @Test("1 - matrix == loss on degenerate pairs (GIoU, DIoU, CIoU), both backends, every ISA")
    func oneRule() throws {
        for kind in Self.lossKinds {
            for exec in Self.backends {
                try forEachISA { isa in
                    for (a, b) in Self.degeneratePairs {
                        let matrix = try boxIoUMatrix(a, b, kind: kind, execution: exec)[0]
                        let loss = try boxIoULoss(kind, predictions: a, targets: b, reduction: .sum, execution: exec).value
                        #expect(matrix.isFinite && loss.isFinite, "\(kind) \(a) \(b)")
                        #expect(abs((1 - matrix) - loss) <= 1e-6, "\(kind) \(exec.backend) \(isaName(isa)) \(a) vs \(b): 1 - \(matrix) vs \(loss)")
                    }
                }
            }
        }
        // CIoU at a point box: no aspect term, the rest stays (its DIoU)
        for exec in Self.backends {
            let c = try boxIoUMatrix([2, 2, 4, 4], [5, 5, 5, 5], kind: .complete, execution: exec)[0]
            let d = try boxIoUMatrix([2, 2, 4, 4], [5, 5, 5, 5], kind: .distance, execution: exec)[0]
            #expect(c == d && c < 0, "\(exec.backend): \(c) vs \(d)")
        }
    }

    @Test("eps = 0: a 0 / 0 term is 0 in the losses too")
    func zeroEps() throws {
        for kind in Self.lossKinds {
            for exec in Self.backends {
                for (a, b) in Self.degeneratePairs {
                    let r = try boxIoULoss(kind, predictions: a, targets: b, eps: 0, reduction: .sum, execution: exec)
                    #expect(r.value.isFinite && r.gradient!.allSatisfy(\.isFinite), "\(kind) \(exec.backend) \(a) \(b): \(r)")
                }
            }
        }
    }

    @Test("no pairs: mean 0 as torchvision's test_empty_inputs, sum 0, none empty")
    func emptyInputs() throws {
        for kind in Self.lossKinds {
            for exec in Self.backends {
                for format in BoxFormat.allCases {
                    let mean = try boxIoULoss(kind, predictions: [], targets: [], format: format, execution: exec)
                    #expect(mean.value == 0 && mean.gradient == [], "\(kind) \(exec.backend) \(format): \(mean.value)")
                    let sum = try boxIoULoss(kind, predictions: [], targets: [], reduction: .sum, execution: exec)
                    #expect(sum.value == 0)
                    let none = try boxIoULoss(kind, predictions: [], targets: [], reduction: .none, execution: exec)
                    #expect(none.unreduced == [] && none.value == 0)
                }
            }
        }
        var out: Float = -9
        #expect(losskit_box_iou_loss(LOSSKIT_GIOU, LOSSKIT_BOX_XYXY, nil, nil, 0, 1e-7, LOSSKIT_REDUCTION_MEAN, &out, nil, 1) == 0)
        #expect(out == 0)
    }

    // MARK: hard negatives

    /// One image: `positives` priors identical to the one truth, the rest far from it.
    static func miningCase(positives: Int, priors p: Int) -> (loc: [Float], conf: [Float], priors: [Float], truths: [[Float]], labels: [[Int]]) {
        var priors: [Float] = []
        for i in 0..<p { priors += i < positives ? [0.2, 0.2, 0.2, 0.2] : [0.8, 0.8, 0.1, 0.1] }
        var rng = SeededRandom(seed: UInt64(positives * 1000 + p))
        return (rng.normal(count: p * 4), rng.normal(count: p * 3, std: 2), priors, [[0.1, 0.1, 0.3, 0.3]], [[1]])
    }

    @Test("fractional negPosRatio: ssd.pytorch's count, min(ceil(ratio x positives), P - 1)")
    func negativeCount() throws {
        // (positives, priors, ratio, negatives ssd.pytorch keeps)
        // (P - 1 binds only where the negatives would outnumber the other priors but for one positive)
        let cases: [(Int, Int, Float, Int)] = [(31, 200, 2.5, 78), (31, 200, 3, 93), (3, 50, 0.1, 1), (7, 40, 0.5, 4),
                                               (10, 30, 1.95, 20), (1, 5, 7, 4), (1, 6, 3.5, 4), (5, 60, 0, 0)]
        for (positives, p, ratio, expected) in cases {
            let s = Self.miningCase(positives: positives, priors: p)
            for exec in Self.backends {
                let r = try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: s.truths, labels: s.labels,
                                         classes: 3, negPosRatio: ratio, execution: exec)
                #expect(r.confTarget.filter { $0 > 0 }.count == positives)
                let rows = (0..<p).filter { j in (0..<3).contains { r.confGradient![3 * j + $0] != 0 } }.count
                #expect(rows - positives == expected, "\(positives) positives, ratio \(ratio), \(exec.backend): \(rows - positives) negatives")
            }
        }
    }

    // MARK: sizes

    @Test("huge classes: a typed error, never a trap")
    func hugeSizes() {
        let priors: [Float] = [0.5, 0.5, 0.2, 0.2], loc = [Float](repeating: 0, count: 8) // [2, 1, 4]: only conf overflows
        for classes in [Int.max, Int.max / 2 + 1, 1 << 62] {
            #expect(throws: LossKitError.self) {
                try multiBoxLoss(loc: loc, conf: [], priors: priors, truths: [[], []], labels: [[], []], classes: classes)
            }
            #expect(throws: LossKitError.self) {
                try multiBoxLoss(loc: loc, conf: [], priors: priors, truths: [[], []], labels: [[], []], classes: classes,
                                 execution: .portable)
            }
        }
    }

    // MARK: the box rule

    /// Runs `body`, expecting invalidBox naming `argument` and `index`.
    static func expectBadBox(_ argument: String, _ index: Int, _ label: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(label): no error")
        } catch let LossKitError.invalidBox(a, i, _, _) {
            #expect(a == argument && i == index, "\(label): \(a)[\(i)]")
        } catch {
            Issue.record("\(label): \(error)")
        }
    }

    @Test("negative widths and heights: every box input rejects them (typed error, C status)")
    func boxRule() throws {
        let good: [Float] = [0, 0, 2, 2, 1, 1, 3, 4]
        for format in BoxFormat.allCases {
            // a box breaking the rule in this format: x2 < x1 (xyxy) or w < 0
            let bad: [Float] = format == .xyxy ? [0, 0, 2, 2, 3, 1, 1, 4] : [0, 0, 2, 2, 1, 1, -1, 4]
            let badH: [Float] = format == .xyxy ? [0, 0, 2, 2, 1, 4, 3, 1] : [0, 0, 2, 2, 1, 1, 1, -0.5]
            for exec in Self.backends {
                let label = "\(format) \(exec.backend)"
                Self.expectBadBox("boxes1", 1, "matrix " + label) { _ = try boxIoUMatrix(bad, good, format: format, execution: exec) }
                Self.expectBadBox("boxes2", 1, "matrix " + label) { _ = try boxIoUMatrix(good, badH, format: format, execution: exec) }
                Self.expectBadBox("boxes2", 1, "buffer " + label) {
                    var out = [Float](repeating: 0, count: 4)
                    try good.withUnsafeBufferPointer { a in
                        try bad.withUnsafeBufferPointer { b in
                            try out.withUnsafeMutableBufferPointer { try boxIoUMatrix(a, b, into: $0, kind: .generalized, format: format, execution: exec) }
                        }
                    }
                }
                for kind in Self.lossKinds {
                    Self.expectBadBox("predictions", 1, "loss " + label) {
                        _ = try boxIoULoss(kind, predictions: badH, targets: good, format: format, execution: exec)
                    }
                    Self.expectBadBox("targets", 1, "loss " + label) {
                        _ = try boxIoULoss(kind, predictions: good, targets: bad, format: format, execution: exec)
                    }
                }
            }
        }
        // the kernels' vector scan: a bad box at every position of a longer set, in x or in y, every format and ISA
        var rng = SeededRandom(seed: 53)
        let many = DetectionBoxTests.randomBoxes(37, sides: 0...5, using: &rng)
        for format in BoxFormat.allCases {
            try forEachISA { isa in
                for i in 0..<37 {
                    for axis in 0..<2 {
                        var boxes = Self.inFormat(many, format)
                        if format == .xyxy { boxes[4 * i + 2 + axis] = boxes[4 * i + axis] - 0.25 } else { boxes[4 * i + 2 + axis] = -0.25 }
                        Self.expectBadBox("boxes2", i, "\(format) \(isaName(isa)) box \(i) axis \(axis)") {
                            _ = try boxIoUMatrix(Self.inFormat(many, format), boxes, format: format)
                        }
                    }
                }
                let count = try boxIoUMatrix(Self.inFormat(many, format), Self.inFormat(many, format), format: format).count
                #expect(count == 37 * 37)
            }
        }
        let bad: [Float] = [0, 0, 2, 2, 3, 1, 1, 4]
        for exec in Self.backends {
            Self.expectBadBox("boxes", 1, "nms \(exec.backend)") {
                _ = try nonMaximumSuppression(boxes: bad, scores: [1, 2], iouThreshold: 0.5, execution: exec)
            }
            Self.expectBadBox("matched", 1, "encode \(exec.backend)") {
                _ = try ssdEncode(matched: bad, priors: [0.5, 0.5, 0.2, 0.2, 0.5, 0.5, 0.2, 0.2], execution: exec)
            }
            Self.expectBadBox("truths", 1, "match \(exec.backend)") {
                _ = try ssdMatch(truths: bad, labels: [0, 0], priors: [0.5, 0.5, 0.2, 0.2], execution: exec)
            }
        }
        Self.expectBadBox("boxes", 1, "xyxy to cxcywh") { _ = try boxesCornerToCenter(bad) }
        Self.expectBadBox("boxes", 0, "cxcywh to xyxy") { _ = try boxesCenterToCorner([1, 1, 2, -2]) }
        // NaN passes the rule and gives NaN
        #expect(try boxIoUMatrix([0, 0, .nan, 1], [0, 0, 1, 1])[0].isNaN)
        #expect(try boxesCornerToCenter([0, 0, .nan, 1])[2].isNaN)
        // the C statuses: the box argument's position
        var out = [Float](repeating: -9, count: 8), grad = [Float](repeating: -9, count: 8)
        #expect(losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, bad, 2, good, 2, &out, 1) == -3)
        #expect(losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, good, 2, bad, 2, &out, 1) == -5)
        #expect(losskit_box_iou_matrix(LOSSKIT_GIOU, LOSSKIT_BOX_CXCYWH, good, 2, [0, 0, -1, 1], 1, &out, 1) == -5)
        #expect(losskit_box_iou_loss(LOSSKIT_DIOU, LOSSKIT_BOX_XYXY, bad, good, 2, 1e-7, LOSSKIT_REDUCTION_NONE, &out, &grad, 1) == -3)
        #expect(losskit_box_iou_loss(LOSSKIT_DIOU, LOSSKIT_BOX_XYWH, good, [0, 0, 1, 1, 0, 0, 1, -1], 2, 1e-7, LOSSKIT_REDUCTION_NONE, &out, &grad, 1) == -4)
        #expect(out.allSatisfy { $0 == -9 } && grad.allSatisfy { $0 == -9 }, "nothing written on a bad box")
        var keep = [Int64](repeating: 0, count: 2), kept = 0
        #expect(losskit_nms(bad, [1, 2], 2, 0.5, &keep, &kept) == -1)
        let priors: [Float] = [0.5, 0.5, 0.2, 0.2, 0.5, 0.5, -0.2, 0.2]
        #expect(losskit_ssd_encode(bad, [0.5, 0.5, 0.2, 0.2, 0.5, 0.5, 0.2, 0.2], 2, 0.1, 0.2, &out) == -1)
        #expect(losskit_ssd_encode(good, priors, 2, 0.1, 0.2, &out) == -2)
        #expect(losskit_ssd_decode(good, priors, 2, 0.1, 0.2, &out) == -2)
        #expect(losskit_boxes_xyxy_to_cxcywh(bad, &out, 2) == -1)
        #expect(losskit_boxes_cxcywh_to_xyxy(priors, &out, 2) == -1)
        var matched = [Int64](repeating: 0, count: 2), conf = [Int64](repeating: 0, count: 2)
        #expect(losskit_ssd_match(good, [0, 0], 2, priors, 2, 0.5, &matched, &conf) == -4)
        var ll: Float = 0, lc: Float = 0
        let counts: [Int] = [1]
        #expect(losskit_multibox_loss(out, out, 1, 2, 2, priors, good, [0], counts, 0.5, 3, 0.1, 0.2, &ll, &lc, nil, nil, nil, 1) == -6)
    }

    // MARK: formats

    static func inFormat(_ xyxy: [Float], _ format: BoxFormat) -> [Float] {
        (0..<(xyxy.count / 4)).flatMap { i -> [Float] in
            let (x1, y1, x2, y2) = (xyxy[4 * i], xyxy[4 * i + 1], xyxy[4 * i + 2], xyxy[4 * i + 3])
            switch format {
            case .xyxy: return [x1, y1, x2, y2]
            case .xywh: return [x1, y1, x2 - x1, y2 - y1]
            case .cxcywh: return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
            }
        }
    }

    static func format(_ name: String) -> BoxFormat {
        BoxFormat.allCases.first { "\($0)" == name }!
    }

    static func kind(_ name: String) -> IoUKind {
        ["iou": .iou, "generalized": .generalized, "distance": .distance, "complete": .complete][name]!
    }

    @Test("golden matrices and losses in every format vs torchvision's formulas, both backends, every ISA")
    func goldenFormats() throws {
        let cases = try Golden.cases("box_formats")
        #expect(cases.count == 3 * (8 + 3))
        for g in cases {
            let format = Self.format(g.string("format")!), kind = Self.kind(g.string("kind")!)
            for exec in Self.backends {
                try forEachISA { isa in
                    let label = "\(g) \(exec.backend) \(isaName(isa))"
                    if g.string("op") == "matrix" {
                        let m = try boxIoUMatrix(g.input("boxes1").floats, g.input("boxes2").floats, kind: kind, format: format,
                                                 execution: exec)
                        let mismatch = firstMismatch(m, g.output("matrix").data, rtol: 1e-5, atol: 2e-6)
                        #expect(mismatch == nil, "\(label): \(mismatch ?? "")")
                    } else {
                        let r = try boxIoULoss(kind, predictions: g.input("pred").floats, targets: g.input("target").floats,
                                               format: format, reduction: .none, execution: exec)
                        let ml = firstMismatch(r.unreduced!, g.output("loss").data, rtol: 1e-5, atol: 2e-6)
                        let mg = firstMismatch(r.gradient!, g.output("grad_pred").data, rtol: 1e-4, atol: 1e-6)
                        #expect(ml == nil, "\(label) loss \(ml ?? "")")
                        #expect(mg == nil, "\(label) grad \(mg ?? "")")
                    }
                }
            }
        }
    }

    @Test("formats: C vs portable on random and edge boxes every ISA; the same bits as converting first; threads")
    func formatsDifferential() throws {
        let a = DetectionBoxTests.boxSets(seed: 41, n: 70), b = DetectionBoxTests.boxSets(seed: 42, n: 37)
        for format in BoxFormat.allCases {
            let fa = Self.inFormat(a, format), fb = Self.inFormat(b, format)
            for kind in IoUKind.allCases {
                let reference = try boxIoUMatrix(fa, fb, kind: kind, format: format, execution: .portable)
                try forEachISA { isa in
                    let c = try boxIoUMatrix(fa, fb, kind: kind, format: format)
                    if let i = c.indices.first(where: { !agree(c[$0], reference[$0], rtol: 2e-5, atol: 2e-6) }) {
                        Issue.record("\(kind) \(format) \(isaName(isa)) [\(i)]: C \(c[i]) vs \(reference[i])")
                    }
                    // cxcywh converts as boxesCenterToCorner does: bit for bit the matrix of the converted boxes
                    if format == .cxcywh {
                        let converted = try boxIoUMatrix(boxesCenterToCorner(fa), boxesCenterToCorner(fb), kind: kind)
                        #expect(sameBits(c, converted), "\(kind) \(isaName(isa))")
                    }
                    let two = try boxIoUMatrix(fa, fb, kind: kind, format: format, execution: Execution(threads: 2))
                    #expect(sameBits(c, two), "\(kind) \(format) \(isaName(isa)) threads")
                }
            }
            // a matrix large enough for the aligned-run kernel with its phase copies, in this format
            var rng = SeededRandom(seed: 43)
            let big = Self.inFormat(DetectionBoxTests.randomBoxes(300, sides: 0.5...40, using: &rng), format)
            let cols = Self.inFormat(DetectionBoxTests.randomBoxes(100, sides: 0.5...40, using: &rng), format)
            let reference = try boxIoUMatrix(big, cols, format: format, execution: .portable)
            try forEachISA { isa in
                let c = try boxIoUMatrix(big, cols, format: format)
                #expect(firstMismatch(c, reference, rtol: 2e-5, atol: 2e-6) == nil, "\(format) \(isaName(isa)) 300 x 100")
            }
            let p = Self.inFormat(DetectionBoxTests.boxSets(seed: 44, n: 40), format)
            let t = Self.inFormat(DetectionBoxTests.boxSets(seed: 45, n: 40), format)
            for kind in Self.lossKinds {
                let reference = try boxIoULoss(kind, predictions: p, targets: t, format: format, reduction: .none, execution: .portable)
                try forEachISA { isa in
                    let c = try boxIoULoss(kind, predictions: p, targets: t, format: format, reduction: .none)
                    #expect(firstMismatch(c.unreduced!, reference.unreduced!, rtol: 2e-5, atol: 2e-6) == nil, "\(kind) \(format) \(isaName(isa)) loss")
                    #expect(firstMismatch(c.gradient!, reference.gradient!, rtol: 1e-3, atol: 1e-5) == nil, "\(kind) \(format) \(isaName(isa)) grad")
                }
            }
        }
    }

    @Test("formats: finite differences of the loss gradients")
    func formatGradients() throws {
        let (p, t) = DetectionBoxTests.overlappingPairs(seed: 19, count: 10)
        for format in BoxFormat.allCases {
            let fp = Self.inFormat(p, format), ft = Self.inFormat(t, format)
            // CIoU holds alpha constant (torch.no_grad): its gradient is not the derivative of its value
            for kind in [IoUKind.generalized, .distance] {
                for exec in Self.backends {
                    let analytic = try boxIoULoss(kind, predictions: fp, targets: ft, format: format, reduction: .none,
                                                  execution: exec).gradient!
                    let numeric = try finiteDifferenceGradient(at: fp, relativeStep: 1e-3, minimumStep: 1e-3) { probe in
                        try boxIoULoss(kind, predictions: probe, targets: ft, format: format, reduction: .none,
                                       computeGradient: false, execution: exec).unreduced!
                    }
                    for i in fp.indices {
                        #expect(isClose(Double(analytic[i]), numeric[i], rtol: 5e-3, atol: 2e-4),
                                "\(kind) \(format) \(exec.backend) [\(i / 4)][\(i % 4)]: \(analytic[i]) vs \(numeric[i])")
                    }
                }
            }
        }
    }
}
