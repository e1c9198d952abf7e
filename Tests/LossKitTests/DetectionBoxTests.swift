import CLossKit
import LossKit
import Testing
import _TestSupport

@Suite("Detection: IoU-family matrices and aligned losses")
struct DetectionBoxTests {
    static let matrixOps: [(String, IoUKind)] = [("box_iou", .iou), ("generalized_box_iou", .generalized),
                                                 ("distance_box_iou", .distance), ("complete_box_iou", .complete)]
    static let lossOps: [(String, IoUKind)] = [("giou_loss", .generalized), ("diou_loss", .distance), ("ciou_loss", .complete)]

    @Test("golden matrices vs torchvision")
    func goldenMatrices() throws {
        for (op, kind) in Self.matrixOps {
            for g in try Golden.cases(op) {
                let expected = g.output("matrix").data
                let portable = try boxIoUMatrix(g.input("boxes1").floats, g.input("boxes2").floats, kind: kind, execution: .portable)
                #expect(firstMismatch(portable, expected, rtol: 1e-5, atol: 1e-6) == nil, "\(g) portable")
                try forEachISA { isa in
                    let c = try boxIoUMatrix(g.input("boxes1").floats, g.input("boxes2").floats, kind: kind)
                    let mismatch = firstMismatch(c, expected, rtol: 1e-5, atol: 1e-6)
                    #expect(mismatch == nil, "\(g) \(isaName(isa)): \(mismatch ?? "")")
                }
            }
        }
    }

    @Test("golden aligned losses vs torchvision")
    func goldenLosses() throws {
        for (op, kind) in Self.lossOps {
            for g in try Golden.cases(op) {
                let r = reduction(g.string("reduction") ?? "mean")
                let eps = g.float("eps") ?? 1e-7
                for exec in [Execution.portable, .default] {
                    try forEachISA { isa in
                        let result = try boxIoULoss(kind, predictions: g.input("pred").floats, targets: g.input("target").floats,
                                                    eps: eps, reduction: r, execution: exec)
                        let label = "\(g) \(exec.backend) \(isaName(isa))"
                        if r == .none {
                            let m = firstMismatch(result.unreduced!, g.output("loss").data, rtol: 1e-5, atol: 1e-6)
                            #expect(m == nil, "\(label) loss \(m ?? "")")
                        } else {
                            #expect(isClose(Double(result.value), g.output("loss").scalar, rtol: 1e-4, atol: 1e-6), "\(label)")
                        }
                        let m = firstMismatch(result.gradient!, g.output("grad_pred").data, rtol: 1e-4, atol: 1e-6)
                        #expect(m == nil, "\(label) grad \(m ?? "")")
                    }
                }
            }
        }
    }

    /// Random boxes plus the edge family: identical, disjoint, touching, nested, zero-area, tiny and huge.
    static func boxSets(seed: UInt64, n: Int) -> [Float] {
        var rng = SeededRandom(seed: seed)
        var out: [Float] = []
        for _ in 0..<n {
            let x = Float.random(in: 0...100, using: &rng), y = Float.random(in: 0...100, using: &rng)
            out += [x, y, x + Float.random(in: 0...40, using: &rng), y + Float.random(in: 0...40, using: &rng)]
        }
        out += [0, 0, 10, 10, /* identical */ 0, 0, 10, 10, /* touching */ 10, 0, 20, 10, /* disjoint */ 50, 50, 60, 70,
                /* nested */ 2, 2, 3, 3, /* point */ 5, 5, 5, 5, /* line */ 1, 4, 9, 4, /* tiny */ 1e-6, 1e-6, 2e-6, 3e-6,
                /* huge */ -1e6, -1e6, 1e6, 2e6]
        return out
    }

