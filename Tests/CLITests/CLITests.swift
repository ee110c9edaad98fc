import Foundation
import MediaIO
import Testing
import _TestSupport

/// Runs the built `facejnd` executable end to end.
struct CLI {
    static var executable: URL {
        // Test bundles sit next to the products in .build/<configuration>/.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("facejnd")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return Fixtures.repositoryRoot.appendingPathComponent(".build/debug/facejnd")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        try run(executable, arguments, environment: environment)
    }

    /// Runs any program (a repository script, say) and collects its exit status and output.
    static func run(_ program: URL, _ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let p = Process()
        p.executableURL = program
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }
}

@Suite struct CLITests {
    @Test func helpListsTheCommands() throws {
        let r = try CLI.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("transcode") && r.stdout.contains("probe"))
        let t = try CLI.run(["transcode", "--help"])
        #expect(t.status == 0)
        for option in ["--codec", "--preset", "--qp", "--crf", "--qp-plan", "--output"] {
            #expect(t.stdout.contains(option), "transcode --help lacks \(option)")
        }
    }

    @Test func probeReportsEveryFrameAsJSON() throws {
        let r = try CLI.run(["probe", Fixtures.sampleClip, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let stream = try #require(doc["stream"] as? [String: Any])
        #expect(stream["codec"] as? String == "h264")
        #expect(stream["width"] as? Int == 640 && stream["height"] as? Int == 480)
        for key in ["fps", "duration", "bitrate"] { #expect(stream[key] is NSNumber, "stream.\(key)") }
        let frames = try #require(doc["frames"] as? [[String: Any]])
        #expect(frames.count == 90)
        for (i, f) in frames.enumerated() {
            #expect(f["index"] as? Int == i)
            for key in ["pts", "type", "bytes", "qp_mean", "qp_min", "qp_max"] { #expect(f[key] != nil, "frame \(i) lacks \(key)") }
        }
    }

    @Test func probeOfHEVCReportsNullQP() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 5)
        let hevc = dir.appendingPathComponent("h.mkv").path
        let t = try CLI.run(["transcode", input, "-o", hevc, "--codec", "libx265", "--preset", "ultrafast", "--qp", "30", "--json"])
        #expect(t.status == 0, "\(t.stderr)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any])
        let rows = try #require(summary["frames"] as? [[String: Any]])
        #expect(rows.count == 5 && rows.allSatisfy { ($0["encoder_qp"] as? Double) == 30 })
        let r = try CLI.run(["probe", hevc, "--json"])
        #expect(r.status == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let frames = try #require(doc["frames"] as? [[String: Any]])
        #expect(frames.count == 5)
        #expect(frames.allSatisfy { $0["qp_mean"] is NSNull && $0["qp_min"] is NSNull && $0["qp_max"] is NSNull })
    }

    /// Each bad input: a clear one-line message, a non-zero exit, and no output file.
    @Test(arguments: ["missing", "text", "truncated", "codec", "unwritable", "plan-past-end", "bad-plan", "two-modes"])
    func badInputsFailCleanly(kind: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Fixtures.makeClip(at: dir.appendingPathComponent("good.mp4").path, frames: 12)
        let out = dir.appendingPathComponent("out.mp4").path
        var args = ["transcode", good, "-o", out, "--preset", "ultrafast"]
        var expected = ""
        switch kind {
        case "missing":
            args[1] = dir.appendingPathComponent("absent.mp4").path
            expected = "input file not found"
        case "text":
            args[1] = dir.appendingPathComponent("text.mp4").path
            try "hello\n".write(toFile: args[1], atomically: true, encoding: .utf8)
            expected = "cannot open"
        case "truncated":
            args[1] = dir.appendingPathComponent("cut.mp4").path
            let d = try Data(contentsOf: URL(fileURLWithPath: good))
            try d.prefix(d.count / 3).write(to: URL(fileURLWithPath: args[1]))
            expected = "cannot open"
        case "codec":
            args += ["--codec", "h264_nonsense"]
            expected = "available: libx264, libx265"
        case "unwritable":
            args[3] = "/proc/facejnd-cannot-write-here/out.mp4"
            expected = "cannot write output"
        case "plan-past-end":
            let plan = dir.appendingPathComponent("plan.json").path
            try #"{"default_qp":24,"frames":[{"from":5,"to":40,"qp":30}]}"#.write(toFile: plan, atomically: true, encoding: .utf8)
            args += ["--qp-plan", plan]
            expected = "names frame 40 but the video has only 12 frames"
        case "bad-plan":
            let plan = dir.appendingPathComponent("plan.json").path
            try #"{"default_qp":99}"#.write(toFile: plan, atomically: true, encoding: .utf8)
            args += ["--qp-plan", plan]
            expected = "default_qp 99 is outside"
        case "two-modes":
            args += ["--qp", "20", "--crf", "20"]
            expected = "only one of --qp, --crf and --qp-plan"
        default:
            Issue.record("unknown case")
        }
        let r = try CLI.run(args)
        #expect(r.status != 0)
        #expect(r.stderr.contains(expected), "stderr: \(r.stderr)")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("crashed"))
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(Fixtures.listing(dir).allSatisfy { !$0.contains("facejnd-tmp") }, "temporary file left: \(Fixtures.listing(dir))")
    }

    @Test func interruptLeavesNoOutput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, width: 640, height: 480, frames: 150)
        let out = dir.appendingPathComponent("out.mp4").path
        let p = Process()
        p.executableURL = CLI.executable
        p.arguments = ["transcode", input, "-o", out, "--preset", "veryslow", "--qp", "20"]
        p.standardError = Pipe()
        p.standardOutput = Pipe()
        try p.run()
        // Wait until the temporary output exists, so the interrupt lands mid-encode.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !Fixtures.listing(dir).contains(where: { $0.contains("facejnd-tmp") }) { usleep(20_000) }
        #expect(Fixtures.listing(dir).contains(where: { $0.contains("facejnd-tmp") }), "transcode never started writing")
        p.interrupt()
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(Fixtures.listing(dir) == ["in.mp4"])
    }
}
