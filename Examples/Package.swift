// swift-tools-version:6.0
import PackageDescription

// Example programs that use LossKit exactly as an app would: through the
// "LossKit" product of the package one folder up.
//
//     swift run --package-path Examples -c release trihard-embeddings --quick
//     swift run --package-path Examples -c release wing-landmarks --quick
// SwiftPM names a path dependency after its folder (lowercased), not after its
// manifest, so the checkout's folder name ("main", "LossKit", ...) is what
// `.product(name:package:)` must say.
let lossKitFolder = String(Context.packageDirectory.split(whereSeparator: { $0 == "/" || $0 == "\\" }).dropLast().last ?? "LossKit")

let package = Package(
    name: "LossKitExamples",
    products: [
        .executable(name: "trihard-embeddings", targets: ["trihard-embeddings"]),
        .executable(name: "wing-landmarks", targets: ["wing-landmarks"]),
        // the TriHard embedding experiment (data, model, evaluation, SGD loop), for MPI/'s distributed run
        .library(name: "TriHardExample", targets: ["TriHardExample", "ExampleSupport"]),
    ],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        // the seeded random stream and formatting both programs use
        .target(name: "ExampleSupport", path: "Sources/ExampleSupport"),
        .target(
            name: "TriHardExample",
            dependencies: ["ExampleSupport", .product(name: "LossKit", package: lossKitFolder)],
            path: "Sources/TriHardExample"
        ),
        .executableTarget(
            name: "trihard-embeddings",
            dependencies: ["ExampleSupport", "TriHardExample", .product(name: "LossKit", package: lossKitFolder)],
            path: "Sources/trihard-embeddings"
        ),
        .executableTarget(
            name: "wing-landmarks",
            dependencies: ["ExampleSupport", .product(name: "LossKit", package: lossKitFolder)],
            path: "Sources/wing-landmarks"
        ),
    ]
)
