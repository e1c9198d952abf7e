import LossKit
import Testing
import _TestSupport

@Suite("Detection: SSD encode/decode, matching, MultiBox, NMS")
struct DetectionSSDTests {
    static let backends = [Execution.portable, .default]

    @Test("golden encode / decode")
    func goldenCoding() throws {
        for exec in Self.backends {
            for g in try Golden.cases("ssd_encode") {
                let v = g.numbers("variances")!.map(Float.init)
                let out = try ssdEncode(matched: g.input("matched_xyxy").floats, priors: g.input("priors_cxcywh").floats,
                                        variances: (v[0], v[1]), execution: exec)
                #expect(firstMismatch(out, g.output("loc").data, rtol: 1e-5, atol: 1e-5) == nil, "\(g) \(exec.backend)")
            }
            for g in try Golden.cases("ssd_decode") {
                let v = g.numbers("variances")!.map(Float.init)
                let out = try ssdDecode(loc: g.input("loc").floats, priors: g.input("priors_cxcywh").floats,
                                        variances: (v[0], v[1]), execution: exec)
                #expect(firstMismatch(out, g.output("boxes_xyxy").data, rtol: 1e-5, atol: 1e-6) == nil, "\(g) \(exec.backend)")
            }
        }
    }

    @Test("golden two-rule matching")
    func goldenMatch() throws {
        for g in try Golden.cases("ssd_match") {
            for exec in Self.backends {
                let r = try ssdMatch(truths: g.input("truths_xyxy").floats, labels: g.input("labels").ints,
                                     priors: g.input("priors_cxcywh").floats, threshold: g.float("threshold")!, execution: exec)
                #expect(r.matchedIndex == g.output("matched_index").ints, "\(g) \(exec.backend)")
                #expect(r.confTarget == g.output("conf_target").ints, "\(g) \(exec.backend)")
            }
        }
    }

    static func multiboxInputs(_ g: GoldenCase) -> (truths: [[Float]], labels: [[Int]]) {
        let images = Int(g.number("num_images")!)
        return ((0..<images).map { g.input("truths_xyxy_\($0)").floats }, (0..<images).map { g.input("labels_\($0)").ints })
    }

    @Test("golden MultiBox loss vs ssd.pytorch")
    func goldenMultiBox() throws {
        for g in try Golden.cases("multibox") {
            let (truths, labels) = Self.multiboxInputs(g)
            let classes = g.input("conf").shape[2]
            for exec in Self.backends {
                try forEachISA { isa in
                    let r = try multiBoxLoss(loc: g.input("loc").floats, conf: g.input("conf").floats,
                                             priors: g.input("priors_cxcywh").floats, truths: truths, labels: labels,
                                             classes: classes, threshold: g.float("threshold")!,
                                             negPosRatio: g.float("neg_pos_ratio")!, execution: exec)
                    let label = "\(g) \(exec.backend) \(isaName(isa))"
                    #expect(isClose(Double(r.locLoss), g.output("loss_loc").scalar, rtol: 1e-4, atol: 1e-6), "\(label) loc \(r.locLoss)")
                    #expect(isClose(Double(r.confLoss), g.output("loss_conf").scalar, rtol: 1e-4, atol: 1e-6), "\(label) conf \(r.confLoss)")
                    #expect(r.confTarget == g.output("conf_target").ints, "\(label) targets")
                    let ml = firstMismatch(r.locGradient!, g.output("grad_loc").data, rtol: 1e-4, atol: 1e-6)
                    let mc = firstMismatch(r.confGradient!, g.output("grad_conf").data, rtol: 1e-4, atol: 1e-6)
                    #expect(ml == nil, "\(label) grad_loc \(ml ?? "")")
                    #expect(mc == nil, "\(label) grad_conf \(mc ?? "")")
                }
            }
        }
    }

    /// A random SSD-like batch: priors on a grid, a few truths per image (some images empty).
    static func randomBatch(seed: UInt64, images: Int, classes: Int) -> (loc: [Float], conf: [Float], priors: [Float], truths: [[Float]], labels: [[Int]]) {
        var rng = SeededRandom(seed: seed)
        var priors: [Float] = []
        for gy in 0..<8 { for gx in 0..<8 { for s: Float in [0.1, 0.25, 0.5] {
            priors += [(Float(gx) + 0.5) / 8, (Float(gy) + 0.5) / 8, s, s * Float.random(in: 0.5...2, using: &rng)]
        } } }
        let p = priors.count / 4
        var truths: [[Float]] = [], labels: [[Int]] = []
        for i in 0..<images {
            let count = i % 4 == 3 ? 0 : Int.random(in: 1...5, using: &rng)
            var t: [Float] = [], l: [Int] = []
            for _ in 0..<count {
                let x = Float.random(in: 0...0.7, using: &rng), y = Float.random(in: 0...0.7, using: &rng)
                t += [x, y, x + Float.random(in: 0.05...0.3, using: &rng), y + Float.random(in: 0.05...0.3, using: &rng)]
                l.append(Int.random(in: 0..<(classes - 1), using: &rng))
            }
            truths.append(t); labels.append(l)
        }
        return (rng.normal(count: images * p * 4), rng.normal(count: images * p * classes, std: 2), priors, truths, labels)
    }

