import CompressionPipeline
import Foundation
import MediaIO
import RateControl
import Testing
import _TestSupport

@Suite struct ErrorTests {
    private func transcodeFails(
        input: String, output: String, codec: String = "libx264",
        quality: TranscodeJob.Quality = .qp(30), _ matches: (Error) -> Bool
    ) throws {
        #expect(throws: (any Error).self) {
            _ = try TranscodeJob(input: input, output: output, codec: codec, preset: "ultrafast", quality: quality).run()
        }
        do {
            _ = try TranscodeJob(input: input, output: output, codec: codec, preset: "ultrafast", quality: quality).run()
        } catch {
            #expect(matches(error), "unexpected error: \(error)")
            #expect(!String(describing: error).isEmpty)
        }
        #expect(!FileManager.default.fileExists(atPath: output), "output left behind")
    }

    @Test func missingInput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try transcodeFails(input: dir.appendingPathComponent("nope.mp4").path, output: dir.appendingPathComponent("o.mp4").path) {
            ($0 as? MediaError) == .fileNotFound(path: dir.appendingPathComponent("nope.mp4").path)
        }
        #expect(Fixtures.listing(dir).isEmpty)
    }

    @Test func textFileNamedMP4() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("notes.mp4").path
        try "this is not a video\n".write(toFile: input, atomically: true, encoding: .utf8)
        try transcodeFails(input: input, output: dir.appendingPathComponent("o.mp4").path) {
            if case .cannotOpen(let p, _)? = $0 as? MediaError { return p == input }
            return false
        }
        #expect(Fixtures.listing(dir) == ["notes.mp4"])
    }

    @Test func truncatedMP4() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = try Fixtures.makeClip(at: dir.appendingPathComponent("full.mp4").path, frames: 20)
        let data = try Data(contentsOf: URL(fileURLWithPath: full))
        let input = dir.appendingPathComponent("cut.mp4").path
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: input))
        try transcodeFails(input: input, output: dir.appendingPathComponent("o.mp4").path) {
            if case .cannotOpen(let p, _)? = $0 as? MediaError { return p == input }
            return false
        }
        #expect(Fixtures.listing(dir) == ["cut.mp4", "full.mp4"])
    }

    @Test func unknownCodecListsTheAvailableOnes() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 5)
        try transcodeFails(input: input, output: dir.appendingPathComponent("o.mp4").path, codec: "libx999") {
            guard case .unknownEncoder(let name, let available)? = $0 as? MediaError else { return false }
            return name == "libx999" && available.contains("libx264") && available.contains("libx265")
                && String(describing: $0).contains("libx264")
        }
        #expect(Fixtures.listing(dir) == ["in.mp4"])
    }

    @Test func unwritableOutputPath() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 5)
        try transcodeFails(input: input, output: dir.appendingPathComponent("no/such/dir/o.mp4").path) {
            if case .outputNotWritable? = $0 as? MediaError { return true }
            return false
        }
        #expect(Fixtures.listing(dir) == ["in.mp4"])
    }

    @Test func planNamingFramesPastTheEnd() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mkv").path, frames: 12)
        let plan = QPPlan(defaultQP: 24, frames: [.init(from: 10, to: 15, qp: 30)])
        try transcodeFails(input: input, output: dir.appendingPathComponent("o.mp4").path, quality: .plan(plan)) {
            ($0 as? QPPlanError) == .framesPastEnd(lastNamed: 15, frameCount: 12)
        }
        #expect(Fixtures.listing(dir) == ["in.mkv"])
    }

    @Test func cancellationLeavesNoOutput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 20)
        let output = dir.appendingPathComponent("o.mp4").path
        var polls = 0
        #expect(throws: CancellationError.self) {
            _ = try TranscodeJob(input: input, output: output, preset: "ultrafast", quality: .qp(30))
                .run(isCancelled: {
                    polls += 1; return polls > 5
                })
        }
        #expect(Fixtures.listing(dir) == ["in.mp4"])
    }
}
