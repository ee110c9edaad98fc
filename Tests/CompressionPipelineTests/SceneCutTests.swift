import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import TensorCore
import Testing
import _TestSupport

/// Scene cuts: found where the picture changes at once, not in fades or pans, and chunks start on them.
@Suite struct SceneCutTests {
    enum Shot { case first, second, fade, pan }

    /// Small synthetic shots: two differently lit gradients with a square moving 2 px a frame, a fade that brightens
    /// the first by 4 levels a frame, and a pan over 16-px blocks of any level moving 8 px a frame (every frame of it
    /// differs from the last by more than the cut threshold).
    static func picture(_ shot: Shot, frame: Int, width: Int = 160, height: Int = 96) -> RGBImage {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                var v: Int
                switch shot {
                case .first: v = 40 + x / 4
                case .second: v = 200 - y
                case .fade: v = 40 + x / 4 + 4 * frame
                case .pan:
                    // A hashed level per 16-px block (SplitMix's finaliser), so neighbouring blocks are unrelated.
                    var b = UInt64((x + 8 * frame) / 16) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(y / 16) &* 0xBF58_476D_1CE4_E5B9
                    b ^= b >> 31
                    b = b &* 0x94D0_49BB_1331_11EB
                    b ^= b >> 29
                    v = Int(b & 255)
                }
                let square = shot != .pan && x >= 10 + 2 * frame && x < 30 + 2 * frame && y >= 30 && y < 50
                if square { v = 250 }
                let o = (y * width + x) * 3
                px[o] = UInt8(clamping: v)
                px[o + 1] = UInt8(clamping: v)
                px[o + 2] = UInt8(clamping: v)
            }
        }
        return RGBImage(width: width, height: height, pixels: px)
    }

    private func cuts(_ shots: [Shot], ratio: Double = SceneCutDetector().ratio) -> [Int] {
        var d = SceneCutDetector()
        d.ratio = ratio
        for (i, s) in shots.enumerated() { d.add(SceneCutTests.picture(s, frame: i), index: i) }
        return d.cuts
    }

    @Test func anAbruptChangeIsACutAndAFadeOrAPanIsNot() {
        #expect(cuts(Array(repeating: .first, count: 12) + Array(repeating: .second, count: 12)) == [12])
        #expect(cuts(Array(repeating: .fade, count: 30)) == [])
        #expect(cuts(Array(repeating: .pan, count: 30)) == [])
        // The pan's frames differ by more than the threshold: only the comparison with its own recent motion
        // keeps them from counting as cuts.
        #expect(!cuts(Array(repeating: .pan, count: 30), ratio: 0).isEmpty)
        // Back and forth: every switch is a cut.
        #expect(cuts(Array(repeating: .first, count: 8) + Array(repeating: .second, count: 8) + Array(repeating: .first, count: 8)) == [8, 16])
    }

    private func starts(_ protected: [Bool], chunk: Int, max: Int, cuts: [Int]) -> [Int] {
        chunkStarts(protected, chunk: chunk, max: max, cuts: cuts)
    }

    @Test func chunksStartAtCutsWithinHalfAChunk() {
        let faces = Array(repeating: true, count: 40)
        // A cut 6 frames after a due boundary (more than half a chunk): the boundary stays, the cut starts another.
        #expect(starts(faces, chunk: 10, max: 100, cuts: [16]) == [0, 10, 16, 26, 36])
        // A cut 3 frames after it: the chunk waits for the cut.
        #expect(starts(faces, chunk: 10, max: 100, cuts: [13]) == [0, 13, 23, 33])
        // ... unless waiting would pass the memory bound (and then the cut is too early in the next chunk).
        #expect(starts(faces, chunk: 10, max: 11, cuts: [13]) == [0, 10, 20, 30])
        // A cut less than half a chunk into a chunk is not worth an IDR picture of its own.
        #expect(starts(faces, chunk: 10, max: 100, cuts: [3]) == [0, 10, 20, 30])
        // Face-free stretches, which otherwise run on to the memory bound, start a chunk at a cut too.
        #expect(starts(Array(repeating: false, count: 70), chunk: 10, max: 40, cuts: [25]) == [0, 25, 65])
    }

    /// End to end: the analysis pass finds the cut in a clip, the chunked encode starts a chunk on it, and the report
    /// says where the cuts were (and is valid against the schema).
    @Test(.enabled(if: ModelDirectory.default.isComplete)) func theChunkedEncodeStartsAChunkAtTheCut() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = dir.appendingPathComponent("cut.mp4").path
        let writer = try VideoWriter(
            path: clip, width: 160, height: 96, framesPerSecond: 25, timeBaseDenominator: 25,
            settings: EncoderSettings(codec: "libx264", preset: "ultrafast", rateControl: .crf(18)))
        for i in 0..<30 { try writer.append(SceneCutTests.picture(i < 17 ? .first : .second, frame: i)) }
        try writer.finish()
        var options = EncodeOptions()
        options.preset = "veryfast"
        options.chunkSeconds = 0.4  // 10 frames
        let job = EncodeJob(analyzer: try FaceAnalyzer(), options: options)
        let report = try job.run(clip, output: dir.appendingPathComponent("cut.out.mp4").path)
        #expect(report.sceneCuts == [17])
        // No faces: the first chunk runs on past its length, and ends at the cut.
        #expect(try #require(report.chunks).map(\.firstFrame) == [0, 17])
        let schema = try JSONSchemaCheck(schemaFile: Fixtures.repositoryRoot.appendingPathComponent("docs/encode-report.schema.json"))
        #expect(try schema.violations(of: Data(JSONOutput.string(report).utf8)) == [])
    }
}
