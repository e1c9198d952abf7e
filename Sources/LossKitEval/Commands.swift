import ArgumentParser

/// The subcommands of `losskit-eval`, in the order `--help` lists them.
let evaluationCommands: [ParsableCommand.Type] = [
    ReIDCommand.self,
    LandmarksCommand.self,
]
