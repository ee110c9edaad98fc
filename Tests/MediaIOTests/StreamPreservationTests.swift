import CompressionPipeline
import Foundation
import MediaIO
import Testing
import _TestSupport

@Suite struct StreamPreservationTests {
    /// Compares the audio of two files: the concatenated payload byte for byte, the start time, and — when the
    /// container keeps packet boundaries (AAC in mp4) — every packet and its timestamp.
    /// (The mov demuxer regroups PCM samples into its own chunks, so PCM packets need not line up one to one.)
    private func expectAudioIdentical(_ a: String, _ b: String, packetForPacket: Bool) throws {
        let inStreams = try Demuxer(path: a).streams.filter { $0.kind == .audio }
        let outStreams = try Demuxer(path: b).streams.filter { $0.kind == .audio }
        try #require(inStreams.count >= 1)
        #expect(inStreams.count == outStreams.count)
        for (si, so) in zip(inStreams, outStreams) {
            let pi = try VideoReader.packets(path: a, stream: si.index)
            let po = try VideoReader.packets(path: b, stream: so.index)
            let sameBytes = pi.flatMap(\.data) == po.flatMap(\.data)
            #expect(sameBytes, "audio payloads differ (\(pi.count) vs \(po.count) packets)")
            let startIn = Double(pi.first?.pts ?? -1) * si.timeBaseSeconds
            let startOut = Double(po.first?.pts ?? -2) * so.timeBaseSeconds
            #expect(abs(startIn - startOut) < 1e-4, "audio start moved: \(startIn) vs \(startOut)")
            if packetForPacket {
                #expect(pi.count == po.count)
                let samePackets = pi.map(\.data) == po.map(\.data)
                #expect(samePackets, "audio packets differ")
                let ti = pi.map { Double($0.pts ?? 0) * si.timeBaseSeconds }
                let to = po.map { Double($0.pts ?? 0) * so.timeBaseSeconds }
                #expect(zip(ti, to).allSatisfy { abs($0 - $1) < 1e-4 }, "audio timestamps moved")
            }
        }
    }

    private func presentationTimes(_ path: String) throws -> [Double] {
        let r = try VideoReader(path: path)
        var t: [Double] = []
        try r.forEachFrame { _, f in
            t.append(r.seconds(f) ?? -1); return true
        }
        return t
    }

    @Test func bundledSampleKeepsAACAudioFramesAndTimestamps() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.mp4").path
        let s = try TranscodeJob(input: Fixtures.sampleClip, output: output, preset: "ultrafast", quality: .qp(30)).run()
        try expectAudioIdentical(Fixtures.sampleClip, output, packetForPacket: true)
        let a = try presentationTimes(Fixtures.sampleClip)
        let b = try presentationTimes(output)
        #expect(a.count == 90 && b.count == 90 && s.frameCount == 90)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 }, "pts changed")
    }

    @Test func generatedVariableFrameRateClipKeepsPCMAudioPtsAndRotation() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Irregular spacing: 40 ms, then 80 ms, then 20 ms ..., in milliseconds.
        var ticks: [Int64] = []
        var t: Int64 = 0
        for i in 0..<24 { ticks.append(t); t += [40, 80, 20, 40, 120][i % 5] }
        // .mov: it holds PCM audio, millisecond timestamps and a display matrix (Matroska in 5.1 stores no rotation).
        let input = try Fixtures.makeClip(
            at: dir.appendingPathComponent("vfr.mov").path, frames: 24, ptsTicks: ticks,
            audio: true, rotation: 90)
        let output = dir.appendingPathComponent("out.mov").path
        let s = try TranscodeJob(input: input, output: output, preset: "ultrafast", quality: .qp(28)).run()
        #expect(s.frameCount == 24)
        try expectAudioIdentical(input, output, packetForPacket: false)
        let a = try presentationTimes(input)
        let b = try presentationTimes(output)
        #expect(zip(a, ticks).allSatisfy { abs($0 - Double($1) / 1000) < 1e-9 } && a.count == ticks.count)
        #expect(b.count == a.count)
        #expect(zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 }, "VFR timestamps changed: \(a) vs \(b)")
        let rotIn = try Demuxer(path: input).bestVideoStream().rotationDegrees
        let rotOut = try Demuxer(path: output).bestVideoStream().rotationDegrees
        #expect(rotIn == 90, "written as 90 degrees counter-clockwise, read back \(rotIn)")
        #expect(rotOut == rotIn)
    }

    @Test(arguments: ["out.mp4", "out.mkv", "out.mov"])
    func colourTagsSurviveTheTranscode(output name: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The generated clip is tagged BT.709, limited range.
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 8)
        let output = dir.appendingPathComponent(name).path
        _ = try TranscodeJob(input: input, output: output, preset: "ultrafast", quality: .qp(30)).run()
        let a = try Demuxer(path: input).bestVideoStream(), b = try Demuxer(path: output).bestVideoStream()
        #expect(a.colorPrimaries == "bt709" && a.colorTransfer == "bt709" && a.colorSpace == "bt709" && a.colorRange == "tv")
        #expect([b.colorPrimaries, b.colorTransfer, b.colorSpace, b.colorRange] == [a.colorPrimaries, a.colorTransfer, a.colorSpace, a.colorRange])
    }

    @Test func theSameEncodeIsTheSameFileInEveryContainer() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try Fixtures.makeClip(at: dir.appendingPathComponent("in.mp4").path, frames: 8)
        for ext in ["mkv", "mp4", "mov"] {
            var outputs: [Data] = []
            for k in 0..<2 {
                let out = dir.appendingPathComponent("out\(k).\(ext)").path
                var t = Transcoder(input: input, output: out, encoder: EncoderSettings(codec: "libx264", preset: "ultrafast", rateControl: .qp(30)))
                t.copyOtherStreams = true
                _ = try t.run()
                outputs.append(try Data(contentsOf: URL(fileURLWithPath: out)))
                if k == 0 { Thread.sleep(forTimeInterval: 1.1) }  // a date in the file would now differ
            }
            #expect(outputs[0] == outputs[1], "two .\(ext) encodes differ")
        }
    }
}
