import CompressionPipeline
import FaceAnalysis
import Foundation
import RateControl
import Testing
import _TestSupport

/// The in-video JND oracle (`jnd measure --segments`) on the first 24 frames of the bundled sample, cut into 8-frame
/// segments.
@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct SegmentJNDTests {
    @Test func theInVideoJNDIsDeterministicAndHolds() throws {
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
        let background = Array(repeating: 40, count: timeline.frames.count)
        let oracle = SegmentJNDOracle(job: job, segmentFrames: 8)
        let report = try oracle.measure(clip, timeline: timeline, background: background)

        // Every face-frame of every track is in exactly one segment.
        let faceFrames = timeline.frames.reduce(0) { $0 + $1.count }
        #expect(report.segments.map(\.faceFrames).reduce(0, +) == faceFrames)
        #expect(report.segments.allSatisfy { $0.endFrame - $0.firstFrame <= 8 })
        for s in report.segments {
            // At its JND every face-frame is within τ…
            #expect(s.distancesAtJND.count == s.faceFrames)
            #expect(s.distancesAtJND.allSatisfy { $0.distance <= options.tau }, "segment \(s.track)@\(s.firstFrame): \(s.distancesAtJND)")
            #expect((0...40).contains(s.jndQP))
            // …and below the top of the range it was also tried one QP above.
            #expect(s.atBackground || s.distancesAboveJND.count == s.faceFrames)
            #expect(s.cropJNDQP != nil && s.backgroundQP == 40)
        }
        #expect((0...1).contains(report.shareFailingAbove))
        // A face in a QP-40 background needs a lower QP than its crop JND (the gap this oracle measures).
        let gaps = report.segments.compactMap { s in s.cropJNDQP.map { $0 - s.jndQP } }
        #expect(Double(gaps.reduce(0, +)) / Double(gaps.count) > 2, "crop − in-video JND: \(gaps)")

        let again = try oracle.measure(clip, timeline: timeline, background: background)
        #expect(again.segments.map(\.jndQP) == report.segments.map(\.jndQP))
        #expect(again.bytesAtJND == report.bytesAtJND && again.encodes == report.encodes)
        #expect(Fixtures.listing(dir) == ["sample-24.mp4"], "scratch files left: \(Fixtures.listing(dir))")
    }
}
