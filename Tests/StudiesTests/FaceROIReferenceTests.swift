import CompressionPipeline
import FaceAnalysis
import Foundation
import RateControl
import Studies
import Testing
import _TestSupport

/// `compare --reference face-roi` on the first 24 frames of the bundled sample: facejnd's regions at one constant QP,
/// and the bisection that matches facejnd's fraction of faces within τ.
@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct FaceROIReferenceTests {
    @Test func theFaceROIReferenceCodesFacejndsRegionsAtOneQPAndMatchesItsFidelity() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Fixtures.shortSample(frames: 24, in: dir)
        var options = EncodeOptions()
        options.detection = .mmod(upsample: 0)
        options.motionGate = .off
        options.detectEvery = 6
        options.preset = "veryfast"
        let job = EncodeJob(analyzer: try FaceAnalyzer(), options: options)
        let timeline = try job.analyse(clip)
        let comparison = Comparison(job: job, timeline: timeline)
        let (ours, outcome) = try comparison.facejnd(clip)
        let reference = try FaceROIReference(job: job, timeline: timeline, outcome: outcome)
        #expect(reference.faceQPRange == 0...40)

        // facejnd's protected regions are all in the reference, at the one QP; the background is facejnd's.
        let plan = reference.plan(faceQP: 12)
        #expect(plan.count == outcome.plan.count)
        for (k, frame) in plan.enumerated() {
            #expect(frame.backgroundQP == outcome.plan[k].backgroundQP)
            #expect(frame.faces.allSatisfy { $0.qp == 12 })
            #expect(outcome.plan[k].faces.allSatisfy { f in frame.faces.contains { $0.region == f.region } }, "frame \(k)")
        }
        #expect(plan.contains { !$0.faces.isEmpty })

        let m = try comparison.matchedFaceROI(clip, reference: reference, target: ours.fidelity.fractionWithinTau)
        let best = try #require(m.best.faceQP)
        #expect(m.best.fidelity.fractionWithinTau >= ours.fidelity.fractionWithinTau)
        #expect(m.best.fidelity.faces == ours.fidelity.faces, "both verify the same faces")
        if best < reference.faceQPRange.upperBound {
            // One QP above the match misses the target (the bisection's other end).
            let above = try #require(m.evaluated.first { $0.faceQP == best + 1 })
            #expect(above.fidelity.fractionWithinTau < ours.fidelity.fractionWithinTau)
        }
        let sizes = m.evaluated.map(\.bytes)
        #expect(sizes.first! > sizes.last!, "bytes fall as the face QP rises: \(sizes)")
        #expect(m.best.tracks.map(\.faces).reduce(0, +) == m.best.fidelity.faces)
        #expect(m.best.tracks.allSatisfy { $0.worstDistance >= $0.worst5PercentDistance && $0.worst5PercentDistance >= 0 })

        let report = ComparisonReport(
            input: clip, codec: "libx264", tau: options.tau, referenceEncoder: "face-roi", referenceKind: "matched", reference: m.best,
            facejnd: ours, savingsPercent: Comparison.savingsPercent(ours: ours.bytes, reference: m.best.bytes))
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any])
        #expect(json["reference_encoder"] as? String == "face-roi")
        let ref = try #require(json["reference"] as? [String: Any])
        #expect(ref["face_qp"] as? Int == best)
        #expect((ref["tracks"] as? [[String: Any]])?.first?["worst_5_percent_distance"] is Double)
        #expect(Fixtures.listing(dir) == ["sample-24.mp4"], "scratch files left: \(Fixtures.listing(dir))")
    }
}