    @Test("C vs portable on random and edge boxes, every kind and ISA")
    func differential() throws {
        let a = Self.boxSets(seed: 1, n: 37), b = Self.boxSets(seed: 2, n: 21)
        for (_, kind) in Self.matrixOps {
            let reference = try boxIoUMatrix(a, b, kind: kind, execution: .portable)
            try forEachISA { isa in
                let c = try boxIoUMatrix(a, b, kind: kind)
                for i in c.indices where !agree(c[i], reference[i], rtol: 2e-5, atol: 2e-6) {
                    let (r, col) = (i / (b.count / 4), i % (b.count / 4))
                    Issue.record("\(kind) \(isaName(isa)) [\(r), \(col)] \(a[4*r..<4*r+4]) vs \(b[4*col..<4*col+4]): C \(c[i]) vs \(reference[i])")
                    break
                }
            }
        }
        for (_, kind) in Self.lossOps {
            let p = Self.boxSets(seed: 3, n: 40), t = Self.boxSets(seed: 4, n: 40)
            let reference = try boxIoULoss(kind, predictions: p, targets: t, reduction: .none, execution: .portable)
            try forEachISA { isa in
                let c = try boxIoULoss(kind, predictions: p, targets: t, reduction: .none)
                for i in c.unreduced!.indices where !agree(c.unreduced![i], reference.unreduced![i], rtol: 2e-5, atol: 2e-6) {
                    Issue.record("\(kind) \(isaName(isa)) loss[\(i)]: \(c.unreduced![i]) vs \(reference.unreduced![i])"); break
                }
                for i in c.gradient!.indices where !agree(c.gradient![i], reference.gradient![i], rtol: 1e-3, atol: 1e-5) {
                    Issue.record("\(kind) \(isaName(isa)) grad[\(i)] (pair \(i / 4)): \(c.gradient![i]) vs \(reference.gradient![i])"); break
                }
            }
        }
    }

    @Test("NaN coordinates poison their row and column")
    func nanPropagation() throws {
        let a: [Float] = [0, 0, 1, 1, .nan, 0, 1, 1], b: [Float] = [0, 0, 2, 2, 0, .nan, 1, 1]
        for kind in IoUKind.allCases {
            for exec in [Execution.portable, .default] {
                let m = try boxIoUMatrix(a, b, kind: kind, execution: exec)
                #expect(!m[0].isNaN && m[1].isNaN && m[2].isNaN && m[3].isNaN, "\(kind) \(exec.backend): \(m)")
            }
        }
        // NaN in the first set only (the kernel's faster path, rows past a vector
        // width): that row is NaN, the others match the portable twin
        var rng = SeededRandom(seed: 21)
        let rows = 5, cols = 37
        var p: [Float] = [], q: [Float] = []
        for _ in 0..<rows { let x = Float.random(in: 0...10, using: &rng); p += [x, x, x + 3, x + 2] }
        for _ in 0..<cols { let x = Float.random(in: 0...10, using: &rng); q += [x, x + 1, x + 4, x + 3] }
        p[4 * 2 + 3] = .nan
        for kind in IoUKind.allCases {
            let reference = try boxIoUMatrix(p, q, kind: kind, execution: .portable)
            try forEachISA { isa in
                let m = try boxIoUMatrix(p, q, kind: kind)
                for i in 0..<rows {
                    for j in 0..<cols {
                        let v = m[i * cols + j], r = reference[i * cols + j]
                        if i == 2 {
                            #expect(v.isNaN, "\(kind) \(isaName(isa)) [\(i), \(j)]")
                        } else if !agree(v, r, rtol: 2e-5, atol: 2e-6) {
                            Issue.record("\(kind) \(isaName(isa)) [\(i), \(j)]: \(v) vs \(r)"); return
                        }
                    }
                }
            }
        }
    }

