import FaceAnalysis
import Foundation
import NeuralNet
import Testing
import _TestSupport

/// The weights file and the measures, on a small synthetic model.
@Suite struct QualityModelTests {
    static func model() -> QualityModel {
        var rng = SeededGenerator(seed: 1)
        let head = MLPRegressor(inputs: 4, hiddenUnits: 3, using: &rng)
        func v(_ n: Int) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &rng) } }
        let header = QualityModel.Header(
            architecture: QualityModel.architecture, inputs: 4, hidden: 3, embedding: 128, prototypes: 3,
            temperature: 20, regions: ["upper", "lower"], quantiles: 5, training: ["data": "synthetic"])
        return QualityModel(
            header: header, featureMean: v(4), featureScale: v(4), descriptorMean: v(128), crHead: head,
            unrecognisableCentre: QualityMeasures.unit(v(128)), prototypes: (0..<3).map { _ in QualityMeasures.unit(v(128)) },
            crQuantiles: [0, 1, 2, 3, 4], riQuantiles: [0, 0.5, 1, 1.5, 2], consistencyQuantiles: [0, 0.25, 0.5, 0.75, 1])
    }

    @Test func weightsRoundTripExactly() throws {
        let m = Self.model()
        let back = try QualityModel(data: try m.serialized())
        #expect(back == m)
    }

    @Test func damagedFilesAreRefusedWithTheReason() throws {
        let good = try [UInt8](Self.model().serialized())
        func refusal(_ bytes: [UInt8]) -> String {
            do { _ = try QualityModel(data: Data(bytes), path: "q.fjqm"); return "accepted" } catch { return "\(error)" }
        }
        var flipped = good
        flipped[flipped.count - 7] ^= 0x40
        #expect(refusal(flipped).contains("checksum"), "\(refusal(flipped))")
        #expect(refusal(Array(good.dropLast(10))).contains("truncated"))
        #expect(refusal(Array("PNG!".utf8) + good.dropFirst(4)).contains("signature"))
        #expect(refusal(Array(good.prefix(20))).contains("header"))
        var version = good
        version[4] = 9
        #expect(refusal(version).contains("version 9"))
        var foreign = Self.model()
        foreign.header.architecture = "some-other-net"
        #expect(refusal(try [UInt8](foreign.serialized())).contains("architecture"))
        #expect(refusal([]).contains("signature"))
        #expect(throws: QualityModelError.self) { try QualityModel(path: "/nonexistent/q.fjqm") }
    }

    @Test func consistencyIsOneForAgreeingRegionsAndLowerForDisagreeingOnes() {
        let m = Self.model()
        let p = m.prototypes
        let same = QualityMeasures.consistency([p[0], p[0], p[0]], prototypes: p, temperature: 20)
        let mixed = QualityMeasures.consistency([p[0], p[1], p[2]], prototypes: p, temperature: 20)
        #expect(abs(same - 1) < 1e-5)
        #expect(mixed < same - 0.1, "\(mixed)")
        #expect(mixed >= 0)
    }

    @Test func certaintyRatioAndRecognizabilityFollowTheirFormulas() {
        let a: [Float] = [1, 0, 0], b: [Float] = [0, 1, 0], c: [Float] = [0.6, 0.8, 0]
        // cos(c, a) = 0.6, cos(c, b) = 0.8 → CR = 0.6 / (0.8 + 1 + 0.001)
        #expect(abs(QualityMeasures.certaintyRatio(c, own: a, others: [b]) - 0.6 / 1.801) < 1e-6)
        // RI = (1 − cos(c, u)) + (0.8 − 0.6) with u = [0, 0, 1].
        #expect(abs(QualityMeasures.recognizability(c, unrecognisableCentre: [0, 0, 1], prototypes: [a, b]) - 1.2) < 1e-6)
    }

    @Test func standardizationAndMeansOfScores() {
        let (mean, scale) = QualityMeasures.standardization(of: [[1, 5, 0], [3, 5, 4]])
        #expect(mean == [2, 5, 2] && scale == [1, 1, 0.5])
        #expect(QualityMeasures.standardize([3, 7, 0], mean: mean, scale: scale) == [1, 2, -1])
        let m = QualityScores.mean([
            QualityScores(certaintyRatio: 1, recognizabilityIndex: 2, consistency: 0.5, score: 0.2),
            QualityScores(certaintyRatio: 3, recognizabilityIndex: 0, consistency: 0.7, score: 0.4),
        ])
        #expect(m == QualityScores(certaintyRatio: 2, recognizabilityIndex: 1, consistency: 0.6, score: 0.30000000000000004))
        #expect(QualityScores.mean([]) == nil)
    }

    @Test func percentilesInterpolateAndClamp() {
        let q: [Float] = [0, 1, 2, 3, 4]
        #expect(QualityMeasures.percentile(-1, q) == 0 && QualityMeasures.percentile(9, q) == 1)
        #expect(abs(QualityMeasures.percentile(2, q) - 0.5) < 1e-6)
        #expect(abs(QualityMeasures.percentile(2.5, q) - 0.625) < 1e-6)
        #expect(QualityMeasures.quantiles([3, 1, 2], count: 3) == [1, 2, 3])
    }

    @Test func kMeansIsDeterministicAndFindsSeparatedClusters() {
        var rng = SeededGenerator(seed: 4)
        let centres: [[Float]] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
        let points = (0..<90).map { i in centres[i % 3].map { $0 + Float.random(in: -0.1...0.1, using: &rng) } }
        let a = QualityMeasures.kMeans(points, k: 3), b = QualityMeasures.kMeans(points, k: 3)
        #expect(a == b)
        for c in centres { #expect(a.contains { QualityMeasures.cosine($0, c) > 0.95 }, "no centroid near \(c)") }
    }
}
