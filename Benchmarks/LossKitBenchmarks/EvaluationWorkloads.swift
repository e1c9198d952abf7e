import Foundation
import LossKit

/// COCO-val-sized detection data, as Benchmarks/peers/make_coco_fixture.py's `bench_data()`
/// draws it: 80 categories (the last without ground truth), ~7 ground truths of up to 3
/// categories per image (1% crowd, 1% empty images, mask areas below the box area), 100
/// detections per image (half jittered copies of a ground truth, half random boxes), scores
/// with 4 decimals (ties).
func cocoBenchData(images: Int, seed: UInt64) -> (COCOGroundTruth, COCODetections) {
    var rng = BenchRandom(state: seed)
    let categoryIds = (0..<80).map { 3 * $0 + 1 }
    let gtCategories = Array(categoryIds.dropLast())
    var annotations: [COCOGroundTruth.Annotation] = [], detections: [COCODetections.Detection] = []
    func box() -> COCOBox {
        let scale = Double.random(in: log(8.0)...log(300.0), using: &rng), aspect = Double.random(in: -0.7...0.7, using: &rng)
        let w = exp(scale) * exp(aspect / 2), h = exp(scale) / exp(aspect / 2)
        return COCOBox(x: Double.random(in: 0...(640 - min(w, 600)), using: &rng),
                       y: Double.random(in: 0...(480 - min(h, 440)), using: &rng), width: w, height: h)
    }
    for image in 0..<images {
        let imageId = 1 + 7 * image
        let count = Double.random(in: 0..<1, using: &rng) < 0.01 ? 0 : Int.random(in: 1..<14, using: &rng)
        let here = (0..<3).map { _ in gtCategories.randomElement(using: &rng)! }
        var truths: [COCOGroundTruth.Annotation] = []
        for _ in 0..<count {
            let b = box()
            truths.append(.init(id: annotations.count + truths.count + 1, imageId: imageId,
                                categoryId: here.randomElement(using: &rng)!, bbox: b,
                                area: b.width * b.height * Double.random(in: 0.4...1, using: &rng),
                                isCrowd: Double.random(in: 0..<1, using: &rng) < 0.01))
        }
        annotations += truths
        for _ in 0..<100 {
            var b: COCOBox, category: Int
            if !truths.isEmpty && Double.random(in: 0..<1, using: &rng) < 0.5 {
                let g = truths.randomElement(using: &rng)!
                let j = (0..<4).map { _ in Double.random(in: -0.2...0.2, using: &rng) }
                b = COCOBox(x: g.bbox.x + j[0] * g.bbox.width, y: g.bbox.y + j[1] * g.bbox.height,
                            width: g.bbox.width * (1 + j[2]), height: g.bbox.height * (1 + j[3]))
                category = Double.random(in: 0..<1, using: &rng) < 0.85 ? g.categoryId : categoryIds.randomElement(using: &rng)!
            } else {
                b = box()
                category = Double.random(in: 0..<1, using: &rng) < 0.6 ? here.randomElement(using: &rng)! : categoryIds.randomElement(using: &rng)!
            }
            let score = (Double.random(in: 0..<1, using: &rng) * 1e4).rounded() / 1e4
            detections.append(.init(imageId: imageId, categoryId: category, bbox: b, score: score))
        }
    }
    let categories = categoryIds.map { COCOGroundTruth.Category(id: $0, name: "class_\($0)") }
    return (COCOGroundTruth(imageIds: (0..<images).map { 1 + 7 * $0 }, categories: categories, annotations: annotations),
            COCODetections(detections))
}

/// Evaluation workloads of Benchmarks/README.md ("Evaluation").
let evaluationWorkloads: [Workload] = [
    Workload(name: "coco_eval_5000img", shape: "5,000 images, 80 classes, ~7 GT + 100 detections per image") { quick in
        let (gt, dt) = cocoBenchData(images: quick ? 500 : 5000, seed: 2017)
        let (gtPortable, dtPortable) = cocoBenchData(images: quick ? 50 : 500, seed: 2017)
        // evaluate + accumulate + summarize from parsed files; the inputs are read once per run
        let bytes = Double(40 * dt.detections.count + 48 * gt.annotations.count)
        return PreparedWorkload(work: Double(dt.detections.count), unit: "Mdet/s", ceiling: .bandwidth(bytes: bytes),
                                run: { execution in _ = try cocoEvaluate(groundTruth: gt, detections: dt, execution: execution) },
                                portableFraction: 0.1,
                                runPortable: { execution in
                                    _ = try cocoEvaluate(groundTruth: gtPortable, detections: dtPortable, execution: execution)
                                },
                                note: "portable: 1/10 of the images")
    },
]
