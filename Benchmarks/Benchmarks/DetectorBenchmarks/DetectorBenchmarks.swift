import Benchmark
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore

// The fast detector against MMOD, one frame at a time with all threads (as `encode` runs a detection frame).
// Run from Benchmarks/: `swift package --disable-sandbox benchmark --target DetectorBenchmarks`.
// The claims in docs/detector.md are ratios between rows of the same run.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock], maxDuration: .seconds(10), maxIterations: 20)
    guard ModelDirectory.default.isComplete else {
        print("models missing: run scripts/fetch-models")
        return
    }
    let analyzer = try! FaceAnalyzer()
    let fast = try! analyzer.fastDetector()
    let frame = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/FaceAnalysisTests/Fixtures/openmpf_group_video_01_01.png").path
    let vga = try! ImageFile.loadRGB(path: frame)
    let fullHD = Resampler.resize(vga, width: 1920, height: 1080)
    let threads = ProcessInfo.processInfo.activeProcessorCount

    for (name, image) in [("640x480", vga), ("1920x1080", fullHD)] {
        Benchmark("fast min-face 20, \(name) (all threads)") { benchmark in
            BLAS.setThreads(threads)
            let ws = Workspace()
            _ = try fast.detect(image, minFace: 20, workspace: ws)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try fast.detect(image, minFace: 20, workspace: ws)) }
        }
        for upsample in name == "640x480" ? [0] : [0, 1] {
            Benchmark(
                "mmod upsample \(upsample), \(name) (all threads)",
                configuration: .init(metrics: [.wallClock], maxDuration: .seconds(20), maxIterations: upsample == 0 ? 10 : 3)
            ) { benchmark in
                BLAS.setThreads(threads)
                let ws = Workspace()
                _ = try analyzer.detector.detect(image, upsample: upsample, workspace: ws)
                benchmark.startMeasurement()
                for _ in benchmark.scaledIterations { blackHole(try analyzer.detector.detect(image, upsample: upsample, workspace: ws)) }
            }
        }
    }
}
