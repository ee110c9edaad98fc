import Foundation
import MediaIO
import RateControl
import Testing
import _TestSupport

@Suite struct ChunkedTranscoderTests {
    private func presentationTimes(_ path: String) throws -> [Double] {
        let r = try VideoReader(path: path)
        var t: [Double] = []
        try r.forEachFrame { _, f in
            t.append(r.seconds(f) ?? -1)
            return true
        }
        return t
    }

    private func keyframes(_ path: String) throws -> [Int] {
        let r = try VideoReader(path: path)
        var k: [Int] = []
        try r.forEachFrame { i, f in
            if f.pictureType == "I" { k.append(i) }
            return true
        }
        return k
    }

    /// Chunks of 7 frames over `input`; chunk 1's first encode is rejected once. Returns the result and how often each
    /// frame was handed to the encoder.
    private func run(_ input: String, _ output: String, codec: String = "libx264") throws -> (ChunkedTranscodeResult, [Int: Int], [Int]) {
        var sent: [Int: Int] = [:]
        var verified: [Int] = []
        let t = ChunkedTranscoder(
            input: input, output: output,
            encoder: EncoderSettings(codec: codec, preset: "ultrafast", rateControl: .planned(anchorQP: 30)),
            chunkFrames: 7, maxEncodes: 3)
        let r = try t.run(
            frameQP: { attempt, i, _ in
                sent[i, default: 0] += 1
                #expect(attempt.frames.contains(i))
                return FrameQP(qp: attempt.attempt == 0 ? 34 : 20)
            },
            verify: { attempt, decoded in
                #expect(decoded.map(\.index) == Array(attempt.frames), "a chunk decodes to its own frames, in order")
                verified.append(attempt.chunk)
                return !(attempt.chunk == 1 && attempt.attempt == 0)
            })
        return (r, sent, verified)
    }

    @Test(arguments: ["out.mp4", "out.mkv"])
    func chunksJoinIntoOneStreamWithEveryFrameAndTimestamp(name: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 30, audio: false)
        let output = dir.appendingPathComponent(name).path
        let (r, sent, verified) = try run(input, output)
        #expect(r.transcode.frameCount == 30)
        #expect(r.chunks.map(\.firstFrame) == [0, 7, 14, 21, 28])
        #expect(r.chunks.map(\.frameCount) == [7, 7, 7, 7, 2])
        #expect(r.chunks.map(\.encodes) == [1, 2, 1, 1, 1])
        // The rejected chunk is the only one encoded twice.
        #expect((0..<30).allSatisfy { sent[$0] == ((7..<14).contains($0) ? 2 : 1) })
        #expect(verified == [0, 1, 1, 2, 3, 4])
        let a = try presentationTimes(input), b = try presentationTimes(output)
        #expect(b.count == 30)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 }, "timestamps changed: \(a) vs \(b)")
        // Every chunk starts with a keyframe: each is a closed piece of the stream.
        let k = try keyframes(output)
        #expect([0, 7, 14, 21, 28].allSatisfy { k.contains($0) }, "keyframes at \(k)")
        // The bytes recorded per chunk are the video stream's bytes.
        #expect(r.chunks.map(\.bytes).reduce(0, +) == r.transcode.frames.map(\.bytes).reduce(0, +))
    }

    @Test func variableFrameRateAndAudioSurviveTheChunks() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var ticks: [Int64] = []
        var t: Int64 = 0
        for i in 0..<24 { ticks.append(t); t += [40, 80, 20, 40, 120][i % 5] }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("vfr.mov").path, frames: 24, ptsTicks: ticks, audio: true)
        let output = dir.appendingPathComponent("out.mov").path
        let (r, _, _) = try run(input, output)
        #expect(r.transcode.frameCount == 24)
        let a = try presentationTimes(input), b = try presentationTimes(output)
        #expect(b.count == 24)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 }, "VFR timestamps changed: \(a) vs \(b)")
        let audioIn = try Demuxer(path: input).streams.filter { $0.kind == .audio }
        let audioOut = try Demuxer(path: output).streams.filter { $0.kind == .audio }
        #expect(audioIn.count == 1 && audioOut.count == 1)
        let pi = try VideoReader.packets(path: input, stream: audioIn[0].index)
        let po = try VideoReader.packets(path: output, stream: audioOut[0].index)
        #expect(pi.flatMap(\.data) == po.flatMap(\.data), "audio payload changed")
    }

    @Test func hevcChunksJoinToo() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, width: 192, height: 128, frames: 16)
        let output = dir.appendingPathComponent("out.mp4").path
        let (r, _, _) = try run(input, output, codec: "libx265")
        #expect(r.chunks.map(\.encodes) == [1, 2, 1])
        let b = try presentationTimes(output)
        #expect(b.count == 16)
    }

    @Test func aFailingVerificationLeavesNoOutput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 20)
        struct Stop: Error {}
        let t = ChunkedTranscoder(
            input: input, output: dir.appendingPathComponent("out.mp4").path,
            encoder: EncoderSettings(codec: "libx264", preset: "ultrafast", rateControl: .planned(anchorQP: 30)),
            chunkFrames: 8, maxEncodes: 2)
        #expect(throws: Stop.self) {
            _ = try t.run(
                frameQP: { _, _, _ in FrameQP(qp: 30) },
                verify: { a, _ in
                    if a.chunk == 1 { throw Stop() }; return true
                })
        }
        #expect(Fixtures.listing(dir) == ["in.mp4"])
    }
}
