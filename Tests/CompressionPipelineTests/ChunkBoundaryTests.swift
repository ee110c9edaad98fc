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
        // The faces' arrival starts no chunk: the face-free start rides along until the chunk holds 10 face-frames;
        // the chunk holding the last faces runs on into the face-free rest (to the end: 33 frames, under the bound).
        #expect(starts(p, chunk: 10, max: 40) == [0, 35, 45])
        // With a memory bound of 20 the face-free start is cut at 20, and so is the face-free rest.
        #expect(starts(p, chunk: 10, max: 20) == [0, 20, 35, 45, 65])
    }

    @Test func noChunkStartsWhereFacesLeaveOrReturnUntilTheChunkHoldsAChunkOfFaces() {
        // 12 frames with faces, 30 without, 10 with: the chunk after the first cut holds 2 face-frames when the faces
        // return, and is cut once it holds 10.
        let p = Array(repeating: true, count: 12) + Array(repeating: false, count: 30) + Array(repeating: true, count: 10)
        #expect(starts(p, chunk: 10, max: 100) == [0, 10, 50])
        // A chunk that holds 10 face-frames is not cut where a face-free stretch begins, only where faces come next.
        let ending = Array(repeating: true, count: 20) + Array(repeating: false, count: 20)
        #expect(starts(ending, chunk: 10, max: 100) == [0, 10])
        let q =
            Array(repeating: true, count: 12) + Array(repeating: false, count: 30) + Array(repeating: true, count: 3)
            + Array(repeating: false, count: 5) + Array(repeating: true, count: 10)
        #expect(starts(q, chunk: 10, max: 100) == [0, 10, 55])
    }

    @Test func withFacesEverywhereChunksAreEvenlyCut() {
        #expect(starts(Array(repeating: true, count: 35), chunk: 10, max: 100) == [0, 10, 20, 30])
    }
}

@Suite struct ChunkLengthTests {
    @Test func aChunkMostlyPaidForByItsKeyframeMakesTheNextOneLonger() {
        // Still camera: the IDR picture is 70% (or 30%) of the chunk; the length doubles up to the bound.
        #expect(EncodeJob.nextChunkLength(current: 10, keyframeBytes: 7000, chunkBytes: 10000, base: 10, maxFrames: 100) == 20)
        #expect(EncodeJob.nextChunkLength(current: 10, keyframeBytes: 3000, chunkBytes: 10000, base: 10, maxFrames: 100) == 20)
        #expect(EncodeJob.nextChunkLength(current: 80, keyframeBytes: 7000, chunkBytes: 10000, base: 10, maxFrames: 100) == 100)
        // Moving camera: the IDR picture is 10%; the length comes back towards the base, not below it.
        #expect(EncodeJob.nextChunkLength(current: 40, keyframeBytes: 1000, chunkBytes: 10000, base: 10, maxFrames: 100) == 20)
        #expect(EncodeJob.nextChunkLength(current: 10, keyframeBytes: 1000, chunkBytes: 10000, base: 10, maxFrames: 100) == 10)
        // In between it stays.
        #expect(EncodeJob.nextChunkLength(current: 40, keyframeBytes: 2200, chunkBytes: 10000, base: 10, maxFrames: 100) == 40)
    }
}
