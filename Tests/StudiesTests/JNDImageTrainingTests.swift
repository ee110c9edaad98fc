import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import TensorCore
import Testing
import _TestSupport

@testable import Studies

@Suite struct JNDImageTrainingTests {
    @Test func upsamplingTheResidualAndItsTransposeAreAdjoint() {
        var rng = SplitMix(seed: 8)
        let size = 8, w = 21, h = 13
        let map = (0..<(3 * size * size)).map { _ in Float(rng.next() % 1000) / 500 - 1 }
        let g = (0..<(3 * w * h)).map { _ in Float(rng.next() % 1000) / 500 - 1 }
        let up = JNDInput.upsampleResidual(map, size: size, width: w, height: h, scale: 3)
        let down = JNDInput.upsampleResidualTranspose(g, size: size, width: w, height: h, scale: 3)
        let lhs = zip(up, g).map { Double($0) * Double($1) }.reduce(0, +)
        let rhs = zip(map, down).map { Double($0) * Double($1) }.reduce(0, +)
        #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)), "\(lhs) vs \(rhs)")
    }

    @Test(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
    func chipSamplingIsExtractWithoutRoundingAndItsTransposeIsTheAdjoint() throws {
        let analyzer = try #require(sharedAnalyzer)
        let image = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png").path)
        let face = try #require(try analyzer.analyze(image, upsample: 0).first)
        let placement = FaceChip.placement(landmarks: face.landmarks, size: 150)
        let sampling = try #require(ChipSampling(placement, width: image.width, height: image.height))
        let chip = sampling.apply(image.pixels.map(Float.init))
        let bytes = FaceChip.extract(image, placement)
        // extract truncates to bytes: at most one level below the real value.
        #expect(zip(chip, bytes).allSatisfy { $0 - Float($1) >= -1e-3 && $0 - Float($1) < 1 + 1e-3 })
        var rng = SplitMix(seed: 2)
        let x = (0..<(image.width * image.height * 3)).map { _ in Float(rng.next() % 100) / 50 - 1 }
        let y = (0..<chip.count).map { _ in Float(rng.next() % 100) / 50 - 1 }
        let lhs = zip(sampling.apply(x), y).map { Double($0) * Double($1) }.reduce(0, +)
        let rhs = zip(x, sampling.transpose(y)).map { Double($0) * Double($1) }.reduce(0, +)
        #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)))
    }

    /// A tiny training run on the committed frames' faces: the rate term falls, the identity hinge ends at zero,
    /// and nothing but the decoder moves (the JND-QP head, and so every predicted JND QP, is as shipped).
    @Test(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
    func aTinyRunLowersTheRateKeepsIdentityAndMovesOnlyTheDecoder() throws {
        let analyzer = try #require(sharedAnalyzer)
        let model = try JNDModel.bundled(codec: "libx264")
        let images = ["openmpf_hikers_video_02_03.png", "openmpf_group_video_01_01.png"].map { fixtures.appendingPathComponent($0).path }
        let samples = try JNDImageTraining.prepare(images: images, analyzer: analyzer, model: model, threads: 1)
        #expect(samples.count >= 2)
        var options = JNDImageTraining.Options()
        options.epochs = 3
        options.batch = 2
        options.learningRate = 1e-3
        options.threads = 1
        let (trained, log) = try JNDImageTraining.train(model, training: samples, validation: samples, embedder: analyzer.embedder, options: options)
        #expect(log.count == 3)
        let before = try JNDImageTraining.train(
            model, training: [], validation: samples, embedder: analyzer.embedder,
            options: {
                var o = options
                o.epochs = 1
                return o
            }()
        ).1[0].validationRate
        #expect(log.last!.validationRate < before - 1e-3, "rate \(before) → \(log.map(\.validationRate))")
        // A step may push a face just past the margin; the hinge pulls it back within it by the end.
        #expect(log.allSatisfy { $0.validationHinge < 0.02 }, "\(log)")
        #expect(log.last!.validationHinge == 0 && log.last!.validationWithinMargin == 1, "\(log)")
        let decoder = JNDImageTraining.decoderRanges(model.network)
        let moved = model.parameters.indices.filter { model.parameters[$0] != trained.parameters[$0] }
        #expect(!moved.isEmpty && moved.allSatisfy { i in decoder.contains { $0.contains(i) } })
        #expect(trained.header.training["jnd_image"] != nil)
        let crop = samples[0].crop
        #expect(trained.predict(crop: crop, faceWidth: 60).qp == model.predict(crop: crop, faceWidth: 60).qp)
    }

    /// The whole loss — rate proxy of the JND image plus the identity hinge through the chip and the ResNet — against
    /// central differences on decoder parameters, with the hinge active (a margin of 0.01 τ).
    @Test(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"), arguments: [false, true])
    func theLossGradientMatchesCentralDifferencesWithTheHingeActive(detailMask: Bool) throws {
        let analyzer = try #require(sharedAnalyzer)
        let shipped = try JNDModel.bundled(codec: "libx264")
        var model = detailMask ? JNDImageTraining.detailMaskStart(shipped) : shipped
        if detailMask {
            // Open the mask half-way, with some structure, so the hinge has something to measure.
            let out = model.network.parameterLayout.first { $0.name == "output conv" }!.range
            for i in out { model.parameters[i] = shipped.parameters[i] }
        }
        let sample = try #require(
            try JNDImageTraining.prepare(
                images: [fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png").path], analyzer: analyzer, model: model, threads: 1
            ).first)
        var options = JNDImageTraining.Options()
        options.margin = 0.01
        options.identityWeight = 50
        let tau = Float(model.header.tau)
        // A decoder that removes something: the shipped one scaled up, so the hinge has a distance to work on.
        var p = model.parameters
        let out = try #require(model.network.parameterLayout.first { $0.name == "output conv" }).range
        if !detailMask { for i in out { p[i] *= 6 } }
        func total(_ q: [Float]) -> (Double, Float) {
            let r = q.withUnsafeBufferPointer {
                JNDImageTraining.loss(
                    sample, model: model, parameters: $0.baseAddress!, embedder: analyzer.embedder, tau: tau, options: options, gradients: nil)
            }
            return (Double(options.rateWeight * r.rate + options.identityWeight * r.hinge), r.hinge)
        }
        #expect(total(p).1 > 0, "the hinge is active")
        var g = [Float](repeating: 0, count: p.count)
        p.withUnsafeBufferPointer { pp in
            g.withUnsafeMutableBufferPointer {
                _ = JNDImageTraining.loss(
                    sample, model: model, parameters: pp.baseAddress!, embedder: analyzer.embedder, tau: tau, options: options,
                    gradients: $0.baseAddress!)
            }
        }
        // Along the gradient itself the derivative is |g|, far above the difference quotient's noise: a wrong sign, a
        // lost factor or a missing path moves it.
        let norm = g.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(norm > 0)
        let step = 3e-3
        let plusAlong = zip(p, g).map { $0 + Float(step * Double($1) / norm) }
        let minusAlong = zip(p, g).map { $0 - Float(step * Double($1) / norm) }
        let along = (total(plusAlong).0 - total(minusAlong).0) / (2 * step)
        #expect(abs(along - norm) < 0.1 * norm, "directional derivative \(along) vs |g| \(norm)")
        // The output convolution's biases (one per colour) and a spread of its weights, one by one.
        let probes =
            [out.upperBound - 1, out.upperBound - 2, out.upperBound - 3] + stride(from: out.lowerBound, to: out.upperBound - 3, by: 37).prefix(6)
        var checked = 0, agreeing = 0
        for i in probes {
            var plus = p, minus = p
            let h: Float = 3e-3 * max(1, abs(p[i]))
            plus[i] += h
            minus[i] -= h
            let numeric = (total(plus).0 - total(minus).0) / Double(2 * h)
            // Small derivatives are left out: the difference quotient's noise (the hinge amplifies the descriptor's
            // Float rounding, which depends on how BLAS splits the work among threads) is about 0.01–0.02 here.
            if abs(numeric) < 0.05 { continue }
            checked += 1
            // Loose on purpose: the hinge multiplies the descriptor's Float noise by w_id/τ ≈ 400, so below this step
            // the difference quotient is noise, and above it enough ResNet ReLUs change side to move it by a tenth
            // or two. Each piece has its own tight check (RateProxyTests, DescriptorGradientTests, the adjoints
            // above, GradientCheckTests); this one catches a wrong sign, a lost factor or a missing path.
            if abs(numeric - Double(g[i])) < 0.3 * abs(numeric) { agreeing += 1 }
        }
        // One derivative near the noise may miss (a CI run saw 0.076 against 0.052); a wrong gradient misses them all.
        #expect(checked >= 3 && agreeing >= checked - 1, "\(agreeing) of \(checked) derivatives agree")
    }
}
