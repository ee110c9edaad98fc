import Benchmark
import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Perception
import TensorCore

// The learned JND predictor against the oracle it replaces, on the same faces, in the same run.
// Run from Benchmarks/: `swift package --disable-sandbox benchmark --target JNDBenchmarks`.
// Both single-threaded (the way `encode` runs probes: one per core). Per iteration: every face of the fixture frame.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(10), maxIterations: 30)
    guard ModelDirectory.default.isComplete else {
        print("dlib models missing: run scripts/fetch-models")
        return
    }
    let analyzer = try! FaceAnalyzer()
    let model = try! JNDModel.bundled(codec: "libx264")
    let frame = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/FaceAnalysisTests/Fixtures/openmpf_group_video_01_01.png").path
    let vga = RGBImage(width: 640, height: 480, pixels: try! ImageFile.loadRGB(path: frame).pixels)
    let faces = try! analyzer.analyze(vga, upsample: 0)
    let oracle = JNDOracle(analyzer: analyzer, codec: "libx264", tau: model.header.tau, mode: .crop)

    Benchmark("JND oracle, crop mode, libx264 medium: \(faces.count) faces") { benchmark in
        BLAS.setThreads(1)
        for _ in benchmark.scaledIterations {
            for f in faces { blackHole(try! oracle.measure(vga, face: f).jndQP) }
        }
    }
    Benchmark("JND predictor (decomposition network): \(faces.count) faces") { benchmark in
        BLAS.setThreads(1)
        for _ in benchmark.scaledIterations {
            for f in faces { blackHole(model.predict(vga, face: f, maps: false).prediction.qp) }
        }
    }
    Benchmark("JND predictor with residual map and JND image: \(faces.count) faces") { benchmark in
        BLAS.setThreads(1)
        for _ in benchmark.scaledIterations {
            for f in faces { blackHole(model.predict(vga, face: f, maps: true).prediction.jndImage) }
        }
    }
}
