import FaceAnalysis
import Foundation
import Studies
import Testing
import _TestSupport

/// The research commands end to end on small committed inputs: `jnd measure`, `jnd calibrate`, `jnd image-study`.
@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct StudiesCLITests {
    private func json(_ line: Substring) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test func jndMeasurePrintsTheFirstCrossingOfItsOwnCurve() throws {
        let r = try CLI.run(["jnd", "measure", fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png").path, "--json"])
        #expect(r.status == 0, "\(r.stderr.suffix(300))")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let o = try json(try #require(lines.first))
        let jnd = try #require(o["jnd_qp"] as? Int), tau = try #require(o["tau"] as? Double)
        let curve = try #require(o["curve"] as? [[String: Any]]).map { ($0["qp"] as! Int, $0["d"] as! Double) }.sorted { $0.0 < $1.0 }
        // The JND is the last QP before the first measured crossing of τ, and the QP after it was measured.
        #expect(curve.filter { $0.0 <= jnd }.allSatisfy { $0.1 <= tau })
        #expect(curve.contains { $0.0 == jnd + 1 && $0.1 > tau }, "\(curve)")
        #expect(o["encodes"] as? Int == curve.count)
    }

    @Test func jndCalibrateMeasuresAccuracyPerTauAndResumesFromItsCache() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images")
        func put(_ fixture: String, _ person: String, _ n: Int) throws {
            let folder = images.appendingPathComponent(person)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent(fixture), to: folder.appendingPathComponent("\(person)_000\(n).jpg"))
        }
        try put("openmpf_group_video_01_01_q85.jpg", "Ann", 1)
        try put("openmpf_group_video_01_01_444.jpg", "Ann", 2)
        try put("openmpf_hikers_video_02_03.png", "Bob", 1)
        let pairs = dir.appendingPathComponent("pairs.txt")
        try "1 2\nAnn 1 2\nAnn 1 Bob 1\n".write(to: pairs, atomically: true, encoding: .utf8)
        let cache = dir.appendingPathComponent("curves.jsonl").path
        let args = ["jnd", "calibrate", "--pairs", pairs.path, "--images", images.path, "--cache", cache, "--taus", "0.05,0.12", "--json"]
        let r = try CLI.run(args)
        #expect(r.status == 0, "\(r.stderr.suffix(300))")
        let o = try json(Substring(r.stdout))
        let rows = try #require(o["rows"] as? [[String: Any]], "\(o.keys.sorted())")
        #expect(rows.count == 2)
        let cached = try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n").count
        #expect(cached == 3, "one curve per image")
        // A second run reads every curve from the cache and reports the same figures.
        let again = try CLI.run(args)
        #expect(again.status == 0 && again.stdout == r.stdout)
        #expect(try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n").count == cached)
    }

    @Test func jndImageStudyTakesOnlyHeldOutIdentitiesAndSaysSoWhenThereAreNone() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images")
        let held = "Bob", kept = "Ann"
        #expect(JNDBaselines.isTest(identity: held) && !JNDBaselines.isTest(identity: kept))
        let folder = images.appendingPathComponent(kept)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png"), to: folder.appendingPathComponent("\(kept)_0001.png"))
        let none = try CLI.run(["jnd", "image-study", "--images", images.path, "--json"])
        #expect(none.status != 0 && none.stderr.contains("held-out"), "\(none.stderr)")
        let heldFolder = images.appendingPathComponent(held)
        try FileManager.default.createDirectory(at: heldFolder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png"), to: heldFolder.appendingPathComponent("\(held)_0001.png"))
        let out = dir.appendingPathComponent("study.json").path
        let r = try CLI.run(["jnd", "image-study", "--images", images.path, "--json", "--out", out, "--qp-offset", "8"])
        #expect(r.status == 0, "\(r.stderr.suffix(300))")
        let rows = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(rows.compactMap { $0["prefilter"] as? String } == ["denoise", "jnd", "placebo"])
        let report = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        let faces = try #require(report["faces"] as? [[String: Any]])
        #expect(!faces.isEmpty && faces.allSatisfy { ($0["source"] as? String)?.contains("/\(held)/") == true })
        #expect(report["qp_offset"] as? Int == 8)
        #expect(try CLI.run(["jnd", "image-study", "--images", dir.appendingPathComponent("missing").path]).status != 0)
    }

    @Test func detailPassesAndCeilingsOutOfRangeAreRefusedBeforeAnyWork() throws {
        let ceilings = try CLI.run(["jnd", "image-study", "--images", "/nonexistent", "--detail-ceilings", "1", "9"])
        #expect(ceilings.status != 0 && ceilings.stderr.contains("--detail-ceilings takes pass counts from 1 to 8"), "\(ceilings.stderr)")
        let noMask = try CLI.run(["jnd", "image-train", "--images", "/nonexistent", "--out", "/nonexistent/m.fjnd", "--detail-passes", "2"])
        #expect(noMask.status != 0 && noMask.stderr.contains("--detail-passes needs --detail-mask"), "\(noMask.stderr)")
        let zero = try CLI.run([
            "jnd", "image-train", "--images", "/nonexistent", "--out", "/nonexistent/m.fjnd", "--detail-mask", "--detail-passes", "0",
        ])
        #expect(zero.status != 0 && zero.stderr.contains("--detail-passes takes 1 to 8"), "\(zero.stderr)")
    }
}
