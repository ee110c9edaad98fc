import Foundation
import NeuralNet
import Perception
import TensorCore
import Testing

@Suite struct JNDModelTests {
    static func model(seed: UInt64 = 1) -> JNDModel {
        let config = GradientCheckTests.tiny
        var rng = SplitMix(seed: seed)
        let net = DecompositionNetwork(config: config)
        let header = JNDModel.Header(
            network: config, codec: "libx264", tau: 0.12, preset: "medium", qpCentre: 27, qpScale: 4, safetyShift: 1.5,
            quantile: 0.5, scalarMean: [6.5, 8], scalarScale: [0.5, 1.5], residualScale: 8,
            training: ["dataset": "unit test"])
        return JNDModel(header: header, parameters: net.initialParameters(using: &rng))
    }

    static func face(width: Int = 40, height: Int = 48) -> RGBImage {
        var img = RGBImage(width: width, height: height)
        for y in 0..<height { for x in 0..<width { for c in 0..<3 { img.pixels[(y * width + x) * 3 + c] = UInt8((x * 5 + y * 3 + c * 40) % 256) } } }
        return img
    }

    /// A tiny training run on a handful of samples drives the total loss down at least 10×.
    @Test func tinyRunOverfits() throws {
        let config = GradientCheckTests.tiny
        let net = DecompositionNetwork(config: config)
        var o = JNDTrainingOptions()
        o.epochs = 150
        o.batch = 6
        o.learningRate = 1e-2
        o.decorrelationWeight = 0.01
        o.threads = 2
        let samples = GradientCheckTests.samples(6, config: config, seed: 4)
        let trainer = JNDTrainer(network: net, options: o)
        var rng = SplitMix(seed: 2)
        let initial = net.initialParameters(using: &rng)
        let before = trainer.lossAndGradient(samples, parameters: initial).total
        let (params, log, _) = try trainer.train(samples, training: Array(0..<6), validation: [], initial: initial)
        let after = trainer.lossAndGradient(samples, parameters: params).total
        #expect(log.count == 150)
        #expect(after * 10 <= before, "loss \(before) → \(after)")
    }

    /// Training is deterministic for a seed.
    @Test func trainingIsDeterministic() throws {
        let config = GradientCheckTests.tiny
        let net = DecompositionNetwork(config: config)
        var o = JNDTrainingOptions()
        o.epochs = 3
        o.batch = 4
        let samples = GradientCheckTests.samples(8, config: config, seed: 6)
        func run() throws -> [Float] {
            var rng = SplitMix(seed: 3)
            return try JNDTrainer(network: net, options: o).train(
                samples, training: Array(0..<6), validation: [6, 7],
                initial: net.initialParameters(using: &rng)
            ).parameters
        }
        #expect(try run() == run())
    }

    @Test func weightsRoundTrip() throws {
        let m = Self.model()
        let path = NSTemporaryDirectory() + "facejnd-jnd-\(UUID().uuidString).fjnd"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try m.write(to: path)
        let back = try JNDModel(path: path)
        #expect(back.header == m.header)
        #expect(back.parameters == m.parameters)
        let img = Self.face()
        let a = m.predict(crop: img, faceWidth: 30), b = back.predict(crop: img, faceWidth: 30)
        #expect(a.qp == b.qp && a.rawQP == b.rawQP && a.residual == b.residual)
        #expect(a.residual.count == img.width * img.height * 3)
        #expect(a.jndImage.width == img.width && a.jndImage.height == img.height)
        // The JND QP alone skips the decoder and comes out the same.
        let qpOnly = m.predict(crop: img, faceWidth: 30, maps: false)
        #expect(qpOnly.rawQP == a.rawQP && qpOnly.residual.isEmpty)
        // The safety shift is applied to the rounded QP.
        #expect(a.qp == max(-1, min(51, Int((a.rawQP - 1.5).rounded()))))
    }

