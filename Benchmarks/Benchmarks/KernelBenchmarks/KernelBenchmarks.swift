import Benchmark
import Foundation
import NeuralNet
import TensorCore

// Kernel benchmarks: the ResNet's and the detector's typical convolution shapes.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))
    func conv(_ c: Int, _ h: Int, _ w: Int, _ o: Int, _ k: Int, _ s: Int, _ p: Int) {
        Benchmark("Conv2d.forward \(c)x\(h)x\(w)->\(o) k\(k) s\(s)") { benchmark in
            var g = SystemRandomNumberGenerator()
            let layer = Conv2d(
                inputChannels: c, outputChannels: o, kernelH: k, kernelW: k, strideY: s, strideX: s, padY: p, padX: p,
                weights: (0..<(o * c * k * k)).map { _ in Float.random(in: -1...1, using: &g) },
                bias: [Float](repeating: 0, count: o))
            let ws = Workspace()
            let input = FeatureMap(channels: c, height: h, width: w, buffer: ws.borrow())
            var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
            layer.forward(input, into: &out, workspace: ws)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                layer.forward(input, into: &out, workspace: ws)
                blackHole(out.pointer)
            }
        }
    }
    conv(3, 150, 150, 32, 7, 2, 0)
    conv(32, 35, 35, 32, 3, 1, 1)
    conv(128, 8, 8, 128, 3, 1, 1)
    conv(3, 502, 682, 16, 5, 2, 0)
    conv(32, 62, 84, 45, 5, 1, 2)

    // The machine's matrix-product ceiling: a large square sgemm (2·1024³ flops, 1024³ multiply-adds per iteration),
    // on one thread and on all. The ResNet's 271 M multiply-adds per descriptor can run no faster than this rate.
    for threads in [1, ProcessInfo.processInfo.activeProcessorCount] {
        Benchmark("BLAS.sgemm 1024x1024x1024 (\(threads == 1 ? "1 thread" : "all threads"))") { benchmark in
            BLAS.setThreads(threads)
            let n = 1024
            var g = SystemRandomNumberGenerator()
            let a = (0..<(n * n)).map { _ in Float.random(in: -1...1, using: &g) }, b = a
            var c = [Float](repeating: 0, count: n * n)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { c in
                            BLAS.sgemm(m: n, n: n, k: n, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: n, c: c.baseAddress!, ldc: n)
                        }
                    }
                }
                blackHole(c)
            }
        }
    }
}
