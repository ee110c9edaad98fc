import CompressionPipeline
import FaceAnalysis
import Foundation
import Studies
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct JNDPredictorCLITests {
    private func fixture(_ name: String) -> String {
        Fixtures.repositoryRoot.appendingPathComponent("Tests/FaceAnalysisTests/Fixtures/\(name)").path
    }

    /// jnd-dataset → jnd train → jnd predict --save-maps, end to end on a few committed frames.
    @Test func trainThenPredictWithMaps() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Identities are folder names: one the baselines' split holds out for testing, two it trains on.
        let names = (0..<200).map { "person\($0)" }
        let test = try #require(names.first { JNDBaselines.isTest(identity: $0) })
        let train = names.filter { !JNDBaselines.isTest(identity: $0) }.prefix(2)
        let images = dir.appendingPathComponent("images")
        for (name, file) in zip(
            [test] + train, ["openmpf_group_video_01_01.png", "openmpf_hikers_video_02_01.png", "openmpf_hikers_video_02_03.png"])
        {
            let d = images.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: fixture(file), toPath: d.appendingPathComponent(file).path)
        }
        let dataset = dir.appendingPathComponent("dataset").path
        let built = try CLI.run(["jnd-dataset", "--images", images.path, "--out", dataset, "--codec", "libx264"])
        #expect(built.status == 0, "\(built.stderr)")
        let model = dir.appendingPathComponent("m.fjnd").path, csv = dir.appendingPathComponent("loss.csv").path
        let t = try CLI.run(["jnd", "train", "--dataset", dataset, "--out", model, "--epochs", "2", "--batch", "2", "--loss-csv", csv, "--json"])
        #expect(t.status == 0, "\(t.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any])
        #expect(report["codec"] as? String == "libx264" && report["epochs"] as? Int == 2)
        #expect((report["test_faces"] as? Int ?? 0) >= 1 && (report["train_faces"] as? Int ?? 0) >= 1)
        #expect(try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").count == 3)  // header + 2 epochs

        let maps = dir.appendingPathComponent("maps").path
        let p = try CLI.run(["jnd", "predict", fixture("openmpf_group_video_01_01.png"), "--model", model, "--save-maps", maps, "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let rows = try p.stdout.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(rows.count == 2)
        for row in rows {
            let qp = try #require(row["jnd_qp"] as? Int)
            #expect((-1...51).contains(qp))
            #expect(row["raw_qp"] is NSNumber && row["milliseconds"] is NSNumber)
            let files = try #require(row["maps"] as? [String: String])
            for key in ["crop", "residual", "jnd"] {
                let f = try #require(files[key])
                #expect(FileManager.default.fileExists(atPath: f), "\(key) map missing")
            }
        }
        // A damaged model file: a clear error, no output.
        let bad = dir.appendingPathComponent("bad.fjnd").path
        try Data(try Data(contentsOf: URL(fileURLWithPath: model)).prefix(100)).write(to: URL(fileURLWithPath: bad))
        let b = try CLI.run(["jnd", "predict", fixture("openmpf_group_video_01_01.png"), "--model", bad, "--json"])
        #expect(b.status != 0 && b.stderr.contains("not a usable facejnd JND model"), "\(b.stderr)")
        #expect(b.stdout.isEmpty)
    }
}
