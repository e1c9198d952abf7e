import LossKit

/// SSD300's 8732 default boxes (cx, cy, w, h), as ssd.pytorch's PriorBox for VOC.
func ssd300Priors() -> [Float] {
    let maps = [38, 19, 10, 5, 3, 1], steps: [Float] = [8, 16, 32, 64, 100, 300]
    let minSizes: [Float] = [30, 60, 111, 162, 213, 264], maxSizes: [Float] = [60, 111, 162, 213, 264, 315]
    let ratios: [[Float]] = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
    var out: [Float] = []
    for (k, f) in maps.enumerated() {
        for i in 0..<f { for j in 0..<f {
            let fk = 300 / steps[k], cx = (Float(j) + 0.5) / fk, cy = (Float(i) + 0.5) / fk
            let s = minSizes[k] / 300, sPrime = (s * maxSizes[k] / 300).squareRoot()
            out += [cx, cy, s, s, cx, cy, sPrime, sPrime]
            for r in ratios[k] { out += [cx, cy, s * r.squareRoot(), s / r.squareRoot(), cx, cy, s / r.squareRoot(), s * r.squareRoot()] }
        } }
    }
    return out
}

/// Detection workloads of BENCHMARKS.md.
let detectionWorkloads: [Workload] = [
    Workload(name: "box_iou_100k_x100", shape: "100,000 x 100 boxes") { quick in
        let n = quick ? 10_000 : 100_000, m = 100
        var rng = BenchRandom(state: 11)
        func boxes(_ count: Int) -> [Float] {
            (0..<count).flatMap { _ -> [Float] in
                let x = Float.random(in: 0...280, using: &rng), y = Float.random(in: 0...280, using: &rng)
                return [x, y, x + Float.random(in: 4...120, using: &rng), y + Float.random(in: 4...120, using: &rng)]
            }
        }
        let a = boxes(n), b = boxes(m)
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * m) // reused across runs, as a trainer would
        out.initialize(repeating: 0)
        // forward only; each pair reads two boxes from cache and writes one float
        return PreparedWorkload(work: Double(n * m) , unit: "Gpairs/s",
                                ceiling: .bandwidth(bytes: Double(4 * n * m + 16 * n))) { execution in
            try a.withUnsafeBufferPointer { a in
                try b.withUnsafeBufferPointer { b in try boxIoUMatrix(a, b, into: out, execution: execution) }
            }
        }
    },
    Workload(name: "multibox_ssd300_b32", shape: "batch 32, 8732 priors, 21 classes, 6 GT per image") { quick in
        let batch = quick ? 4 : 32, classes = 21
        let priors = ssd300Priors()
        let p = priors.count / 4
        var rng = BenchRandom(state: 5)
        let loc = rng.normal(batch * p * 4, std: 1), conf = rng.normal(batch * p * classes, std: 2)
        var truths: [[Float]] = [], labels: [[Int]] = []
        for _ in 0..<batch {
            var t: [Float] = []
            for _ in 0..<6 {
                let x = Float.random(in: 0...0.7, using: &rng), y = Float.random(in: 0...0.7, using: &rng)
                t += [x, y, x + Float.random(in: 0.05...0.3, using: &rng), y + Float.random(in: 0.05...0.3, using: &rng)]
            }
            truths.append(t)
            labels.append((0..<6).map { _ in Int.random(in: 0..<(classes - 1), using: &rng) })
        }
        // reads loc and conf, writes both gradients
        let bytes = Double(2 * 4 * batch * p * (4 + classes))
        // gradient buffers reused across steps, as a training loop would (the C path); the portable
        // twin runs through the array API
        let gLoc = UnsafeMutableBufferPointer<Float>.allocate(capacity: loc.count)
        let gConf = UnsafeMutableBufferPointer<Float>.allocate(capacity: conf.count)
        gLoc.initialize(repeating: 0)
        gConf.initialize(repeating: 0)
        return PreparedWorkload(work: Double(batch * p), unit: "Mpriors/s", ceiling: .bandwidth(bytes: bytes)) { execution in
            if execution.backend == .portable {
                _ = try multiBoxLoss(loc: loc, conf: conf, priors: priors, truths: truths, labels: labels, classes: classes,
                                     execution: execution)
                return
            }
            try loc.withUnsafeBufferPointer { l in
                try conf.withUnsafeBufferPointer { c in
                    _ = try multiBoxLoss(loc: l, conf: c, priors: priors, truths: truths, labels: labels, classes: classes,
                                         locGradient: gLoc, confGradient: gConf, threads: execution.threads)
                }
            }
        }
    },
]

