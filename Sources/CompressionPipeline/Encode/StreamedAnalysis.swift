import FaceAnalysis
import Foundation
import RateControl
import Synchronization

/// Each track's policy for a streamed encode, decided once from the quality of the probes the track's first
/// `window` frames hold (a stream cannot wait for a track's end before encoding it). Deterministic: the decision
/// waits until those frames are final, however far the analysis is.
final class PolicyBook: Sendable {
    let feed: TimelineFeed
    /// Frames after a track's first probe whose probes decide its policy.
    let window: Int
    /// How far before its first probe a track may start (the follow-back reaches back this far).
    let reach: Int
    let qualityFloor: Double, unrecognizable: UnrecognizablePolicy, occlusionConsistency: Double
    private let decided = Mutex<[Int: TrackPolicy]>([:])

    init(feed: TimelineFeed, window: Int, reach: Int, options: EncodeOptions) {
        self.feed = feed
        self.window = window
        self.reach = reach
        qualityFloor = options.qualityFloor
        unrecognizable = options.unrecognizable
        occlusionConsistency = options.occlusionConsistency
    }

    /// The frames past a track's first frame the policy needs final.
    var lookahead: Int { reach + window }

    /// The policy of `track`, seen first at frame `firstFrame`.
    func policy(track: Int, firstFrame: Int) throws -> TrackPolicy {
        if let p = decided.withLock({ $0[track] }) { return p }
        try feed.wait(for: firstFrame + lookahead)
        let probes = feed.probes(track: track, before: Int.max)
        let first = probes.first?.frame ?? firstFrame
        let q = QualityScores.mean(probes.filter { $0.frame < first + window }.compactMap(\.quality))
        let p = TrackPolicy.decide(
            score: q?.score, consistency: q?.consistency, qualityFloor: qualityFloor, unrecognizable: unrecognizable,
            occlusionConsistency: occlusionConsistency)
        decided.withLock { $0[track] = p }
        return p
    }

    /// The tracks of `range` whose faces are not held to τ (only `--unrecognizable skip` has any). Decides the
    /// policies it needs outside the feed's lock.
    func skipped(in range: Range<Int>) -> Set<Int> {
        guard unrecognizable == .skip else { return [] }
        return Set(feed.tracks(in: range).compactMap { track, first in (try? policy(track: track, firstFrame: first)) == .skip ? track : nil })
    }
}

extension EncodeOptions {
    /// Frames after a track's first probe whose probes decide its policy in a streamed encode: the smoothing window
    /// and the JND interval, so that the first chunk planned with the track has seen them.
    var policyWindow: Int { smoothingFrames + max(1, jndEvery) + 1 }

    /// Frames past a chunk's end that its plan reads: the smoothing window, the JND probe after the window's last
    /// frame (`jndEvery` later at most), and the follow-back's reach before a track's first probe; the same frames
    /// decide the policies of the tracks seen in the chunk.
    var planLookahead: Int { policyWindow + detectEvery }
}

extension EncodeJob {

    /// What the streamed analysis's detector passes may hold at once: two passes up to 720p, one at 1080p.
    static let streamedDetectionMemory = 384 << 20

    /// The chunk cut rule (`isChunkStart`) over a feed: it waits until the frames it looks at are final.
    static func chunkStarts(
        feed: TimelineFeed, policies: PolicyBook, chunkFrames: ChunkLength, maxFrames: Int, lookahead: Int
    ) -> @Sendable (Int, Int) -> Bool {
        { frame, length in
            let half = max(1, chunkFrames.value / 2)
            // A failed analysis shows at the next plan; the rule then sees what is there.
            _ = try? feed.wait(for: frame + 1 + max(half, lookahead))
            let skipped = policies.skipped(in: max(0, frame - length)..<(frame + 1))
            let protects: ([TrackedFace]) -> Bool = { faces in faces.contains { !skipped.contains($0.track) } }
            return isChunkStart(
                frame: frame, length: length, chunkFrames: chunkFrames.value, maxFrames: maxFrames,
                isCut: { feed.firstCut(from: $0) == $0 }, firstCut: { feed.firstCut(from: $0) },
                isProtected: { feed.count(in: $0..<($0 + 1), where: protects) == 1 },
                protectedCount: { feed.count(in: $0, where: protects) })
        }
    }

    /// The chunked encode with the analysis streaming ahead on its own thread: the first chunk is encoded as soon as
    /// its frames and the plan's lookahead are analysed, and the analysis never runs more than `window` frames ahead
    /// of the encode. Returns the whole timeline (for the report) with the outcome.
    func encodeStreamed(
        _ input: String, output: String, background: [Int]?, progress: @Sendable @escaping (Stage, Int, Int?) -> Void,
        isCancelled: @Sendable @escaping () -> Bool
    ) throws -> (timeline: FaceTimeline, outcome: Outcome, analyseSeconds: Double) {
        var pass = try analysisPass()
        // Room for the longest chunk (ten chunk lengths at 60 fps) and the plan's lookahead past it.
        let feed = TimelineFeed(window: streamWindow ?? 10 * Int(((options.chunkSeconds ?? 1) * 60).rounded()) + 2 * options.planLookahead)
        pass.feed = feed
        pass.detectionMemory = Self.streamedDetectionMemory
        HeapTrim.limitHeaps(ProcessInfo.processInfo.activeProcessorCount)
        let analysed = Mutex(0.0)
        let done = DispatchSemaphore(value: 0)
        let analysis = Thread { [pass] in
            let start = Date()
            do {
                let timeline = try pass.run(path: input, progress: { progress(.analyse, $0, $1) }, isCancelled: isCancelled)
                analysed.withLock { $0 = Date().timeIntervalSince(start) }
                feed.finish(timeline)
            } catch {
                feed.fail(error)
            }
            done.signal()
        }
        analysis.stackSize = 16 << 20
        analysis.start()
        defer {
            feed.cancel()
            done.wait()
        }
        let outcome = try encodeChunked(
            input, output: output, feed: feed, background: background, progress: progress, isCancelled: isCancelled)
        let count = try feed.wait(for: Int.max)
        return (try feed.view(through: count), outcome, analysed.withLock { $0 })
    }
}
