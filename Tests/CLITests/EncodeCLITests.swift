import FaceAnalysis
import Foundation
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct EncodeCLITests {
    @Test func helpDocumentsTheEncodeCommands() throws {
        let r = try CLI.run(["--help"])
        for command in ["encode", "compare", "sweep"] { #expect(r.stdout.contains(command), "--help lacks \(command)") }
        let e = try CLI.run(["encode", "--help"])
        for option in ["--output", "--codec", "--tau", "--background-qp", "--report", "--html", "--jnd", "--detect-every"] {
            #expect(e.stdout.contains(option), "encode --help lacks \(option)")
        }
        // --threshold, encode's first name for --tau, is still read (scripts use it) but no longer shown.
        #expect(!e.stdout.contains("--threshold"))
        let old = try CLI.run(["encode", "in.mp4", "-o", "out.mp4", "--threshold=-1"])
        #expect(old.status != 0 && old.stderr.contains("--tau must be positive"), "\(old.stderr)")
        let c = try CLI.run(["compare", "--help"])
        for option in ["--reference-crf", "--reference-qp", "--reference", "face-roi", "--sweep", "--json"] {
            #expect(c.stdout.contains(option), "compare --help lacks \(option)")
        }
        let s = try CLI.run(["sweep", "--help"])
        for option in ["--qp", "--csv"] { #expect(s.stdout.contains(option), "sweep --help lacks \(option)") }
    }

    @Test func badInputsAreClearErrorsAndLeaveNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = dir.appendingPathComponent("notes.txt").path
        try "not a video".write(toFile: text, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.mp4").path
        let cases: [([String], String)] = [
            (["encode", dir.appendingPathComponent("missing.mp4").path, "-o", out], "missing.mp4"),
            (["encode", text, "-o", out], "cannot open"),
            (["encode", Fixtures.sampleClip, "-o", out, "--codec", "libvpx-vp9"], "--codec"),
            (["encode", Fixtures.sampleClip, "-o", out, "--background-qp", "60"], "--background-qp"),
            (
                ["encode", Fixtures.sampleClip, "-o", dir.appendingPathComponent("no/such/dir/out.mp4").path, "--detect-every", "30"],
                "facejnd: error: cannot write output \(dir.appendingPathComponent("no/such/dir/out.mp4").path): directory \(dir.appendingPathComponent("no/such/dir").path) does not exist"
            ),
            (["compare", Fixtures.sampleClip, "--reference-qp", "30", "--reference-crf", "23"], "at most one"),
            (["compare", Fixtures.sampleClip, "--reference", "face-roi", "--reference-crf", "23"], "--reference-crf needs --reference uniform"),
            (["compare", Fixtures.sampleClip, "--reference", "roi"], "--reference"),
            (["jnd", "measure", Fixtures.sampleClip, "--segment-frames", "10"], "--segment-frames needs --segments"),
            (["jnd", "measure", Fixtures.sampleClip, "--segments", "--segment-frames", "0"], "--segment-frames must be at least 1"),
            (["sweep", Fixtures.sampleClip, "--qp", "40:20:4"], "A:B:STEP"),
        ]
        for (args, message) in cases {
            let r = try CLI.run(args)
            #expect(r.status != 0, "\(args) succeeded")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        #expect(Fixtures.listing(dir) == ["notes.txt"])
    }

    @Test func sweepPrintsOneCSVRowPerQPAndMode() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Fixtures.makeClip(at: dir.appendingPathComponent("clip.mp4").path, frames: 10)
        let r = try CLI.run(["sweep", clip, "--qp", "24:36:12", "--csv", "--preset", "veryfast"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        #expect(lines.first == ["mode", "qp", "bytes", "kbps", "faces", "within_tau", "mean_distance", "max_distance"])
        let rows = lines.dropFirst()
        #expect(rows.map { "\($0[0])@\($0[1])" } == ["uniform@24", "facejnd@24", "uniform@36", "facejnd@36"])
        let bytes = rows.map { Int($0[2]) ?? 0 }
        #expect(bytes[0] > bytes[2] && bytes[1] > bytes[3], "bytes fall with QP: \(bytes)")
        #expect(Fixtures.listing(dir) == ["clip.mp4"], "scratch files left: \(Fixtures.listing(dir))")
    }

    @Test func interruptDuringEncodeLeavesNoOutput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.mp4").path
        let p = Process()
        p.executableURL = CLI.executable
        p.arguments = [
            "encode", Fixtures.sampleClip, "-o", out, "--report", dir.appendingPathComponent("r.json").path,
            "--detect-every", "30", "--preset", "veryslow", "--detector", "mmod",
        ]
        p.standardError = Pipe()
        p.standardOutput = Pipe()
        try p.run()
        // Wait until a pass is being written, so the interrupt lands mid-encode.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, p.isRunning, !Fixtures.listing(dir).contains(where: { $0.contains("facejnd-") }) { usleep(20_000) }
        #expect(Fixtures.listing(dir).contains(where: { $0.contains("facejnd-") }), "encode never started writing")
        p.interrupt()
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(Fixtures.listing(dir) == [])
    }
}
