import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Perception
import Studies
import TensorCore
import Testing
import _TestSupport

@testable import Studies

@Suite struct JNDImageStudyTests {
    private func face(bytes: Int, jndBytes: Int, distance: Double, _ filtered: [String: (Int, Double, Int)]) -> JNDImageStudy.Face {
        JNDImageStudy.Face(
            source: "s", face: 0, faceWidth: 60, jndQP: 25, jndBytes: jndBytes, bytes: bytes, distance: distance, rateProxy: 1,
            filtered: filtered.mapValues {
                .init(bytes: $0.0, distance: $0.1, prefilterDistance: 0.01, strength: nil, ownJNDQP: 24, ownJNDBytes: $0.2, rateProxy: 1)
            })
    }

    @Test func rowsPoolSavingsAndFidelityPerPrefilter() {
        let faces = [
            face(bytes: 1000, jndBytes: 800, distance: 0.10, ["a": (900, 0.11, 400), "b": (1000, 0.2, 800)]),
            face(bytes: 2000, jndBytes: 1000, distance: 0.13, ["a": (1000, 0.13, 900)]),
            face(bytes: 1000, jndBytes: 1000, distance: 0.05, ["a": (700, 0.05, 1100)]),
        ]
        let rows = JNDImageStudy.rows(faces, tau: 0.12)
        #expect(rows.map(\.prefilter) == ["a", "b"])
        let a = rows[0]
        #expect(a.faces == 3)
        #expect(abs(a.medianSaving - 0.3) < 1e-12 && abs(a.meanSaving - (0.1 + 0.5 + 0.3) / 3) < 1e-12)
        #expect(abs(a.withinTau - 2.0 / 3) < 1e-12 && abs(a.originalWithinTau - 2.0 / 3) < 1e-12)
        // Equal fidelity: own-JND bytes against the original's bytes at its JND.
        #expect(abs(a.medianSavingAtOwnJND - 0.1) < 1e-12 && abs(a.meanSavingAtOwnJND - (0.5 + 0.1 - 0.1) / 3) < 1e-12)
        #expect(rows[1].faces == 1 && rows[1].withinTau == 0 && rows[1].medianSaving == 0)
    }

    @Test(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
    func aFaceIsMeasuredAtItsJNDAsIsAndPrefiltered() throws {
        let analyzer = try #require(sharedAnalyzer)
        let path = fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png").path
        var study = JNDImageStudy(
            oracle: JNDOracle(analyzer: analyzer, preset: "veryfast"), predictor: try JNDModel.bundled(codec: "libx264"), margin: 0.5,
            upsample: 0, threads: 1)
        study.detailCeilings = [1, 2]
        let r = try study.run(images: [path])
        let f = try #require(r.faces.first)
        #expect(Set(f.filtered.keys) == ["denoise", "detail-1", "detail-2", "jnd", "placebo"])
        #expect(f.distance <= 0.12 && f.bytes == f.jndBytes, "at offset 0 the crop is compared at its own JND")
        let denoise = try #require(f.filtered["denoise"])
        #expect(denoise.prefilterDistance <= 0.5 * 0.12 && (denoise.strength ?? 0) > 0, "the strongest filter within the margin")
        #expect(f.filtered["placebo"]!.prefilterDistance < 0.02, "±1 level barely moves the descriptor")
        for v in f.filtered.values { #expect(v.ownJNDQP <= f.jndQP + 6 && v.ownJNDBytes > 0 && v.bytes > 0) }
        #expect(r.rows.count == 5)
        // The denoised crop is smoother than the original by the rate proxy too.
        #expect(denoise.rateProxy < f.rateProxy && f.rateProxy > 0)
        // The ceilings remove all detail under one and two binomial passes: each costs less and moves the descriptor
        // more than the one before.
        let one = try #require(f.filtered["detail-1"]), two = try #require(f.filtered["detail-2"])
        #expect(two.rateProxy < one.rateProxy && one.rateProxy < f.rateProxy)
        #expect(two.prefilterDistance > one.prefilterDistance && one.prefilterDistance > f.filtered["placebo"]!.prefilterDistance)
    }
}
