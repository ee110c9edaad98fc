import FaceAnalysis
import Foundation
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct FacesCLITests {
    private var frame: String {
        Fixtures.repositoryRoot.appendingPathComponent("Tests/FaceAnalysisTests/Fixtures/openmpf_group_video_01_01.png").path
    }

    @Test func imagePrintsOneJSONLineWithEveryField() throws {
        let r = try CLI.run(["faces", frame, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(doc["source"] as? String == frame && doc["frame"] as? Int == 0)
        #expect(doc["width"] as? Int == 640 && doc["height"] as? Int == 480)
        let faces = try #require(doc["faces"] as? [[String: Any]])
        #expect(faces.count == 2)
        for f in faces {
            #expect((f["box"] as? [Int])?.count == 4)
            #expect(f["confidence"] is NSNumber)
            #expect((f["landmarks"] as? [[Double]])?.count == 5)
            #expect((f["embedding"] as? [Double])?.count == 128)
        }
    }

    @Test func videoEveryNthFrame() throws {
        let r = try CLI.run(["faces", Fixtures.sampleClip, "--every", "30", "--upsample", "0", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let frames = try r.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["frame"] as? Int
        }
        #expect(frames == [0, 30, 60])
    }

    @Test func badInputsAreClearErrors() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.txt").path
        try "hello".write(toFile: text, atomically: true, encoding: .utf8)
        let r1 = try CLI.run(["faces", text, "--json"])
        #expect(r1.status != 0 && r1.stderr.contains("cannot open"), "\(r1.stderr)")
        let r2 = try CLI.run(["faces", frame, "--models", dir.path, "--json"])
        #expect(r2.status != 0 && r2.stderr.contains("scripts/fetch-models"), "\(r2.stderr)")
        let r3 = try CLI.run(["verify", "--pairs", dir.appendingPathComponent("none.txt").path, "--images", dir.path])
        #expect(r3.status != 0 && r3.stderr.contains("cannot read pairs file"), "\(r3.stderr)")
    }

    @Test func qualityPrintsEveryScorePerFaceAndRefusesADamagedModel() throws {
        let r = try CLI.run(["quality", frame, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try r.stdout.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(rows.count == 2)
        for row in rows {
            for key in ["cr", "ri", "consistency", "score"] { #expect(row[key] is NSNumber, "\(key) missing") }
            let score = try #require(row["score"] as? Double)
            #expect((0...1).contains(score))
            #expect((row["box"] as? [Int])?.count == 4)
        }
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.fjqm")
        try Data("FJQM but nothing else".utf8).write(to: bad)
        let b = try CLI.run(["quality", frame, "--model", bad.path, "--json"])
        #expect(b.status != 0 && b.stderr.contains("not a usable facejnd quality model"), "\(b.stderr)")
        #expect(b.stdout.isEmpty)
    }
}
