import CompressionPipeline
import Testing

/// The chunk starts `EncodeJob.chunkStarts` gives over `protected`, asked the way `ChunkedTranscoder` asks.
func chunkStarts(_ protected: [Bool], chunk: Int, max: Int, cuts: [Int] = []) -> [Int] {
    let policy = EncodeJob.chunkStarts(protected: protected, chunkFrames: chunk, maxFrames: max, sceneCuts: cuts)
    var starts = [0], length = 1
    for i in 1..<protected.count {
        if policy(i, length) {
            starts.append(i)
            length = 0
        }
        length += 1
    }
    return starts
}

@Suite struct ChunkBoundaryTests {
    private func starts(_ protected: [Bool], chunk: Int, max: Int) -> [Int] { chunkStarts(protected, chunk: chunk, max: max) }

    @Test func faceFreeStretchesRunOnAndFacesAreCutEveryChunk() {
        // 25 frames without faces, 23 with, 30 without.
        let p = Array(repeating: false, count: 25) + Array(repeating: true, count: 23) + Array(repeating: false, count: 30)
        // The face-free start runs on and is cut where the faces begin; the faces are cut every 10 frames; the chunk
        // holding the last faces is cut after 10 frames, then the face-free rest runs to the memory bound of 20.
        #expect(starts(p, chunk: 10, max: 40) == [0, 25, 35, 45, 55])
        // With a memory bound of 20 the face-free start is cut at 20; the faces then begin inside a chunk, which is
        // cut once it reaches 10 frames.
        #expect(starts(p, chunk: 10, max: 20) == [0, 20, 30, 40, 50, 70])
    }

    @Test func withFacesEverywhereChunksAreEvenlyCut() {
        #expect(starts(Array(repeating: true, count: 35), chunk: 10, max: 100) == [0, 10, 20, 30])
    }
}

@Suite struct ChunkLengthTests {
    @Test func aChunkMostlyPaidForByItsKeyframeMakesTheNextOneLonger() {
        // Still camera: the IDR picture is 70% of the chunk; the length doubles up to the bound.
        #expect(EncodeJob.nextChunkLength(current: 10, keyframeBytes: 7000, chunkBytes: 10000, base: 10, maxFrames: 100) == 20)
        #expect(EncodeJob.nextChunkLength(current: 80, keyframeBytes: 7000, chunkBytes: 10000, base: 10, maxFrames: 100) == 100)
        // Moving camera: the IDR picture is 10%; the length comes back towards the base, not below it.
        #expect(EncodeJob.nextChunkLength(current: 40, keyframeBytes: 1000, chunkBytes: 10000, base: 10, maxFrames: 100) == 20)
        #expect(EncodeJob.nextChunkLength(current: 10, keyframeBytes: 1000, chunkBytes: 10000, base: 10, maxFrames: 100) == 10)
        // In between it stays.
        #expect(EncodeJob.nextChunkLength(current: 40, keyframeBytes: 3000, chunkBytes: 10000, base: 10, maxFrames: 100) == 40)
    }
}
