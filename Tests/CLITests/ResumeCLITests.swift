import FaceAnalysis
import Foundation
import Testing
import _TestSupport

/// `encode --chunk-seconds --resume`: a run killed with SIGKILL after some chunks were finished is taken over by the
/// next run, which encodes only the rest and writes the same file as a run that was never interrupted; a damaged
/// chunk and the chunks after it are encoded again.
@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"), .serialized)
struct ResumeCLITests {
    let options = ["--chunk-seconds", "0.2", "--detect-every", "6", "--preset", "veryfast", "--detector", "mmod"]

    @Test func aKilledChunkedEncodeResumesToTheSameFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Fixtures.shortSample(frames: 30, in: dir)
        let work = dir.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let reference = dir.appendingPathComponent("reference.mp4").path
        let full = try CLI.run(["encode", clip, "-o", reference] + options)
        #expect(full.status == 0, "\(full.stderr)")

        let out = work.appendingPathComponent("out.mp4").path
        let chunks = work.appendingPathComponent(".out.mp4.facejnd-chunks")
        let p = Process()
        p.executableURL = CLI.executable
        p.arguments = ["encode", clip, "-o", out, "--resume"] + options
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Kill it as soon as its second chunk is kept.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, p.isRunning, !Fixtures.listing(chunks).contains("chunk-000001.json") { usleep(5_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal, "the encode finished before it could be killed")
        #expect(!Fixtures.listing(work).contains("out.mp4"), "a partial output in place")
        #expect(Fixtures.listing(chunks).filter { $0.hasSuffix(".json") && $0.hasPrefix("chunk-") }.count >= 2)
        // A damaged chunk is not taken over, nor is anything after it: cut the second chunk's packets short.
        let second = chunks.appendingPathComponent("chunk-000001.bin")
        let bytes = try Data(contentsOf: second)
        try bytes.prefix(bytes.count / 2).write(to: second)
        let kept = 1

        let report = dir.appendingPathComponent("r.json").path
        let rerun = try CLI.run(["encode", clip, "-o", out, "--resume", "--report", report] + options)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: reference)), "resumed output differs")
        // The kept chunks were taken over (0 encodes), the others encoded; nothing is left beside the output.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as! [String: Any]
        let encodes = (json["chunks"] as! [[String: Any]]).map { $0["encodes"] as! Int }
        #expect(encodes.prefix(kept).allSatisfy { $0 == 0 } && encodes.dropFirst(kept).allSatisfy { $0 >= 1 }, "\(encodes)")
        #expect(encodes.count > kept)
        #expect(Fixtures.listing(work) == ["out.mp4"], "leftovers: \(Fixtures.listing(work))")
    }

    @Test func resumeWithoutChunksIsAnOptionError() throws {
        let r = try CLI.run(["encode", Fixtures.sampleClip, "-o", "/tmp/never.mp4", "--chunk-seconds", "0", "--resume"])
        #expect(r.status == 64 && r.stderr.contains("--resume needs --chunk-seconds"), "\(r.stderr)")
    }
}
