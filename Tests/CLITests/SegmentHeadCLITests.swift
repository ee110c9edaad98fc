import FaceAnalysis
import Foundation
import Perception
import Testing
import _TestSupport

/// `jnd fit-head` on synthetic segment reports (no models, no media): the head it writes, its leave-one-clip-out
/// table, and clear errors for reports it cannot use.
@Suite struct SegmentHeadCLITests {
    /// A `jnd measure --segments --json` report whose segments' in-video JND is `offset` + crop JND + log2(width).
    private func report(_ name: String, offset: Int, predicted: Bool = true, in dir: URL) throws -> String {
        var segments: [[String: Any]] = []
        for (i, (q, w)) in [(12, 32), (18, 64), (24, 128), (20, 32), (30, 256), (16, 64)].enumerated() {
            var s: [String: Any] = [
                "track": i, "first_frame": 0, "end_frame": 10, "face_frames": 10, "jnd_qp": offset + q + Int(log2(Double(w))),
                "at_background": false, "distances_at_jnd": [], "distances_above_jnd": [], "crop_jnd_qp": q + 3,
                "crop_probe_frame": 0, "face_width": Double(w), "background_qp": 40,
            ]
            if predicted {
                s["predicted_jnd_qp"] = q
                s["probe_face_width"] = w
            }
            segments.append(s)
        }
        // A segment at the background says only "at least 40": it is left out of the fit.
        segments.append([
            "track": 9, "first_frame": 0, "end_frame": 10, "face_frames": 10, "jnd_qp": 40, "at_background": true,
            "distances_at_jnd": [], "distances_above_jnd": [], "predicted_jnd_qp": 5, "probe_face_width": 20, "face_width": 20.0,
            "background_qp": 40,
        ])
        let object: [String: Any] = [
            "schema": predicted ? "facejnd-segment-jnd/2" : "facejnd-segment-jnd/1", "input": "/clips/\(name).mp4", "codec": "libx264",
            "preset": "medium", "tau": 0.12, "segment_frames": 10, "encodes": 12, "bytes_at_jnd": 1000, "share_failing_above": 1.0,
            "segments": segments,
        ]
        let path = dir.appendingPathComponent("\(name).json").path
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func fitsAHeadAndJudgesItOnHeldOutClips() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try report("a", offset: 1, in: dir), b = try report("b", offset: 3, in: dir)
        let out = dir.appendingPathComponent("h.fjvh").path
        let r = try CLI.run(["jnd", "fit-head", a, b, "-o", out, "--name", "segment-jnd-test-v1", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["segments"] as? Int == 12, "6 usable segments per report")
        let held = try #require(json["held"] as? [[String: Any]])
        // Held out, clip a (offset 1) is judged by a head fitted on b (offset 3): 2 QP too high on every segment.
        #expect(held.count == 2)
        #expect(abs((held[0]["mean_error"] as? Double ?? 0) - 2) < 1.01 && held[0]["share_at_or_under"] as? Double == 0)
        #expect(abs((held[1]["mean_error"] as? Double ?? 0) + 2) < 1.01 && held[1]["share_at_or_under"] as? Double == 1)
        let head = try SegmentJNDHead(path: out)
        #expect(head.header.version == "segment-jnd-test-v1" && head.header.codec == "libx264" && head.header.tau == 0.12)
        // Fitted on both: slope 1 on the crop JND and on log2 width, intercept between the two offsets.
        #expect(abs(head.weights[1] - 1) < 0.01 && abs(head.weights[2] - 1) < 0.01 && abs(head.weights[0] - 2) < 0.01, "\(head.weights)")
    }

    /// `encode --segment-head`: a head that cannot be read, one fitted for another codec, and a head with the oracle's
    /// JNDs are clear errors before anything is written.
    @Test(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
    func encodeRefusesAHeadItCannotUse() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("o.mp4").path
        let missing = try CLI.run(["encode", Fixtures.sampleClip, "-o", out, "--segment-head", dir.appendingPathComponent("none.fjvh").path])
        #expect(missing.status != 0 && missing.stderr.contains("not a usable facejnd segment JND head"), "\(missing.stderr)")
        let head = SegmentJNDHead(
            header: .init(codec: "libx264", tau: 0.12, predictor: "p", shift: 0, quantile: 0.5, training: [:]), weights: [0, 1, 0])
        let path = dir.appendingPathComponent("h.fjvh").path
        try head.write(to: path)
        let codec = try CLI.run(["encode", Fixtures.sampleClip, "-o", out, "--codec", "libx265", "--segment-head", path])
        #expect(codec.status != 0 && codec.stderr.contains("was fitted for libx264 at τ 0.12, not libx265"), "\(codec.stderr)")
        let oracle = try CLI.run(["encode", Fixtures.sampleClip, "-o", out, "--jnd", "oracle", "--segment-head", path])
        #expect(oracle.status == 64 && oracle.stderr.contains("cannot be used with --jnd oracle"), "\(oracle.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func reportsItCannotUseAreRefusedClearly() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try report("a", offset: 1, in: dir), old = try report("old", offset: 1, predicted: false, in: dir)
        let out = dir.appendingPathComponent("h.fjvh").path
        let noPrediction = try CLI.run(["jnd", "fit-head", a, old, "-o", out])
        #expect(noPrediction.status != 0 && noPrediction.stderr.contains("no segment has a predicted crop JND"), "\(noPrediction.stderr)")
        let missing = try CLI.run(["jnd", "fit-head", a, dir.appendingPathComponent("none.json").path, "-o", out])
        #expect(missing.status != 0 && missing.stderr.contains("not found"), "\(missing.stderr)")
        let notReport = dir.appendingPathComponent("x.json").path
        try Data("{\"frames\": []}".utf8).write(to: URL(fileURLWithPath: notReport))
        let wrong = try CLI.run(["jnd", "fit-head", a, notReport, "-o", out])
        #expect(wrong.status != 0 && wrong.stderr.contains("not a segment JND report"), "\(wrong.stderr)")
        let one = try CLI.run(["jnd", "fit-head", a, "-o", out])
        #expect(one.status != 0 && one.stderr.contains("at least two reports"), "\(one.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "nothing written on a refused run")
    }
}
