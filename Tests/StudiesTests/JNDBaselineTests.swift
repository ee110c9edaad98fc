import Foundation
import MediaIO
import NeuralNet
import Perception
import Studies
import TensorCore
import Testing

@testable import Studies

@Suite struct JNDBaselineTests {
    private func flat(_ level: UInt8, size: Int = 16) -> RGBImage {
        RGBImage(width: size, height: size, pixels: [UInt8](repeating: level, count: size * size * 3))
    }

    @Test func flatPicturesGetTheLuminanceAdaptationThreshold() {
        // No texture: JND = T_l(background), 20 in black, 3 at mid-grey, rising again in bright areas.
        #expect(abs(PixelJND.mean(flat(0)) - 20) < 1e-9)
        #expect(abs(PixelJND.mean(flat(127)) - 3) < 0.05)
        #expect(abs(PixelJND.mean(flat(255)) - (3.0 / 128 * 128 + 3)) < 0.05)
    }

    @Test func textureRaisesTheThresholdAndEdgesAreProtected() {
        var fine = flat(127, size: 32)
        for y in 0..<32 { for x in 0..<32 where (x / 2 + y / 2) % 2 == 0 { for c in 0..<3 { fine.pixels[(y * 32 + x) * 3 + c] = 137 } } }
        #expect(PixelJND.mean(fine) > PixelJND.mean(flat(132, size: 32)) + 0.3, "mild texture masks")
        let map = PixelJND.map(fine)
        #expect(map.allSatisfy { $0 >= 2.9 })
    }

    @Test func amplitudeMapsToQPAtSixPerDoubling() {
        #expect(PixelJND.qp(amplitude: 4, offset: 10) == 22)
        #expect(PixelJND.qp(amplitude: 8, offset: 10) == 28)
        #expect(PixelJND.qp(amplitude: 1e9, offset: 10) == 51 && PixelJND.qp(amplitude: 0, offset: -100) == 0)
    }

    @Test func identitySplitIsStableAndHoldsOutAboutOneInFive() {
        let names = (0..<2000).map { "Person_\($0)" }
        let held = names.filter { JNDBaselines.isTest(identity: $0) }
        #expect(held.count > 300 && held.count < 500, "\(held.count)")
        #expect(held == names.filter { JNDBaselines.isTest(identity: $0) })
    }

    @Test func rowsCountErrorsOvershootsAndMeasuredExceptions() {
        func entry(jnd: Int, curve: [(Int, Double)] = []) -> JNDDatasetEntry {
            JNDDatasetEntry(
                id: "x", source: "/a/P/P_0001.jpg", frame: 0, face: 0, box: [0, 0, 9, 9], crop: [0, 0, 15, 15], codec: "libx264",
                tau: 0.12, jndQP: jnd, curve: curve.map { .init(qp: $0.0, d: $0.1, bytes: 0) }, faceWidth: 10, sharpness: 1,
                original: "o.png", jndImage: "j.png", residual: "r.png")
        }
        let entries = [entry(jnd: 20), entry(jnd: 30), entry(jnd: 25, curve: [(27, 0.1)]), entry(jnd: 25)]
        let r = JNDBaselines.row("t", predictions: [22, 26, 27, 25], entries: entries)
        #expect(abs(r.meanAbsoluteError - (2 + 4 + 2 + 0) / 4.0) < 1e-12)
        // 22 > 20 overshoots; 27 > 25 is measured below τ, so it does not; 26 is 4 under 30.
        #expect(r.overshootRate == 0.25 && r.undershootRate == 0.25)
        #expect(JNDBaselines.identity(entries[0]) == "P")
    }
}

@Suite struct JNDHeadTests {
    @Test func headLearnsAFeatureDependentJNDAndItsShiftKeepsOvershootsRare() {
        var rng = SplitMix(seed: 1)
        // JND QP = 27 + 3·x0 − 2·x1 + noise, identities of 4 faces each.
        var samples: [JNDHead.Sample] = [], identities: [String] = []
        for i in 0..<800 {
            let x = (0..<6).map { _ in Float.random(in: -1...1, using: &rng) }
            let noise = Float.random(in: -0.5...0.5, using: &rng)
            samples.append(JNDHead.Sample(features: x, jndQP: Int((27 + 3 * x[0] - 2 * x[1] + noise).rounded()), index: i))
            identities.append("id\(i / 4)")
        }
        let (model, curve) = JNDHead.train(samples, identities: identities, epochs: 60, hidden: 16)
        #expect(curve.count == 60 && curve.last!.0 < curve.first!.0 / 5, "training MSE \(curve.first!.0) → \(curve.last!.0)")
        let errors = samples.map { abs(model.predict($0.features) - Double($0.jndQP)) }
        #expect(errors.reduce(0, +) / Double(errors.count) < 0.8)
        let over = samples.filter { Int(model.predict($0.features).rounded()) - model.safetyShift > $0.jndQP }.count
        #expect(Double(over) / Double(samples.count) <= 0.06, "overshoots after the safety shift: \(over)")
        #expect(model.safetyShift >= 1 && model.safetyShift <= 3)
    }
}
