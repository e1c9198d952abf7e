// swift-tools-version:6.0
import PackageDescription

// MARK: - Public API
let products: [Product] = [
    .library(name: "LossKit", targets: ["LossKit"]),
    .library(name: "CLossKit", targets: ["CLossKit"]),
    // Swift autodiff: `gradient(at:of:)` through every loss (import _Differentiation).
    .library(name: "LossKitDifferentiation", targets: ["LossKitDifferentiation"]),
    .executable(name: "losskit-bench", targets: ["LossKitBenchmarks"]),
    // `losskit-eval coco|voc|reid|landmarks`: the papers' evaluation from files.
    .executable(name: "losskit-eval", targets: ["LossKitEval"]),
]

// MARK: - Implementation details
// BLAS / LAPACK, the one platform difference, decided per target platform
// (not by the OS the manifest runs on): Accelerate on Apple platforms (its
// CBLAS and CLAPACK; CKernels/blas.h holds the matching #ifdef __APPLE__),
// OpenBLAS + LAPACKE elsewhere. lapacke: the module map's link line only
// reaches Swift importers, and the C target calls it.
let applePlatforms: [Platform] = [.macOS, .iOS, .tvOS, .watchOS, .visionOS, .macCatalyst]
let otherPlatforms: [Platform] = [.linux, .android, .openbsd, .windows, .wasi]
let blasLink: [LinkerSetting] = [
    .linkedFramework("Accelerate", .when(platforms: applePlatforms)),
    .linkedLibrary("lapacke", .when(platforms: otherPlatforms)),
    .linkedLibrary("m", .when(platforms: otherPlatforms)),
]
let blasDependency: [Target.Dependency] = [.target(name: "COpenBLAS", condition: .when(platforms: otherPlatforms))]

let targets: [Target] = [
    // OpenBLAS + LAPACKE from the system (Debian: apt install libopenblas-dev liblapacke-dev).
    .systemLibrary(
        name: "COpenBLAS",
        path: "Sources/COpenBLAS",
        pkgConfig: "openblas",
        providers: [.apt(["libopenblas-dev", "liblapacke-dev"]), .brew(["openblas", "lapack"])]
    ),
    // The hot loops. C11, runtime SIMD dispatch, no compiler flags needed.
    .target(
        name: "CLossKit",
        dependencies: blasDependency,
        path: "CKernels",
        exclude: ["README.md"],
        cSettings: [.define("LOSSKIT_BUILDING")],
        linkerSettings: blasLink
    ),
    // Shape checks, typed errors and the Swift API; Portable/ holds the plain-Swift twins.
    .target(
        name: "LossKit",
        dependencies: ["CLossKit"],
        path: "Sources/LossKit",
        exclude: ["README.md"]
    ),
    // `@derivative(of:)` registrations: the fused gradients as pullbacks.
    .target(
        name: "LossKitDifferentiation",
        dependencies: ["LossKit"],
        path: "Sources/LossKitDifferentiation",
        exclude: ["README.md"]
    ),
    // `make bench`: the workloads of Benchmarks/README.md, and the machine's own ceilings.
    .target(
        name: "CBenchSupport",
        dependencies: blasDependency,
        path: "Benchmarks/CBenchSupport",
        linkerSettings: blasLink
    ),
    .executableTarget(
        name: "LossKitBenchmarks",
        dependencies: ["LossKit", "CLossKit", "CBenchSupport"],
        path: "Benchmarks/LossKitBenchmarks",
        // A single-threaded command-line tool with global workload tables.
        swiftSettings: [.swiftLanguageMode(.v5)]
    ),

    // The evaluation command; the only target that parses command lines (swift-argument-parser).
    .executableTarget(
        name: "LossKitEval",
        dependencies: ["LossKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
        path: "Sources/LossKitEval"
    ),

    // MARK: - Test bundles
    // Fixture loader, finite differences and the ISA switch, shared by every test bundle.
    .target(
        name: "_TestSupport",
        dependencies: ["LossKit", "CLossKit"],
        path: "Sources/_TestSupport"
    ),
    .testTarget(
        name: "LossKitTests",
        dependencies: ["LossKit", "CLossKit", "_TestSupport"],
        path: "Tests/LossKitTests",
        exclude: ["Fixtures"]
    ),
    .testTarget(
        name: "LossKitDifferentiationTests",
        dependencies: ["LossKit", "LossKitDifferentiation"],
        path: "Tests/LossKitDifferentiationTests"
    ),
]

// `make docs`: the DocC catalog (Sources/LossKit/LossKit.docc) through the plugin.
let dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    // `losskit-eval`'s command line only; the libraries do not depend on it.
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
]

let package = Package(
    name: "LossKit",
    products: products,
    dependencies: dependencies,
    targets: targets,
    cLanguageStandard: .c11
)
