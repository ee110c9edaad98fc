import Foundation
import Testing
import _TestSupport

/// Write failures and signals: a clear message, exit 75 for a failure worth retrying, nothing left behind.
@Suite(.serialized) struct ReliabilityCLITests {
    /// Runs facejnd under a file-size limit of `blocks` (ulimit -f); facejnd ignores SIGXFSZ, so the write fails
    /// with EFBIG instead of the process being killed.
    private func runLimited(_ blocks: Int, _ arguments: [String]) throws -> CLI.Result {
        try CLI.run(URL(fileURLWithPath: "/bin/sh"), ["-c", "ulimit -f \(blocks); exec \"$0\" \"$@\"", CLI.executable.path] + arguments)
    }

    private func expectRetryableWriteFailure(_ r: CLI.Result, naming path: String, _ what: String) {
        #expect(r.status == 75, "\(what): exit \(r.status): \(r.stderr.suffix(300))")
        #expect(r.stderr.contains("writing \(path)"), "\(what): \(r.stderr.suffix(300))")
        #expect(r.stderr.contains("file too large") || r.stderr.contains("no space left on device"), "\(what): \(r.stderr.suffix(300))")
    }

    @Test func aFileSizeLimitDuringTranscodeAndEncodeIsRetryableAndLeavesNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let input = Fixtures.sampleClip
        let inputBefore = try Data(contentsOf: URL(fileURLWithPath: input))

        let t = out.appendingPathComponent("t.mp4").path
        expectRetryableWriteFailure(try runLimited(64, ["transcode", input, "-o", t, "--qp", "20", "--preset", "ultrafast"]), naming: t, "transcode")
        #expect(Fixtures.listing(out) == [])

        let e = out.appendingPathComponent("e.mp4").path
        let r = try runLimited(
            64, ["encode", input, "-o", e, "--report", out.appendingPathComponent("r.json").path, "--detect-every", "30", "--preset", "ultrafast"])
        expectRetryableWriteFailure(r, naming: e, "encode")
        #expect(Fixtures.listing(out) == [])
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == inputBefore)
    }

    @Test func aFullDiskDuringTheJNDDatasetKeepsOnlyWholeFaces() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ds = dir.appendingPathComponent("ds")
        // 100 blocks hold one or two faces' pictures, not all of them.
        let r = try runLimited(100, ["jnd-dataset", "--images", fixtures.path, "--out", ds.path, "--limit", "4", "--threads", "1"])
        #expect(r.status == 75, "exit \(r.status): \(r.stderr.suffix(300))")
        #expect(r.stderr.contains("file too large writing \(ds.path)"), "\(r.stderr.suffix(300))")
        // Every face folder left is complete and indexed; nothing half-written.
        let faces = Fixtures.listing(ds.appendingPathComponent("faces"))
        let index = (try? String(contentsOf: ds.appendingPathComponent("index.jsonl"), encoding: .utf8)) ?? ""
        for face in faces {
            #expect(Fixtures.listing(ds.appendingPathComponent("faces/\(face)")) == ["jnd.png", "original.png", "residual.png"], "\(face)")
            #expect(index.contains("\"id\":\"\(face)\""), "\(face) is not in the index")
        }
        #expect(!Fixtures.listing(ds).contains { $0.contains("tmp") || $0 == "summary.json" })
    }

    /// A 128 KiB tmpfs where this machine lets the test mount one (CI runs as root); elsewhere the same check runs
    /// under a file-size limit, so the test asserts on every machine.
    @Test func aFullDiskDuringEncodeSaysSoExits75AndLeavesNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let mount = dir.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        let mounted = (try? CLI.run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=128k", "tmpfs", mount.path]))?.status == 0
        defer { if mounted { _ = try? CLI.run(URL(fileURLWithPath: "/bin/umount"), [mount.path]) } }
        let out = mount.appendingPathComponent("out.mp4").path
        let arguments = ["encode", Fixtures.sampleClip, "-o", out, "--detect-every", "30", "--preset", "ultrafast"]
        let r = mounted ? try CLI.run(arguments) : try runLimited(64, arguments)
        #expect(r.status == 75, "exit \(r.status): \(r.stderr.suffix(300))")
        #expect(r.stderr.contains((mounted ? "no space left on device" : "file too large") + " writing \(out)"), "\(r.stderr.suffix(300))")
        #expect(Fixtures.listing(mount) == [])
    }

    /// SIGHUP (a closed terminal) stops an encode like SIGINT and SIGTERM; a second signal during cleanup still
    /// leaves nothing behind.
    @Test(arguments: [["HUP"], ["INT", "TERM"], ["TERM", "TERM"]])
    func signalsLeaveNoOutput(_ signals: [String]) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = CLI.executable
        p.arguments = [
            "encode", Fixtures.sampleClip, "-o", dir.appendingPathComponent("out.mp4").path, "--detect-every", "30", "--preset", "veryslow",
        ]
        p.standardError = Pipe()
        p.standardOutput = Pipe()
        try p.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, p.isRunning, !Fixtures.listing(dir).contains(where: { $0.contains("facejnd-") }) { usleep(20_000) }
        #expect(Fixtures.listing(dir).contains(where: { $0.contains("facejnd-") }), "encode never started writing")
        let numbers = ["HUP": SIGHUP, "INT": SIGINT, "TERM": SIGTERM]
        for s in signals { kill(p.processIdentifier, numbers[s]!) }
        p.waitUntilExit()
        let last = numbers[signals.last!]!
        #expect(p.terminationStatus == 130 || p.terminationStatus == 128 + last, "exit \(p.terminationStatus)")
        #expect(Fixtures.listing(dir) == [], "left: \(Fixtures.listing(dir))")
    }
}
