import LossKit

/// Detection workloads (box_iou_100k_x100; multibox_ssd300_b32 comes with the MultiBox kernel).
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
                try b.withUnsafeBufferPointer { b in try boxIoUMatrix(.iou, a, b, into: out, execution: execution) }
            }
        }
    },
]