    @Test("C vs portable on random batches, every ISA; determinism across threads")
    func differential() throws {
        for (seed, classes) in [(UInt64(1), 21), (2, 3), (3, 2)] {
            let s = Self.randomBatch(seed: seed, images: 9, classes: classes)
            let reference = try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: s.truths, labels: s.labels,
                                             classes: classes, execution: .portable)
            try forEachISA { isa in
                let c = try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: s.truths, labels: s.labels, classes: classes)
                #expect(c.confTarget == reference.confTarget)
                #expect(isClose(Double(c.locLoss), Double(reference.locLoss), rtol: 1e-5, atol: 1e-6))
                #expect(isClose(Double(c.confLoss), Double(reference.confLoss), rtol: 1e-5, atol: 1e-6), "\(isaName(isa)) \(c.confLoss) \(reference.confLoss)")
                #expect(firstMismatch(c.locGradient!, reference.locGradient!, rtol: 1e-4, atol: 1e-7) == nil)
                #expect(firstMismatch(c.confGradient!, reference.confGradient!, rtol: 1e-4, atol: 1e-7) == nil)
                let one = try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: s.truths, labels: s.labels,
                                           classes: classes, execution: Execution(threads: 1))
                #expect(one == c, "thread-count determinism")
            }
        }
    }

    @Test("a pinned ISA reaches the worker threads (mining runs on them)")
    func pinnedISAOnWorkers() throws {
        // Every negative row is a permutation of one logit vector with the same
        // background logit: equal CE in exact arithmetic, so which hard negatives
        // are taken turns on the last bits, which differ between ISA paths.
        let classes = 21, images = 6
        let s = Self.randomBatch(seed: 5, images: images, classes: classes)
        let p = s.priors.count / 4
        var rng = SeededRandom(seed: 6)
        let base = rng.normal(count: classes, std: 2)
        var conf: [Float] = []
        for _ in 0..<(images * p) {
            conf.append(base[0])
            conf += Array(base[1...]).shuffled(using: &rng)
        }
        let truths = s.truths.map { Array($0.prefix(4)) }, labels = s.labels.map { Array($0.prefix(1)) }
        var perISA: [[Float]] = []
        try forEachISA { isa in
            let one = try multiBoxLoss(loc: s.loc, conf: conf, priors: s.priors, truths: truths, labels: labels,
                                       classes: classes, execution: Execution(threads: 1))
            let four = try multiBoxLoss(loc: s.loc, conf: conf, priors: s.priors, truths: truths, labels: labels,
                                        classes: classes, execution: Execution(threads: 4))
            let same = one == four // (a Bool: a failure prints the label, not two whole batches)
            #expect(same, "\(isaName(isa)): 4 threads differ from 1")
            perISA.append(one.confGradient!)
        }
        // the data does tell the paths apart (else this test could not fail)
        if perISA.count > 1 {
            let differ = perISA.first! != perISA.last!
            #expect(differ, "ISA paths picked the same negatives")
        }
    }

    @Test("finite differences of the MultiBox loss")
    func gradientCheck() throws {
        let s = Self.randomBatch(seed: 7, images: 2, classes: 4)
        let base = try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: s.truths, labels: s.labels, classes: 4)
        // perturb a sample of coordinates; the matching and mining do not depend on loc, and a small
        // change of conf does not change which negatives are mined unless two are nearly tied
        var rng = SeededRandom(seed: 3)
        for _ in 0..<30 {
            let i = Int.random(in: 0..<s.loc.count, using: &rng)
            var up = s.loc, down = s.loc
            up[i] += 1e-2; down[i] -= 1e-2
            let lu = try multiBoxLoss(loc: up, conf: s.conf, priors: s.priors, truths: s.truths, labels: s.labels, classes: 4, computeGradient: false)
            let ld = try multiBoxLoss(loc: down, conf: s.conf, priors: s.priors, truths: s.truths, labels: s.labels, classes: 4, computeGradient: false)
            let numeric = (Double(lu.locLoss) - Double(ld.locLoss)) / (Double(up[i]) - Double(down[i]))
            #expect(isClose(Double(base.locGradient![i]), numeric, rtol: 1e-2, atol: 1e-4), "loc[\(i)]")
        }
        for _ in 0..<30 {
            let i = Int.random(in: 0..<s.conf.count, using: &rng)
            var up = s.conf, down = s.conf
            up[i] += 1e-2; down[i] -= 1e-2
            let lu = try multiBoxLoss(loc: s.loc, conf: up, priors: s.priors, truths: s.truths, labels: s.labels, classes: 4, computeGradient: false)
            let ld = try multiBoxLoss(loc: s.loc, conf: down, priors: s.priors, truths: s.truths, labels: s.labels, classes: 4, computeGradient: false)
            let numeric = (Double(lu.confLoss) - Double(ld.confLoss)) / (Double(up[i]) - Double(down[i]))
            #expect(isClose(Double(base.confGradient![i]), numeric, rtol: 2e-2, atol: 2e-4), "conf[\(i)]")
        }
    }

    @Test("no positives: zero loss and zero gradient")
    func emptyBatch() throws {
        let s = Self.randomBatch(seed: 4, images: 3, classes: 5)
        for exec in Self.backends {
            let r = try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: [[], [], []], labels: [[], [], []],
                                     classes: 5, execution: exec)
            #expect(r.locLoss == 0 && r.confLoss == 0)
            #expect(r.locGradient!.allSatisfy { $0 == 0 } && r.confGradient!.allSatisfy { $0 == 0 })
            #expect(r.confTarget.allSatisfy { $0 == 0 })
        }
    }

    @Test("NMS: torchvision's greedy rule, ties to the lower index")
    func nms() throws {
        let boxes: [Float] = [0, 0, 10, 10, /* 1 */ 1, 1, 11, 11, /* 2 */ 20, 20, 30, 30, /* 3 */ 0, 0, 10, 10, /* 4 */ 21, 21, 29, 29]
        let scores: [Float] = [0.9, 0.95, 0.5, 0.9, 0.5]
        for exec in Self.backends {
            // 1 first (0.95); it removes 0 and 3 (IoU 0.68); then 2 before 4 (tie, lower index); 4 has IoU 0.64 with 2
            #expect(try nonMaximumSuppression(boxes: boxes, scores: scores, iouThreshold: 0.5, execution: exec) == [1, 2])
            #expect(try nonMaximumSuppression(boxes: boxes, scores: scores, iouThreshold: 0.7, execution: exec) == [1, 0, 2, 4])
            #expect(try nonMaximumSuppression(boxes: [], scores: [], iouThreshold: 0.5, execution: exec) == [])
        }
        var rng = SeededRandom(seed: 12)
        let many = DetectionBoxTests.boxSets(seed: 13, n: 300), s = rng.uniform(0...1, count: many.count / 4)
        #expect(try nonMaximumSuppression(boxes: many, scores: s, iouThreshold: 0.3)
                == nonMaximumSuppression(boxes: many, scores: s, iouThreshold: 0.3, execution: .portable))
    }

    @Test("bad input names the argument and the first bad box")
    func badInput() throws {
        let s = Self.randomBatch(seed: 5, images: 1, classes: 3)
        func expectBox(_ truths: [Float], index: Int) {
            do {
                _ = try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: [truths], labels: [[0, 0]], classes: 3)
                Issue.record("expected invalidBox")
            } catch let LossKitError.invalidBox(argument, i, _, _) {
                #expect(argument == "truths[0]" && i == index)
            } catch { Issue.record("\(error)") }
        }
        expectBox([0, 0, 1, 1, 0.5, 0.5, 0.4, 0.9], index: 1)   // x2 < x1
        expectBox([0, 0, 1, .nan, 0, 0, 1, 1], index: 0)       // NaN
        #expect(throws: LossKitError.self) {
            try multiBoxLoss(loc: s.loc, conf: s.conf, priors: s.priors, truths: [[0, 0, 1, 1]], labels: [[2]], classes: 3)
        }
        #expect(throws: LossKitError.self) {
            try multiBoxLoss(loc: [0], conf: s.conf, priors: s.priors, truths: [[]], labels: [[]], classes: 3)
        }
        #expect(throws: LossKitError.self) { try ssdMatch(truths: [0, 0, 1, 1], labels: [0], priors: [0.5, 0.5, 0, 1]) }
        #expect(throws: LossKitError.self) { try nonMaximumSuppression(boxes: [0, 0, 1, 1], scores: [1, 2], iouThreshold: 0.5) }
    }
}
