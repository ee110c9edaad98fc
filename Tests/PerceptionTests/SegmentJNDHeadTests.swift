import Foundation
import NeuralNet
import Perception
import Testing

@Suite struct SegmentJNDHeadTests {
    static func header(shift: Double = 0) -> SegmentJNDHead.Header {
        .init(codec: "libx264", tau: 0.12, predictor: "jnd-libx264-v1", shift: shift, quantile: 0.5, training: ["data": "unit test"])
    }

    /// Segments whose in-video JND is an exact linear function of the features: the fit finds its coefficients,
    /// checked against the function itself on points it was not fitted on.
    @Test func theFitRecoversALinearRelation() throws {
        func truth(_ q: Int, _ w: Double) -> Double { 3 + 0.8 * Double(q) + 1.5 * log2(w) }
        var samples: [SegmentJNDHead.Sample] = []
        for q in stride(from: 8, through: 36, by: 4) {
            for w in [24.0, 48, 96, 192] {
                // Integer targets: truth rounded; the fit of the rounded values is within half a QP of the truth.
                samples.append(.init(cropQP: q, faceWidth: w, inVideoQP: Int(truth(q, w).rounded())))
            }
        }
        let head = try SegmentJNDHead.fit(samples, quantile: 0.5, codec: "libx264", tau: 0.12, predictor: "p")
        #expect(abs(head.weights[1] - 0.8) < 0.05 && abs(head.weights[2] - 1.5) < 0.15, "\(head.weights)")
        for (q, w) in [(10, 30.0), (27, 150), (33, 60)] {
            #expect(abs(Double(head.inVideoQP(cropQP: q, faceWidth: w)) - truth(q, w)) <= 1.01)
        }
    }

    /// The shift is the residuals' quantile: at 0.1 the head is at or under the in-video JND of about 90% of its
    /// training segments, at 0.5 of about half.
    @Test func theShiftKeepsTheAskedShareAtOrUnder() throws {
        var samples: [SegmentJNDHead.Sample] = []
        // Four feature groups, each with in-video JNDs 20...29: the slopes are 0, the fit is the mean 24.5, the
        // residuals −4.5...4.5.
        for (q, w) in [(20, 64.0), (21, 64), (20, 128), (21, 128)] {
            for k in 0..<10 { samples.append(.init(cropQP: q, faceWidth: w, inVideoQP: 20 + k)) }
        }
        for (quantile, wanted) in [(0.1, 0.9), (0.5, 0.5)] {
            let head = try SegmentJNDHead.fit(samples, quantile: quantile, codec: "libx264", tau: 0.12, predictor: "p")
            let under = samples.filter { head.inVideoQP(cropQP: $0.cropQP, faceWidth: $0.faceWidth) <= $0.inVideoQP }.count
            #expect(abs(Double(under) / Double(samples.count) - wanted) <= 0.1 + 1e-9, "\(quantile): \(under) of 40")
        }
    }

    @Test func tooFewOrDegenerateSamplesAreRefused() {
        #expect(throws: SegmentJNDHeadFitError.tooFewSamples(2)) {
            try SegmentJNDHead.fit(
                [.init(cropQP: 1, faceWidth: 2, inVideoQP: 3), .init(cropQP: 2, faceWidth: 4, inVideoQP: 5)], quantile: 0.5, codec: "x",
                tau: 0.1, predictor: "p")
        }
        // Every segment has the same features: the slopes are undetermined.
        #expect(throws: SegmentJNDHeadFitError.degenerate) {
            try SegmentJNDHead.fit(
                Array(repeating: .init(cropQP: 20, faceWidth: 50, inVideoQP: 22), count: 5), quantile: 0.5, codec: "x", tau: 0.1, predictor: "p")
        }
    }

    @Test func theOutputIsRoundedDownAndKeptInTheQPRange() {
        let head = SegmentJNDHead(header: Self.header(shift: 0.25), weights: [0.9, 1, 0])
        #expect(head.inVideoQP(cropQP: 20, faceWidth: 64) == 20)  // 20.65 → 20
        #expect(head.inVideoQP(cropQP: 60, faceWidth: 64) == 51)
        #expect(SegmentJNDHead(header: Self.header(shift: 30), weights: [0, 1, 0]).inVideoQP(cropQP: 10, faceWidth: 64) == 0)
    }

    @Test func weightsRoundTripAndDamagedFilesAreRefused() throws {
        let head = SegmentJNDHead(header: Self.header(shift: 1.75), weights: [2.5, 0.75, -0.5])
        let data = try head.serialized()
        #expect(try SegmentJNDHead(data: data) == head)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fjvh-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("h.fjvh").path
        try head.write(to: path)
        #expect(try SegmentJNDHead(path: path) == head)
        #expect(throws: WeightsFileError.self) { try SegmentJNDHead(data: data.dropLast(2)) }
        var flipped = data
        flipped[flipped.count - 1] ^= 0x40
        #expect(throws: WeightsFileError.self) { try SegmentJNDHead(data: flipped) }
        #expect(throws: WeightsFileError.self) { try SegmentJNDHead(data: Data("FJND".utf8) + data.dropFirst(4)) }
        // A JND predictor's file is not a head.
        #expect(throws: WeightsFileError.self) { try SegmentJNDHead(data: try JNDModelTests.model().serialized()) }
        // Two weights instead of three, with a valid checksum.
        let short = try WeightsFile.serialize(signature: SegmentJNDHead.signature, version: 1, header: Self.header(), payload: [1, 2])
        #expect(throws: WeightsFileError.self) { try SegmentJNDHead(data: short) }
    }

    @Test func codecAndTauMismatchAreRefused() throws {
        let head = SegmentJNDHead(header: Self.header(), weights: [0, 1, 0])
        try head.check(codec: "libx264", tau: 0.12)
        #expect(throws: JNDModelMismatch.codec(trained: "libx264", wanted: "libx265")) { try head.check(codec: "libx265", tau: 0.12) }
        #expect(throws: JNDModelMismatch.tau(trained: 0.12, wanted: 0.2)) { try head.check(codec: "libx264", tau: 0.2) }
    }
}