    /// A detail-mask model: the residual is σ(output) on the crop's finest detail; the mode survives the file, and
    /// a file without it (the v1 models) reads as a residual map.
    @Test func detailMaskModelsSubtractAMaskedShareOfTheFinestDetail() throws {
        var m = Self.model()
        #expect(m.header.residualMode == nil)
        m.header.residualMode = .detailMask
        let path = NSTemporaryDirectory() + "facejnd-jnd-\(UUID().uuidString).fjnd"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try m.write(to: path)
        #expect(try JNDModel(path: path).header.residualMode == .detailMask)
        var img = Self.face(width: 12, height: 10)
        for i in img.pixels.indices { img.pixels[i] = 100 }
        img.pixels[(5 * 12 + 6) * 3] = 200  // one red impulse
        let detail = JNDInput.detail(img, passes: 1)
        // The impulse keeps 1 − 36/256 of itself; its neighbours lose 24/256 and 16/256 (separable 1 4 6 4 1).
        let centre: Float = 100 * (1 - 36.0 / 256), beside: Float = -100 * 24.0 / 256, diagonal: Float = -100 * 16.0 / 256
        #expect(abs(detail[(5 * 12 + 6) * 3] - centre) < 1e-3)
        #expect(abs(detail[(5 * 12 + 7) * 3] - beside) < 1e-3)
        #expect(abs(detail[(4 * 12 + 7) * 3] - diagonal) < 1e-3)
        #expect(detail.enumerated().allSatisfy { $0.offset % 3 != 1 || $0.element == 0 }, "flat green has no detail")
        let size = m.header.network.inputSize
        let open = m.residual(decoderOutput: [Float](repeating: 30, count: 3 * size * size), crop: img)
        let shut = m.residual(decoderOutput: [Float](repeating: -30, count: 3 * size * size), crop: img)
        #expect(zip(open, detail).allSatisfy { abs($0 - $1) < 1e-4 } && shut.allSatisfy { abs($0) < 1e-6 })
        let half = m.residual(decoderOutput: [Float](repeating: 0, count: 3 * size * size), crop: img)
        #expect(zip(half, detail).allSatisfy { abs($0 - $1 / 2) < 1e-4 })
    }

    /// Two binomial passes are the 9-tap binomial (1 8 28 56 70 56 28 8 1)/256 in each direction: an impulse away
    /// from the border keeps 1 − 70²/256² of itself, a pixel three to the right and one down loses 8·56/256², and one four to the right 1·70/256².
    @Test func moreDetailPassesRemoveTheWiderBinomialBlur() {
        var img = Self.face(width: 16, height: 14)
        for i in img.pixels.indices { img.pixels[i] = 50 }
        img.pixels[(7 * 16 + 8) * 3 + 2] = 250  // one blue impulse of 200
        let one = JNDInput.detail(img, passes: 1), two = JNDInput.detail(img, passes: 2)
        let keptByOnePass: Float = 200 * (1 - 36 / 256)
        #expect(abs(one[(7 * 16 + 8) * 3 + 2] - keptByOnePass) < 1e-3, "one pass: the 5-tap binomial")
        let n: Float = 65536
        #expect(abs(two[(7 * 16 + 8) * 3 + 2] - 200 * (1 - 70 * 70 / n)) < 1e-3)
        #expect(abs(two[(8 * 16 + 11) * 3 + 2] + 200 * 8 * 56 / n) < 1e-3)
        #expect(abs(two[(7 * 16 + 12) * 3 + 2] + 200 * 70 / n) < 1e-3, "four to the right: the outer tap")
        #expect(abs(one[(7 * 16 + 12) * 3 + 2]) < 1e-6, "one pass reaches two pixels only")
        #expect(abs(two.reduce(0, +)) < 1e-2, "the blur keeps the sum, so the detail sums to zero")
    }

