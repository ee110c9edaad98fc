import Archive
import FaceAnalysis
import Foundation
import Testing
import _TestSupport

/// `facejnd batch` end to end on short clips: sharding by the Kubernetes index, failures isolated with exit status 3,
/// idempotent reruns, a setting change re-encoding, and a SIGKILL mid-file leaving nothing partial.
@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"), .serialized)
struct BatchCLITests {
    let fast = ["--detect-every", "6", "--preset", "ultrafast"]

    /// Every file under `dir`, relative, sorted.
    private func tree(_ dir: URL) -> [String] {
        let e = FileManager.default.enumerator(atPath: dir.path)
        var files: [String] = []
        while let p = e?.nextObject() as? String {
            var d: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent(p).path, isDirectory: &d), !d.boolValue { files.append(p) }
        }
        return files.sorted()
    }

    private func modified(_ path: URL) throws -> Date { try FileManager.default.attributesOfItem(atPath: path.path)[.modificationDate] as! Date }

    @Test func threeShardsEncodeEveryGoodFileOnceAndReportTheBadOnes() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in"), out = dir.appendingPathComponent("out")
        for sub in ["cam1", "cam2", "bad"] {
            try FileManager.default.createDirectory(at: input.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let clip = try Fixtures.shortSample(frames: 12, in: dir)
        try FileManager.default.copyItem(atPath: clip, toPath: input.appendingPathComponent("cam1/a.mp4").path)
        try FileManager.default.copyItem(atPath: clip, toPath: input.appendingPathComponent("cam2/b c;$x.mp4").path)
        try "not a video".write(to: input.appendingPathComponent("bad/notes.mp4"), atomically: true, encoding: .utf8)
        try Data(try Data(contentsOf: URL(fileURLWithPath: clip)).prefix(3000)).write(to: input.appendingPathComponent("bad/trunc.mp4"))
        // Cut in half with its index in front: it opens, and only its first frames decode.
        let front = dir.appendingPathComponent("front.mp4").path
        let remux = try CLI.run(URL(fileURLWithPath: "/usr/bin/ffmpeg"), ["-v", "error", "-i", clip, "-c", "copy", "-movflags", "+faststart", front])
        #expect(remux.status == 0, "\(remux.stderr)")
        let whole = try Data(contentsOf: URL(fileURLWithPath: front))
        try Data(whole.prefix(whole.count / 2)).write(to: input.appendingPathComponent("bad/half.mp4"))
        try "ignored".write(to: input.appendingPathComponent("readme.txt"), atomically: true, encoding: .utf8)

        // --list: the three shards' lists partition the four files.
        var listed: [String] = []
        for index in 0..<3 {
            let r = try CLI.run(["batch", input.path, "-o", out.path, "--shard", "\(index)/3", "--list"])
            #expect(r.status == 0, "\(r.stderr)")
            listed += r.stdout.split(separator: "\n").map { URL(fileURLWithPath: String($0.split(separator: "\t")[0])).lastPathComponent }
        }
        #expect(listed.sorted() == ["a.mp4", "b c;$x.mp4", "half.mp4", "notes.mp4", "trunc.mp4"])
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("cam1").path), "--list wrote outputs")

        var outcomes: [String: [String]] = [:]
        for index in 0..<3 {
            let r = try CLI.run(
                ["batch", input.path, "-o", out.path, "--json"] + fast, environment: ["JOB_COMPLETION_INDEX": "\(index)", "FACEJND_SHARDS": "3"])
            var sawBad = false
            for line in r.stdout.split(separator: "\n") {
                let s = try JSONDecoder().decode(BatchFileStatus.self, from: Data(line.utf8))
                outcomes[URL(fileURLWithPath: s.input).lastPathComponent, default: []].append(s.outcome.rawValue)
                if s.outcome == .failed {
                    sawBad = true
                    let expected = s.input.hasSuffix("half.mp4") ? "is truncated or damaged" : "cannot open"
                    #expect(s.error?.contains(expected) == true, "\(s)")
                }
            }
            #expect(r.status == (sawBad ? 3 : 0), "shard \(index): \(r.status) \(r.stderr)")
        }
        #expect(
            outcomes == ["a.mp4": ["encoded"], "b c;$x.mp4": ["encoded"], "half.mp4": ["failed"], "notes.mp4": ["failed"], "trunc.mp4": ["failed"]])
        #expect(
            tree(out) == [
                "bad/half.mp4.failed.json", "bad/notes.mp4.failed.json", "bad/trunc.mp4.failed.json", "cam1/a.mp4", "cam1/a.mp4.report.json",
                "cam2/b c;$x.mp4",
                "cam2/b c;$x.mp4.report.json",
            ])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("cam1/a.mp4.report.json"))) as? [String: Any]
        #expect((report?["source"] as? [String: Any])?["settings_hash"] is String)
        let schema = try JSONSchemaCheck(schemaFile: Fixtures.repositoryRoot.appendingPathComponent("docs/encode-report.schema.json"))
        #expect(try schema.violations(of: Data(contentsOf: out.appendingPathComponent("cam1/a.mp4.report.json"))) == [])

        // batch-report's totals are the per-file reports' sums; the two bad files are listed with their errors.
        let html = dir.appendingPathComponent("batch.html")
        let summary = try CLI.run(["batch-report", out.path, "--json", "--html", html.path])
        #expect(summary.status == 0, "\(summary.stderr)")
        let totals = try #require(try JSONSerialization.jsonObject(with: Data(summary.stdout.utf8)) as? [String: Any])
        var bytesOut = 0, faces = 0, within = 0, bytesIn = 0
        for name in ["cam1/a.mp4", "cam2/b c;$x.mp4"] {
            let r = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent(name + ".report.json"))) as? [String: Any])
            bytesOut += r["output_bytes"] as! Int
            let fidelity = r["fidelity"] as! [String: Any]
            faces += fidelity["faces"] as! Int
            within += fidelity["within_tau"] as! Int
            bytesIn += ((r["source"] as! [String: Any])["fingerprint"] as! [String: Any])["size"] as! Int
        }
        #expect(totals["files"] as? Int == 2 && totals["failed"] as? Int == 3)
        #expect(totals["bytes_out"] as? Int == bytesOut && totals["bytes_in"] as? Int == bytesIn)
        #expect(totals["faces"] as? Int == faces && totals["within_tau"] as? Int == within && faces > 0)
        #expect(abs((totals["video_hours"] as? Double ?? 0) - 2 * 12 / 30 / 3600) < 1e-9)
        let failures = try #require(totals["failures"] as? [[String: Any]])
        #expect(failures.map { URL(fileURLWithPath: $0["input"] as! String).lastPathComponent }.sorted() == ["half.mp4", "notes.mp4", "trunc.mp4"])
        let page = try String(contentsOf: html, encoding: .utf8)
        #expect(page.contains("<svg class=\"plot\"") && page.contains("trunc.mp4") && page.contains("b c;$x.mp4"))

        // Rerun, unsharded: everything good is skipped, nothing rewritten.
        let before = try modified(out.appendingPathComponent("cam1/a.mp4"))
        let again = try CLI.run(["batch", input.path, "-o", out.path, "--json"] + fast)
        #expect(again.status == 3)
        #expect(again.stdout.components(separatedBy: "\"outcome\":\"skipped\"").count - 1 == 2, "\(again.stdout)")
        #expect(try modified(out.appendingPathComponent("cam1/a.mp4")) == before)

        // One setting changed: encoded again.
        let changed = try CLI.run(
            ["batch", input.appendingPathComponent("cam1").path, "-o", out.appendingPathComponent("cam1").path, "--json", "--background-qp", "38"]
                + fast)
        #expect(changed.status == 0, "\(changed.stderr)")
        #expect(changed.stdout.contains("\"outcome\":\"encoded\""), "\(changed.stdout)")
    }

    @Test func aKilledShardLeavesNoPartialFileAndItsRerunFinishesTheSameOutput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        let clip = try Fixtures.shortSample(frames: 12, in: dir)
        try FileManager.default.copyItem(atPath: clip, toPath: input.appendingPathComponent("a.mp4").path)
        let reference = dir.appendingPathComponent("reference"), out = dir.appendingPathComponent("out")
        #expect(try CLI.run(["batch", input.path, "-o", reference.path] + fast).status == 0)

        let p = Process()
        p.executableURL = CLI.executable
        p.arguments = ["batch", input.path, "-o", out.path] + fast
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Kill it as soon as its first encode pass has started writing.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && !tree(out).contains(where: { $0.hasPrefix(".a.facejnd-") }) { usleep(20_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        #expect(!tree(out).contains("a.mp4"), "a partial output in place: \(tree(out))")

        let rerun = try CLI.run(["batch", input.path, "-o", out.path, "--json"] + fast)
        #expect(rerun.status == 0 && rerun.stdout.contains("\"outcome\":\"encoded\""), "\(rerun.stdout) \(rerun.stderr)")
        #expect(tree(out) == ["a.mp4", "a.mp4.report.json"], "leftovers: \(tree(out))")
        #expect(try Data(contentsOf: out.appendingPathComponent("a.mp4")) == Data(contentsOf: reference.appendingPathComponent("a.mp4")))
    }

    /// Whole-file (`--chunk-seconds 0`): nothing is left. Chunked (the default, and a batch always resumes): only the
    /// hidden work directory with what was finished is left, no output, and the retry finishes and removes it.
    @Test(arguments: [["--chunk-seconds", "0"], []])
    func aFullDiskIsRetryableExit75AndLeavesNoOutput(chunking: [String]) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in"), out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try Fixtures.shortSample(frames: 12, in: dir), toPath: input.appendingPathComponent("a.mp4").path)
        // A file-size limit of 40 blocks stands in for a full disk: the output's write fails with EFBIG.
        let r = try CLI.run(
            URL(fileURLWithPath: "/bin/sh"),
            ["-c", "ulimit -f 40; exec \"$0\" \"$@\"", CLI.executable.path, "batch", input.path, "-o", out.path, "--json"] + fast
                + chunking)
        #expect(r.status == 75, "exit \(r.status): \(r.stderr.suffix(300))")
        let status = try JSONDecoder().decode(BatchFileStatus.self, from: Data(r.stdout.split(separator: "\n").first.map { Data($0.utf8) } ?? Data()))
        #expect(status.outcome == .retryable, "\(status)")
        if chunking.isEmpty {
            #expect(tree(out).allSatisfy { $0.hasPrefix(".a.mp4.facejnd-chunks/") }, "left behind: \(tree(out))")
            let retry = try CLI.run(["batch", input.path, "-o", out.path, "--json"] + fast)
            #expect(retry.status == 0, "\(retry.stderr.suffix(300))")
            #expect(tree(out) == ["a.mp4", "a.mp4.report.json"], "after the retry: \(tree(out))")
        } else {
            #expect(tree(out) == [], "left behind: \(tree(out))")
        }
    }

    @Test func badBatchOptionsAreClearErrors() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [([String], [String: String], String)] = [
            (["batch", dir.path, "-o", dir.appendingPathComponent("o").path, "--shard", "3/3"], [:], "--shard takes i/n"),
            (["batch", dir.path, "-o", dir.appendingPathComponent("o").path], ["JOB_COMPLETION_INDEX": "1"], "--shards N or set FACEJND_SHARDS"),
            (["batch", dir.appendingPathComponent("none*.mp4").path, "-o", dir.appendingPathComponent("o").path], [:], "matches no file"),
            (["batch", dir.path, "-o", dir.path], [:], "is an input"),
        ]
        for (args, env, message) in cases {
            let r = try CLI.run(args, environment: env)
            #expect(r.status != 0 && r.stderr.contains(message), "\(args): \(r.status) \(r.stderr)")
        }
        // A symbolic link planted in OUTDIR does not carry an output elsewhere.
        let input = dir.appendingPathComponent("in/cam"), out = dir.appendingPathComponent("out2"),
            elsewhere = dir.appendingPathComponent("elsewhere")
        for d in [input, out, elsewhere] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: Fixtures.sampleClip, toPath: input.appendingPathComponent("a.mp4").path)
        try FileManager.default.createSymbolicLink(atPath: out.appendingPathComponent("cam").path, withDestinationPath: elsewhere.path)
        let r = try CLI.run(["batch", dir.appendingPathComponent("in").path, "-o", out.path, "--json"])
        #expect(r.status == 3 && r.stdout.contains("leads outside the output directory"), "\(r.status) \(r.stdout) \(r.stderr)")
        #expect(Fixtures.listing(elsewhere) == [])
    }
}
