import Benchmark
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore

// Model benchmarks. Run from Benchmarks/: `swift package benchmark --target ModelBenchmarks`.
// "1 thread" pins OpenBLAS to one thread; "all threads" lets it use every core.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(5), maxIterations: 50)
    guard ModelDirectory.default.isComplete else {
        print("dlib models missing: run scripts/fetch-models")
        return
    }
    let analyzer = try! FaceAnalyzer()
    let frame = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/FaceAnalysisTests/Fixtures/openmpf_group_video_01_01.png").path
    let vga = RGBImage(width: 640, height: 480, pixels: try! ImageFile.loadRGB(path: frame).pixels)
    let hd = FaceDetectorResize.resize(vga, width: 1280, height: 720)
    let faces = try! analyzer.analyze(vga, upsample: 0)
    let chip = FaceChip.extract(vga, FaceChip.placement(landmarks: faces[0].landmarks))

    // Throughput as the video pipeline runs the models: several inputs at once, one single-threaded pass per core
    // (a single pass keeps OpenBLAS busy on only ~1.3 of 2 cores). Divide the time by the batch size for the cost
    // per input.
    let cores = ProcessInfo.processInfo.activeProcessorCount
    Benchmark("FaceEmbedder.embed 150x150, batch of \(4 * cores) chips, one pass per core") { benchmark in
        BLAS.setThreads(1)
        nonisolated(unsafe) let spaces = (0..<cores).map { _ in Workspace() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            DispatchQueue.concurrentPerform(iterations: cores) { w in
                for _ in 0..<4 { blackHole(analyzer.embedder.embed(chip: chip, workspace: spaces[w])) }
            }
        }
    }
    Benchmark(
        "FaceDetector.detect 640x480 upsample 0, batch of \(cores) frames, one pass per core",
        configuration: .init(maxDuration: .seconds(10), maxIterations: 20)
    ) { benchmark in
        BLAS.setThreads(1)
        nonisolated(unsafe) let spaces = (0..<cores).map { _ in Workspace() }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            DispatchQueue.concurrentPerform(iterations: cores) { w in blackHole(try! analyzer.detector.detect(vga, upsample: 0, workspace: spaces[w]))
            }
        }
    }

    for threads in [1, ProcessInfo.processInfo.activeProcessorCount] {
        let label = threads == 1 ? "1 thread" : "all threads"
        Benchmark("FaceEmbedder.embed 150x150 (\(label))") { benchmark in
            BLAS.setThreads(threads)
            let ws = Workspace()
            _ = analyzer.embedder.embed(chip: chip, workspace: ws)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(analyzer.embedder.embed(chip: chip, workspace: ws)) }
        }
        for (name, image) in [("640x480", vga), ("1280x720", hd)] {
            for upsample in [0, 1] {
                Benchmark(
                    "FaceDetector.detect \(name) upsample \(upsample) (\(label))",
                    configuration: .init(maxDuration: .seconds(10), maxIterations: upsample == 0 ? 20 : 5)
                ) { benchmark in
                    BLAS.setThreads(threads)
                    let ws = Workspace()
                    _ = try analyzer.detector.detect(image, upsample: upsample, workspace: ws)
                    benchmark.startMeasurement()
                    for _ in benchmark.scaledIterations { blackHole(try analyzer.detector.detect(image, upsample: upsample, workspace: ws)) }
                }
            }
        }
        Benchmark("LandmarkPredictor.predict 5 points (\(label))") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(analyzer.landmarks.predict(vga, box: faces[0].box)) }
        }
        Benchmark("FaceChip.extract 150x150 (\(label))") { benchmark in
            let p = FaceChip.placement(landmarks: faces[0].landmarks)
            for _ in benchmark.scaledIterations { blackHole(FaceChip.extract(vga, p)) }
        }
    }
}

/// Scales the VGA test frame to 720p for the larger detection benchmark.
enum FaceDetectorResize {
    static func resize(_ src: RGBImage, width: Int, height: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let sx = x * src.width / width, sy = y * src.height / height
                for k in 0..<3 { out[(y * width + x) * 3 + k] = src.pixels[(sy * src.width + sx) * 3 + k] }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }
}