    /// A detail-mask model of two passes keeps its pass count through its file, masks the two-pass detail, and a
    /// file claiming a pass count outside 1…8 is refused.
    @Test func detailMaskModelsMaskTheirOwnPassCount() throws {
        var m = Self.model()
        m.header.residualMode = .detailMask
        m.header.detailPasses = 2
        let read = try JNDModel(data: try m.serialized())
        #expect(read.header.detailPasses == 2)
        var img = Self.face(width: 20, height: 18)
        for i in img.pixels.indices { img.pixels[i] = UInt8((i * 37) % 200) }
        let size = m.header.network.inputSize
        let open = read.residual(decoderOutput: [Float](repeating: 30, count: 3 * size * size), crop: img)
        let two = JNDInput.detail(img, passes: 2), one = JNDInput.detail(img, passes: 1)
        #expect(zip(open, two).allSatisfy { abs($0 - $1) < 1e-3 })
        #expect(zip(open, one).contains { abs($0 - $1) > 1 }, "the two-pass detail is not the finest")
        m.header.detailPasses = 9
        do {
            _ = try JNDModel(data: try m.serialized(), path: "m.fjnd")
            Issue.record("a pass count of 9 was accepted")
        } catch { #expect("\(error)".contains("detail_passes 9")) }
    }

    @Test func damagedFilesAreRefused() throws {
        let data = try Self.model().serialized()
        func reason(_ d: Data) -> String {
            do { _ = try JNDModel(data: d, path: "m.fjnd"); return "accepted" } catch { return "\(error)" }
        }
        var flipped = data
        flipped[data.count - 7] ^= 0x40
        #expect(reason(flipped).contains("checksum"))
        #expect(reason(data.prefix(data.count - 10)).contains("truncated"))
        #expect(reason(data.prefix(30)).contains("truncated header"))
        #expect(reason(Data("not a model at all".utf8)).contains("signature"))
        var version = data
        version[4] = 9
        #expect(reason(version).contains("format version 9"))
        // A quality model (another facejnd weights file) is not a JND model.
        var other = data
        other.replaceSubrange(0..<4, with: Data("FJQM".utf8))
        #expect(reason(other).contains("FJND"))
        // A header naming another architecture, or a configuration whose size does not match the payload.
        var m = Self.model()
        m.header.architecture = "something-else"
        #expect(reason(try m.serialized()).contains("architecture"))
        var bigger = Self.model()
        bigger.header.network.qpHidden = 7
        #expect(reason(try bigger.serialized()).contains("payload holds"))
        #expect(throws: WeightsFileError.self) { try JNDModel(path: "/nonexistent/model.fjnd") }
    }

    @Test func codecAndTauMismatchAreRefused() throws {
        let m = Self.model()
        try m.check(codec: "libx264", tau: 0.12)
        #expect(throws: JNDModelMismatch.codec(trained: "libx264", wanted: "libx265")) { try m.check(codec: "libx265", tau: 0.12) }
        #expect(throws: JNDModelMismatch.tau(trained: 0.12, wanted: 0.2)) { try m.check(codec: "libx264", tau: 0.2) }
    }

    /// Area resizing keeps flat pictures flat, halves exactly by 2×2 means, and the residual map goes back to the
    /// crop's size.
    @Test func inputResizing() {
        let flat = [Float](repeating: 0.25, count: 37 * 23)
        #expect(JNDInput.areaResize(flat, width: 37, height: 23, to: 8).allSatisfy { abs($0 - 0.25) < 1e-5 })
        let plane: [Float] = (0..<16).map(Float.init)  // 4×4
        let half = JNDInput.areaResize(plane, width: 4, height: 4, to: 2)
        #expect(half == [2.5, 4.5, 10.5, 12.5])
        let map = [Float](repeating: 0.5, count: 3 * 4 * 4)
        let up = JNDInput.upsampleResidual(map, size: 4, width: 9, height: 7, scale: 8)
        #expect(up.count == 9 * 7 * 3 && up.allSatisfy { abs($0 - 4) < 1e-5 })
        #expect(JNDInput.sharpness(RGBImage(width: 10, height: 10)) == 0)
        // RGB planes, then two detail planes that are zero on a flat picture and positive on a textured one.
        let flatInput = JNDInput.networkInput(RGBImage(width: 30, height: 30), size: 8, channels: 5)
        #expect(flatInput.count == 5 * 64 && flatInput[(3 * 64)...].allSatisfy { $0 == 0 })
        let textured = JNDInput.networkInput(Self.face(), size: 8, channels: 5)
        #expect(textured[(3 * 64)..<(4 * 64)].reduce(0, +) > 0 && textured[(4 * 64)...].reduce(0, +) > 0)
        #expect(JNDInput.sharpness(Self.face()) > 0)
    }
}