    /// `count` overlapping (prediction, target) pairs with sides in [3, 12], for finite differences.
    static func overlappingPairs(seed: UInt64, count: Int) -> (p: [Float], t: [Float]) {
        var rng = SeededRandom(seed: seed)
        var p: [Float] = [], t: [Float] = []
        for _ in 0..<count {
            let x = Float.random(in: 0...20, using: &rng), y = Float.random(in: 0...20, using: &rng)
            p += [x, y, x + Float.random(in: 3...12, using: &rng), y + Float.random(in: 3...12, using: &rng)]
            let dx = Float.random(in: -4...4, using: &rng), dy = Float.random(in: -4...4, using: &rng)
            t += [x + dx, y + dy, x + dx + Float.random(in: 3...12, using: &rng), y + dy + Float.random(in: 3...12, using: &rng)]
        }
        return (p, t)
    }

    @Test("gradient check: finite differences")
    func gradientCheck() throws {
        let (p, t) = Self.overlappingPairs(seed: 9, count: 12)
        for (_, kind) in Self.lossOps where kind != .complete {
            for exec in [Execution.portable, .default] {
                let analytic = try boxIoULoss(kind, predictions: p, targets: t, reduction: .none, execution: exec).gradient!
                let numeric = try finiteDifferenceGradient(at: p, relativeStep: 1e-3, minimumStep: 1e-3) { probe in
                    try boxIoULoss(kind, predictions: probe, targets: t, reduction: .none, computeGradient: false,
                                   execution: exec).unreduced!
                }
                // CIoU holds alpha constant (torch.no_grad), so its gradient is not the derivative of
                // its value: the differential test checks it against the dual-number twin instead.
                for i in p.indices {
                    #expect(isClose(Double(analytic[i]), numeric[i], rtol: 5e-3, atol: 2e-4),
                            "\(kind) \(exec.backend) [\(i / 4)][\(i % 4)]: \(analytic[i]) vs \(numeric[i])")
                }
            }
        }
    }

    @Test("bad input")
    func badInput() {
        #expect(throws: LossKitError.self) { try boxIoUMatrix([0, 0, 1], [0, 0, 1, 1]) }
        #expect(throws: LossKitError.self) { try boxIoULoss(.generalized, predictions: [0, 0, 1, 1], targets: [0, 0, 1, 1, 2, 2, 3, 3]) }
        #expect(throws: LossKitError.self) { try boxIoULoss(.iou, predictions: [0, 0, 1, 1], targets: [0, 0, 1, 1]) }
        #expect(throws: LossKitError.self) { try boxIoULoss(.distance, predictions: [0, 0, 1, 1], targets: [0, 0, 1, 1], eps: -1) }
        var out = [Float](repeating: -9, count: 4)
        let b: [Float] = [0, 0, 1, 1]
        #expect(losskit_box_iou_matrix(losskit_iou_kind(rawValue: 9), LOSSKIT_BOX_XYXY, b, 1, b, 1, &out, 1) == -1)
        #expect(losskit_box_iou_matrix(LOSSKIT_IOU, losskit_box_format(rawValue: 3), b, 1, b, 1, &out, 1) == -2)
        #expect(losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, nil, 1, b, 1, &out, 1) == -3)
        #expect(losskit_box_iou_matrix(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, b, Int.max / 2, b, Int.max / 2, &out, 1) < 0)
        #expect(losskit_box_iou_loss(LOSSKIT_IOU, LOSSKIT_BOX_XYXY, b, b, 1, 1e-7, LOSSKIT_REDUCTION_SUM, &out, nil, 1) == -1)
        #expect(losskit_box_iou_loss(LOSSKIT_GIOU, losskit_box_format(rawValue: 7), b, b, 1, 1e-7, LOSSKIT_REDUCTION_SUM, &out, nil, 1) == -2)
        #expect(out.allSatisfy { $0 == -9 })
    }

    @Test("thread-count determinism")
    func determinism() throws {
        let a = Self.boxSets(seed: 5, n: 3000), b = Self.boxSets(seed: 6, n: 100)
        for kind in IoUKind.allCases {
            try forEachISA { _ in
                let one = try boxIoUMatrix(a, b, kind: kind, execution: Execution(threads: 1))
                let many = try boxIoUMatrix(a, b, kind: kind, execution: Execution(threads: nil))
                #expect(sameBits(one, many), "\(kind)")
            }
        }
    }

    /// `count` corner-form boxes, corners in [-20, 100], sides in `sides`.
    static func randomBoxes(_ count: Int, sides: ClosedRange<Float>, using rng: inout SeededRandom) -> [Float] {
        (0..<count).flatMap { _ -> [Float] in
            let x = Float.random(in: -20...100, using: &rng), y = Float.random(in: -20...100, using: &rng)
            return [x, y, x + Float.random(in: sides, using: &rng), y + Float.random(in: sides, using: &rng)]
        }
    }

    /// The IoU matrix written `offset` floats into a buffer with guard cells
    /// on both sides; whether the guards are intact.
    static func iouAtOffset(_ a: [Float], _ b: [Float], offset: Int, guardValue: Float) throws -> (out: [Float], guarded: Bool) {
        let count = (a.count / 4) * (b.count / 4)
        var buffer = [Float](repeating: guardValue, count: count + 32)
        try a.withUnsafeBufferPointer { a in
            try b.withUnsafeBufferPointer { b in
                try buffer.withUnsafeMutableBufferPointer { all in
                    try boxIoUMatrix(a, b, into: UnsafeMutableBufferPointer(rebasing: all[offset..<(offset + count)]))
                }
            }
        }
        let guarded = buffer[..<offset].allSatisfy { $0 == guardValue } && buffer[(offset + count)...].allSatisfy { $0 == guardValue }
        return (Array(buffer[offset..<(offset + count)]), guarded)
    }

    @Test("plain IoU as one aligned run: every output offset, widths around the vector width, task seams, streamed stores")
    func alignedRun() throws {
        // The kernel writes rows r0..r1 as vectors on the output's aligned
        // boundaries, a vector crossing a row end joining two row boxes:
        // every start offset of the output, row widths that end mid-vector,
        // and guard cells on both sides that must stay untouched.
        var rng = SeededRandom(seed: 31)
        func boxes(_ count: Int) -> [Float] { Self.randomBoxes(count, sides: 0...40, using: &rng) }
        let guardValue: Float = -7
        for m in [16, 17, 23, 31, 32, 33, 48, 100] {
            let a = boxes(45) + [0, 0, 0, 0, 3, 3, 3, 3], b = boxes(m - 1) + [0, 0, 0, 0]
            let reference = try boxIoUMatrix(a, b, execution: .portable)
            try forEachISA { isa in
                for offset in 0..<16 {
                    let (out, guarded) = try Self.iouAtOffset(a, b, offset: offset, guardValue: guardValue)
                    #expect(guarded, "m \(m) offset \(offset) \(isaName(isa)): wrote outside the output")
                    if let i = out.indices.first(where: { !agree(out[$0], reference[$0], rtol: 2e-5, atol: 2e-6) }) {
                        Issue.record("m \(m) offset \(offset) \(isaName(isa)) [\(i / m), \(i % m)]: \(out[i]) vs \(reference[i])")
                        return
                    }
                }
            }
        }
        // Several tasks a thread, and a matrix large enough (> 4 MiB) to be
        // streamed: all of it from one thread, every other task's from two
        // (the rest stored ordinarily): the same bits.
        let a = boxes(12_000), b = boxes(100)
        try forEachISA { isa in
            let one = try boxIoUMatrix(a, b, execution: Execution(threads: 1))
            let two = try boxIoUMatrix(a, b, execution: Execution(threads: 2))
            #expect(sameBits(one, two), "\(isaName(isa))")
            for i in stride(from: 0, to: one.count, by: 997) {
                let r = try boxIoUMatrix(Array(a[4 * (i / 100)..<4 * (i / 100) + 4]), Array(b[4 * (i % 100)..<4 * (i % 100) + 4]), execution: .portable)[0]
                if !agree(one[i], r, rtol: 2e-5, atol: 2e-6) { Issue.record("\(isaName(isa)) pair \(i): \(one[i]) vs \(r)"); break }
            }
        }
    }

    @Test("plain IoU's column phase copies and positive-union vectors: the scalar path's values, any output offset, degenerate rows")
    func phaseCopiesAndPositiveUnions() throws {
        // From 64 rows the kernel reads the columns from copies aligned to
        // each row's starting phase (the copies hold the same values: what
        // this can catch is a copy that is wrong or too short), and a row
        // with a finite positive normal area (against columns whose areas
        // are finite and >= 0) skips the union's zero test. Rows that cannot
        // (zero, subnormal or infinite area, NaN) are spread through the
        // rows, and with m = 1000 through three tasks; a column of infinite
        // area turns the shortcut off for the whole matrix.
        // Every case must give the scalar path's values exactly, and the
        // finite ones the portable twin's.
        var rng = SeededRandom(seed: 47)
        func boxes(_ count: Int) -> [Float] { Self.randomBoxes(count, sides: 0.5...40, using: &rng) }
        let odd: [[Float]] = [[3, 3, 3, 3], [0, 4, 9, 4], [5, 5, 5, 9], [1, 9, 1, 9], [0, 0, .infinity, 5],
                              [-.infinity, 0, 5, 5], [.infinity, .infinity, .infinity, .infinity], [0, 0, .nan, 1],
                              [1e-30, 1e-30, 2e-30, 2e-30], /* subnormal area */ [0, 0, 1e-20, 1e-20], [-1e6, -1e6, 1e6, 2e6]]
        var a = boxes(150)
        for (k, box) in odd.enumerated() { a.replaceSubrange((4 * (7 + 13 * k))..<(4 * (8 + 13 * k)), with: box) }
        let n = a.count / 4
        let finiteRow = (0..<n).map { i in a[(4 * i)..<(4 * i + 4)].allSatisfy { $0.isFinite } }
        func same(_ x: Float, _ y: Float) -> Bool { x == y || (x.isNaN && y.isNaN) }
        for m in [16, 17, 20, 24, 31, 36, 100, 101, 1000] { // 1000: three tasks of 65 rows
            let positive = boxes(m), mixed = boxes(m - 1) + [2, 0, .infinity, 8] // an infinite area
            for b in [positive, mixed] {
                let portable = try boxIoUMatrix(a, b, execution: .portable)
                var scalar: [Float] = []
                try forEachISA { isa in
                    for offset in [0, 1, 3, 4, 8, 13] {
                        let (out, guarded) = try Self.iouAtOffset(a, b, offset: offset, guardValue: -7)
                        #expect(guarded, "m \(m) offset \(offset) \(isaName(isa)): wrote outside the output")
                        if isa == LOSSKIT_ISA_SCALAR && offset == 0 { scalar = out }
                        if let i = out.indices.first(where: { !same(out[$0], scalar[$0]) }) {
                            Issue.record("m \(m) offset \(offset) \(isaName(isa)) [\(i / m), \(i % m)] row \(a[(4 * (i / m))..<(4 * (i / m) + 4)]): \(out[i]) vs scalar \(scalar[i])")
                            return
                        }
                        if let i = out.indices.first(where: { finiteRow[$0 / m] && !agree(out[$0], portable[$0], rtol: 2e-5, atol: 2e-6) }) {
                            Issue.record("m \(m) offset \(offset) \(isaName(isa)) [\(i / m), \(i % m)]: \(out[i]) vs portable \(portable[i])")
                            return
                        }
                    }
                }
            }
        }
    }

    @Test("conversions round-trip")
    func conversions() throws {
        let xyxy: [Float] = [1, 2, 5, 10, -3, -3, 3, 3]
        let c = try boxesCornerToCenter(xyxy)
        #expect(c == [3, 6, 4, 8, 0, 0, 6, 6])
        #expect(try boxesCenterToCorner(c) == xyxy)
    }
}
