// swift-tools-version:6.1
import PackageDescription

// The folder tree is the architecture (docs/architecture.md). Arrows point down this list and never up;
// scripts/check-layers enforces the table of allowed imports.
//
//   facejnd (CLI) → Studies → CompressionPipeline → { FaceAnalysis, Perception } → NeuralNet → TensorCore
//                                                 → MediaIO → RateControl → TensorCore
// The numeric modules are compiled with optimisation in debug builds too: their kernels are plain Swift loops that
// run 30-100x slower unoptimised, which would make the debug test suite spend minutes in the detectors.
let optimisedEvenInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "facejnd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "facejnd", targets: ["facejnd"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "RateControl", targets: ["RateControl"]),
        .library(name: "MediaIO", targets: ["MediaIO"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "FaceAnalysis", targets: ["FaceAnalysis"]),
        .library(name: "Perception", targets: ["Perception"]),
        .library(name: "CompressionPipeline", targets: ["CompressionPipeline"]),
        .library(name: "Studies", targets: ["Studies"]),
        .library(name: "Archive", targets: ["Archive"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // MARK: - Public API

        .executableTarget(
            name: "facejnd",
            dependencies: [
                "Archive", "Studies", "CompressionPipeline", "Perception", "FaceAnalysis", "MediaIO", "RateControl", "NeuralNet", "TensorCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Research and evaluation: datasets, calibration, baselines, training glue, comparisons. Not the product.
        .target(name: "Archive", dependencies: ["CompressionPipeline", "FaceAnalysis", "MediaIO", "RateControl"]),
        .target(
            name: "Studies", dependencies: ["CompressionPipeline", "Perception", "FaceAnalysis", "MediaIO", "RateControl", "NeuralNet", "TensorCore"]),
        // The product: picture source, analysis, JND probes, encode loop, verifier, transcode, reports.
        .target(name: "CompressionPipeline", dependencies: ["Perception", "FaceAnalysis", "MediaIO", "RateControl", "NeuralNet", "TensorCore"]),
        // The JND: predictor network, model file, trainer, pixel-domain JND, the first-crossing search.
        .target(name: "Perception", dependencies: ["NeuralNet", "TensorCore"], resources: [.copy("Resources")]),
        // dlib's face models and face quality.
        .target(
            name: "FaceAnalysis", dependencies: ["NeuralNet", "TensorCore"], resources: [.copy("Quality/Resources")],
            swiftSettings: optimisedEvenInDebug),
        .target(name: "NeuralNet", dependencies: ["TensorCore"], swiftSettings: optimisedEvenInDebug),
        // FFmpeg only: demux, decode, scale, encode, mux, QP read-back, JPEG.
        .target(name: "MediaIO", dependencies: ["CFFmpeg", "RateControl", "TensorCore"]),
        // Plan schema and the planner: plain values in, plan out.
        .target(name: "RateControl", dependencies: ["TensorCore"]),
        .target(name: "TensorCore", dependencies: ["COpenBLAS"], swiftSettings: optimisedEvenInDebug),

        // MARK: - Implementation details

        .systemLibrary(
            name: "CFFmpeg",
            path: "Sources/CFFmpeg",
            pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "_TestSupport", dependencies: ["TensorCore", "NeuralNet", "MediaIO", "FaceAnalysis"]),

        // MARK: - Tests (one target per module)

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "NeuralNet", "_TestSupport"]),
        .testTarget(name: "RateControlTests", dependencies: ["RateControl", "TensorCore"]),
        .testTarget(name: "MediaIOTests", dependencies: ["MediaIO", "RateControl", "TensorCore", "CompressionPipeline", "_TestSupport"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "TensorCore", "_TestSupport"]),
        .testTarget(
            name: "FaceAnalysisTests",
            dependencies: ["FaceAnalysis", "MediaIO", "NeuralNet", "TensorCore", "CompressionPipeline", "_TestSupport"],
            exclude: ["Fixtures"]  // read from the source tree by path, not bundled
        ),
        .testTarget(name: "PerceptionTests", dependencies: ["Perception", "NeuralNet", "TensorCore"]),
        .testTarget(
            name: "CompressionPipelineTests",
            dependencies: ["CompressionPipeline", "Perception", "FaceAnalysis", "MediaIO", "RateControl", "NeuralNet", "TensorCore", "_TestSupport"]),
        .testTarget(
            name: "StudiesTests",
            dependencies: [
                "Studies", "CompressionPipeline", "Perception", "FaceAnalysis", "MediaIO", "RateControl", "NeuralNet", "TensorCore", "_TestSupport",
            ]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "CompressionPipeline", "_TestSupport"]),
        .testTarget(
            name: "CLITests",
            dependencies: ["facejnd", "_TestSupport", "Archive", "Studies", "MediaIO", "CompressionPipeline", "FaceAnalysis", "TensorCore"]),
    ],
    swiftLanguageModes: [.v6]
)
