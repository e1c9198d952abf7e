import ArgumentParser

/// The subcommands of `losskit-eval`, in the order `--help` lists them.
let evaluationCommands: [ParsableCommand.Type] = [
    COCOCommand.self,
    VOCCommand.self,
    ReIDCommand.self,
    LandmarksCommand.self,
]
