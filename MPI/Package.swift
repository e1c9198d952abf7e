// swift-tools-version:6.0
import PackageDescription

// LossKitMPI: data-parallel TriHard over MPI (Open MPI), a package of its own so
// that LossKit itself never needs MPI. It uses LossKit exactly as an app would,
// through the "LossKit" product of the package one folder up, and the TriHard
// embedding experiment of ../Examples (its "TriHardExample" product).
//
//     make test-mpi        (installs Open MPI when missing, builds, runs both programs under mpirun)
//
// SwiftPM names a path dependency after its folder (lowercased), not after its
// manifest, so the checkout's folder name ("main", "LossKit", ...) is what
// `.product(name:package:)` must say; ../Examples is always "examples".
let lossKitFolder = String(Context.packageDirectory.split(whereSeparator: { $0 == "/" || $0 == "\\" }).dropLast().last ?? "LossKit")
let lossKit: Target.Dependency = .product(name: "LossKit", package: lossKitFolder)

let package = Package(
    name: "LossKitMPI",
    products: [
        .library(name: "LossKitMPI", targets: ["LossKitMPI"]),
        // the equivalence check: distributed TriHard against one process's batch TriHard
        .executable(name: "losskit-mpi-check", targets: ["losskit-mpi-check"]),
        // the TriHard embedding example with the batch split over the ranks
        .executable(name: "trihard-embeddings-mpi", targets: ["trihard-embeddings-mpi"]),
    ],
    dependencies: [
        .package(path: ".."),
        .package(path: "../Examples"),
    ],
    targets: [
        // Open MPI's C API from the system (Debian: apt install libopenmpi-dev openmpi-bin),
        // with a header of static inline functions for the handles that are macros
        // (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) and do not import into Swift.
        .systemLibrary(
            name: "CMPI",
            path: "Sources/CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"]), .brew(["open-mpi"])]
        ),
        .target(name: "LossKitMPI", dependencies: ["CMPI", lossKit], path: "Sources/LossKitMPI"),
        .executableTarget(
            name: "losskit-mpi-check",
            dependencies: ["LossKitMPI", lossKit, .product(name: "TriHardExample", package: "examples")],
            path: "Sources/losskit-mpi-check"
        ),
        .executableTarget(
            name: "trihard-embeddings-mpi",
            dependencies: ["LossKitMPI", lossKit, .product(name: "TriHardExample", package: "examples")],
            path: "Sources/trihard-embeddings-mpi"
        ),
    ]
)
