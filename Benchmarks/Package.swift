// swift-tools-version:6.1
import PackageDescription

// A separate package so that the benchmark framework stays out of facejnd's own dependency graph.
let package = Package(
    name: "facejnd-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ModelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FaceAnalysis", package: "main"),
                .product(name: "MediaIO", package: "main"),
                .product(name: "TensorCore", package: "main"),
            ],
            path: "Benchmarks/ModelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "JNDBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CompressionPipeline", package: "main"),
                .product(name: "FaceAnalysis", package: "main"),
                .product(name: "Perception", package: "main"),
                .product(name: "MediaIO", package: "main"),
                .product(name: "TensorCore", package: "main"),
            ],
            path: "Benchmarks/JNDBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DetectorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FaceAnalysis", package: "main"),
                .product(name: "MediaIO", package: "main"),
                .product(name: "NeuralNet", package: "main"),
                .product(name: "TensorCore", package: "main"),
            ],
            path: "Benchmarks/DetectorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TensorCore", package: "main"),
                .product(name: "NeuralNet", package: "main"),
            ],
            path: "Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
