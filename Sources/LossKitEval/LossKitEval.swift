import ArgumentParser
import Foundation

/// `losskit-eval`: the evaluation the seed papers report, from files.
///
/// Each evaluation is a subcommand in a file of its own; `evaluationCommands`
/// (Commands.swift) lists them.
@main
struct LossKitEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "losskit-eval",
        abstract: "Evaluate like the papers: detection AP (COCO, VOC), re-id CMC / mAP, landmark NME / CED.",
        discussion: "Add --json to any subcommand for one JSON object on stdout.",
        subcommands: evaluationCommands
    )
}

/// A progress line on stderr (stdout stays the result alone).
func progress(_ line: String) {
    FileHandle.standardError.write("losskit-eval: \(line)\n".data(using: .utf8)!)
}
