// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "facejnd",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "facejnd", targets: ["facejnd"]),
        .library(name: "MediaIO", targets: ["MediaIO"]),
        .library(name: "RateControl", targets: ["RateControl"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "FaceAnalysis", targets: ["FaceAnalysis"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "CompressionPipeline", targets: ["CompressionPipeline"]),
        .library(name: "FaceQuality", targets: ["FaceQuality"]),
        .library(name: "JNDPredictor", targets: ["JNDPredictor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Public API

        .executableTarget(
            name: "facejnd",
            dependencies: [
                "CompressionPipeline", "MediaIO", "RateControl", "FaceAnalysis", "FaceQuality", "JNDPredictor", "TensorCore", "NeuralNet",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "CompressionPipeline", dependencies: ["MediaIO", "RateControl", "TensorCore", "NeuralNet", "FaceAnalysis", "FaceQuality", "JNDPredictor"]),
        .target(name: "MediaIO", dependencies: ["CFFmpeg"]),
        .target(name: "RateControl", dependencies: []),
        .target(name: "TensorCore", dependencies: ["COpenBLAS"]),
        .target(name: "NeuralNet", dependencies: ["TensorCore"]),
        .target(name: "FaceAnalysis", dependencies: ["NeuralNet", "TensorCore"]),
        .target(name: "JNDPredictor", dependencies: ["NeuralNet", "TensorCore"], resources: [.copy("Resources")]),
        .target(name: "FaceQuality", dependencies: ["FaceAnalysis", "NeuralNet"], resources: [.copy("Resources")]),

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
        .target(name: "_TestSupport", dependencies: ["TensorCore", "NeuralNet", "MediaIO"]),

        // MARK: - Tests

        .testTarget(name: "MediaIOTests", dependencies: ["MediaIO", "CompressionPipeline", "RateControl", "_TestSupport"]),
        .testTarget(name: "RateControlTests", dependencies: ["RateControl"]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "NeuralNet", "_TestSupport"]),
        .testTarget(name: "JNDPredictorTests", dependencies: ["JNDPredictor", "NeuralNet", "TensorCore"]),
        .testTarget(name: "FaceQualityTests", dependencies: ["FaceQuality", "FaceAnalysis", "NeuralNet", "MediaIO", "CompressionPipeline", "_TestSupport"]),
        .testTarget(
            name: "FaceAnalysisTests",
            dependencies: ["FaceAnalysis", "MediaIO", "CompressionPipeline", "_TestSupport"],
            exclude: ["Fixtures"]  // read from the source tree by path, not bundled
        ),
        .testTarget(name: "PipelineTests", dependencies: ["CompressionPipeline", "FaceAnalysis", "FaceQuality", "JNDPredictor", "NeuralNet", "MediaIO", "TensorCore", "_TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["facejnd", "_TestSupport", "MediaIO", "CompressionPipeline"]),
    ],
    swiftLanguageModes: [.v6]
)
