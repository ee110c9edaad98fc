import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import FaceAnalysis

/// Input gradients through frozen dlib networks, against central differences.
@Suite struct DescriptorGradientTests {
    private func random(_ count: Int, _ rng: inout SplitMix, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in scale * (Float(rng.next() % 2001) / 1000 - 1) }
    }

    private func conv(_ i: Int, _ o: Int, stride: Int, _ rng: inout SplitMix) -> Conv2d {
        Conv2d(
            inputChannels: i, outputChannels: o, kernelH: 3, kernelW: 3, strideY: stride, strideX: stride, padY: 1, padX: 1,
            weights: random(o * i * 9, &rng, scale: 0.5), bias: random(o, &rng, scale: 0.1))
    }

    /// Every kind of operation dlib's ResNet uses, wired as its downsampling residual block: tag1, a strided conv
    /// path tagged 2, skip back to tag 1, an average pool, add_prev 2 with zero padding of the missing channels.
    @Test func everyOperationPassesACentralDifferenceCheck() {
        var rng = SplitMix(seed: 11)
        let net = DlibNetwork(operations: [
            .conv(conv(3, 4, stride: 1, &rng)),
            .affine(Affine(gamma: random(4, &rng), beta: random(4, &rng, scale: 0.2))),
            .relu,
            .pool(Pool2d(kernelH: 3, kernelW: 3, strideY: 2, strideX: 2, padY: 1, padX: 1, average: false)),
            .tag(1),
            .conv(conv(4, 6, stride: 2, &rng)),
            .relu,
            .tag(2),
            .skip(1),
            .pool(Pool2d(kernelH: 2, kernelW: 2, strideY: 2, strideX: 2, padY: 0, padX: 0, average: true)),
            .addPrevious(2),
            .relu,
            .pool(Pool2d(kernelH: 0, kernelW: 0, strideY: 1, strideX: 1, padY: 0, padX: 0, average: true)),
            .linear(Linear(inputs: 6, outputs: 5, weights: random(30, &rng), bias: random(5, &rng))),
        ])
        let input = Tensor(channels: 3, height: 11, width: 13, data: random(3 * 11 * 13, &rng))
        let r = random(5, &rng)
        let (out, g) = net.inputGradient(input) { _ in Tensor(channels: 5, height: 1, width: 1, data: r) }
        // The recorded forward pass is the inference pass.
        let ws = Workspace()
        let fm = FeatureMap(channels: 3, height: 11, width: 13, buffer: ws.borrow())
        input.data.withUnsafeBufferPointer { fm.pointer.update(from: $0.baseAddress!, count: input.count) }
        #expect(net.forward(fm, workspace: ws).tensor().data == out.data)
        func loss(_ x: Tensor) -> Double {
            let ws = Workspace()
            let fm = FeatureMap(channels: 3, height: 11, width: 13, buffer: ws.borrow())
            x.data.withUnsafeBufferPointer { fm.pointer.update(from: $0.baseAddress!, count: x.count) }
            let y = net.forward(fm, workspace: ws).tensor().data
            return zip(y, r).map { Double($0) * Double($1) }.reduce(0, +)
        }
        var worst = 0.0, largest = 0.0
        for k in input.data.indices {
            var plus = input, minus = input
            plus.data[k] += 1e-3
            minus.data[k] -= 1e-3
            let numeric = (loss(plus) - loss(minus)) / 2e-3
            worst = max(worst, abs(numeric - Double(g.data[k])))
            largest = max(largest, abs(numeric))
        }
        #expect(largest > 0.01, "the check is not vacuous")
        #expect(worst < 2e-2 * largest, "worst \(worst) of \(largest)")
    }

    @Test(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
    func theResNetsDescriptorAndItsDirectionalDerivatives() throws {
        let embedder = try #require(sharedAnalyzer).embedder
        let chip = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("chip150.png").path)
        let pixels = chip.pixels.map(Float.init)
        var rng = SplitMix(seed: 4)
        let r = random(128, &rng)
        let (e, g) = embedder.descriptorGradient(chip: pixels) { _ in r }
        let reference = embedder.embed(chip: chip.pixels)
        #expect(zip(e, reference).allSatisfy { abs($0 - $1) < 1e-5 }, "the gradient's forward pass is the descriptor")
        func loss(_ p: [Float]) -> Double {
            zip(embedder.descriptorGradient(chip: p) { _ in r }.descriptor, r).map { Double($0) * Double($1) }.reduce(0, +)
        }
        // Directional derivatives along random directions over the whole chip; the step is small because 0.5 levels
        // already move enough ReLUs across their kink to leave the derivative 4–11% off.
        for _ in 0..<3 {
            let v = random(pixels.count, &rng)
            let h = 0.02
            let numeric = (loss(zip(pixels, v).map { $0 + Float(h) * $1 }) - loss(zip(pixels, v).map { $0 - Float(h) * $1 })) / (2 * h)
            let analytic = zip(g, v).map { Double($0) * Double($1) }.reduce(0, +)
            #expect(abs(numeric - analytic) < 0.02 * abs(numeric) && abs(numeric) > 1e-4, "\(numeric) vs \(analytic)")
        }
    }
}
