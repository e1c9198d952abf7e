import ArgumentParser
import Foundation
import LossKit

/// Arguments shared by `coco` and `voc`: the two files, --json, --threads.
struct DetectionFiles: ParsableArguments {
    @Argument(help: "COCO instances file (ground truth): images, categories, annotations.")
    var groundTruth: String
    @Argument(help: "COCO results file: [{image_id, category_id, bbox, score}, ...].")
    var detections: String
    @Flag(help: "Print one JSON object instead of a table.")
    var json = false
    @Option(help: "At most this many threads (default: every core).")
    var threads: Int?

    /// Both files parsed (progress on stderr), or a clear message and exit code 1.
    func load() throws -> (COCOGroundTruth, COCODetections, Execution) {
        let start = Date()
        progress("reading \(groundTruth)")
        let gt = try report { try COCOGroundTruth(contentsOf: URL(fileURLWithPath: groundTruth)) }
        progress("reading \(detections)")
        let dt = try report { try COCODetections(contentsOf: URL(fileURLWithPath: detections)) }
        progress(String(format: "read %d images, %d ground truths, %d detections in %.2f s; evaluating",
                        gt.imageIds.count, gt.annotations.count, dt.detections.count, Date().timeIntervalSince(start)))
        return (gt, dt, Execution(threads: threads))
    }
}

/// Runs `body`; a LossKitError becomes its message on stderr and exit code 1.
func report<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as LossKitError {
        FileHandle.standardError.write("losskit-eval: \(error.description)\n".data(using: .utf8)!)
        throw ExitCode(1)
    }
}

/// Runs `body` and reports its duration on stderr.
func timed<T>(_ what: String, _ body: () throws -> T) throws -> T {
    let start = Date()
    let value = try report(body)
    progress(String(format: "%@ in %.3f s", what, Date().timeIntervalSince(start)))
    return value
}

struct COCOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coco",
        abstract: "COCO bbox AP / AR: the 12 numbers of pycocotools' COCOeval.summarize().",
        discussion: "Keys: AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs ARm ARl (-1 where pycocotools gives -1)."
    )
    @OptionGroup var files: DetectionFiles

    func run() throws {
        let (gt, dt, execution) = try files.load()
        let result = try timed("evaluated") { try cocoEvaluate(groundTruth: gt, detections: dt, execution: execution) }
        print(files.json ? result.summaryJSON : result.summaryTable)
    }
}

struct VOCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voc",
        abstract: "PASCAL VOC mAP and per-class AP (ssd.pytorch's voc_eval) from COCO-format files.",
        discussion: "An annotation's \"difficult\": 1 marks a difficult box. Default: VOC2010+ area AP at IoU > 0.5."
    )
    @OptionGroup var files: DetectionFiles
    @Flag(help: "VOC2007's 11-point AP instead of the VOC2010+ area.")
    var voc07 = false
    @Flag(help: "Add 1 to widths and heights in the IoU (VOC devkit pixels; ssd.pytorch's voc_eval does not).")
    var plusOne = false
    @Option(help: "IoU a match must exceed.")
    var iouThreshold = 0.5

    func run() throws {
        let (gt, dt, execution) = try files.load()
        let result = try timed("evaluated") {
            try vocEvaluate(groundTruth: gt, detections: dt, metric: voc07 ? .voc07 : .voc2010,
                            iouThreshold: iouThreshold, plusOne: plusOne, execution: execution)
        }
        print(files.json ? result.summaryJSON : result.summaryTable)
    }
}
