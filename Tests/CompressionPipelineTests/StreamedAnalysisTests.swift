import FaceAnalysis
import Foundation
import RateControl
import Synchronization
import TensorCore
import Testing
import _TestSupport

@testable import CompressionPipeline

/// The queue between the streamed analysis and the chunks (`TimelineFeed`), without media.
@Suite struct TimelineFeedTests {
    /// A producer publishing `count` face-free frames one by one on its own thread (a cut at frame 30).
    private final class Producer: Sendable {
        /// Frames published so far.
        let published = Mutex(0)
        /// What stopped it (nil: it published everything).
        let ended = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)

        init(_ feed: TimelineFeed, count: Int) {
            feed.start(width: 64, height: 48, orientation: .upright, framesPerSecond: 10)
            let thread = Thread { [self] in
                var frames: [[TrackedFace]] = []
                do {
                    for i in 0..<count {
                        frames.append([])
                        try feed.publish(final: i + 1, frames: frames, probes: [], cuts: i >= 30 ? [30] : [])
                        published.withLock { $0 = i + 1 }
                    }
                } catch {
                    ended.withLock { $0 = "\(type(of: error))" }
                }
                done.signal()
            }
            thread.start()
        }

        /// How far it got once it waits a window ahead of `feed`'s consumer (polled; no timing assumed).
        func settled(_ feed: TimelineFeed) -> Int {
            while !feed.producerIsWaiting { Thread.sleep(forTimeInterval: 0.01) }
            return published.withLock { $0 }
        }
    }

    @Test func theAnalysisWaitsAWindowAheadOfWhatTheChunksAskedFor() throws {
        let feed = TimelineFeed(window: 8)
        let p = Producer(feed, count: 100)
        // Nothing asked for yet: the producer stops a window ahead of frame 0.
        #expect(p.settled(feed) == 8)
        let view = try feed.view(through: 20)
        #expect(view.frames.count == 20 && view.width == 64 && view.framesPerSecond == 10)
        #expect(p.settled(feed) == 28)
        let cuts = try feed.view(through: 40).sceneCuts
        #expect(cuts == [30])
        #expect(p.settled(feed) == 48)
        // The consumer goes: the producer is released with a cancellation, not left waiting.
        feed.cancel()
        p.done.wait()
        #expect(p.ended.withLock { $0 } == "CancellationError")
        #expect(p.published.withLock { $0 } == 48)
    }

    @Test func aViewWaitsForItsFramesAndAFailedAnalysisReachesTheConsumer() throws {
        let feed = TimelineFeed(window: 1000)
        let p = Producer(feed, count: 5)
        p.done.wait()
        // Past the end without `finish`: the consumer would wait for ever; a failure ends the wait with its error.
        let failing = Thread {
            Thread.sleep(forTimeInterval: 0.2); feed.fail(PipelineError.noFrames(path: "x"))
        }
        failing.start()
        #expect(throws: PipelineError.noFrames(path: "x")) { try feed.view(through: 6) }
        let finished = TimelineFeed(window: 10)
        finished.finish(FaceTimeline(width: 8, height: 8, frames: [[], [], []], probes: [], framesPerSecond: 25))
        #expect(try finished.view(through: 100).frames.count == 3)
        #expect(try finished.view(through: 2).frames == [[], []])
    }
}

/// One analyser for the streamed encodes.
private let streamFixture: (analyzer: FaceAnalyzer, clip: String, dir: URL)? = {
    guard ModelDirectory.default.isComplete, let analyzer = try? FaceAnalyzer(),
        let dir = try? Fixtures.processWideDirectory("StreamedAnalysisTests"), let clip = try? Fixtures.shortSample(frames: 48, in: dir)
    else { return nil }
    return (analyzer, clip, dir)
}()

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"), .serialized)
struct StreamedEncodeTests {
    /// A chunked `encode` streams its analysis: the first chunk is encoded before the analysis has reached the end
    /// (the analysis may run only one frame ahead of what the chunks asked for), and the output is byte for byte the
    /// encode of the same clip analysed beforehand.
    @Test func chunksAreEncodedWhileTheAnalysisRunsAndTheOutputIsTheSameAsAfterIt() throws {
        let f = try #require(streamFixture)
        var options = EncodeOptions()
        options.detection = .mmod(upsample: 0)
        options.motionGate = .off
        options.detectEvery = 3
        options.jndEvery = 6
        options.smoothingFrames = 0
        options.preset = "veryfast"
        options.chunkSeconds = 0.2
        var job = EncodeJob(analyzer: f.analyzer, options: options)
        job.streamWindow = 1
        let events = Mutex<[(EncodeJob.Stage, Int)]>([])
        let streamedPath = f.dir.appendingPathComponent("streamed.mp4").path
        let streamed = try job.run(f.clip, output: streamedPath, progress: { s, d, _ in events.withLock { $0.append((s, d)) } })

        let log = events.withLock { $0 }
        let firstEncode = try #require(log.firstIndex { $0.0 == .encode })
        let lastAnalyse = try #require(log.lastIndex { $0.0 == .analyse })
        #expect(firstEncode < lastAnalyse, "a chunk was encoded before the analysis ended")
        #expect(log[lastAnalyse].1 == 48)

        let timeline = try job.analyse(f.clip)
        let beforePath = f.dir.appendingPathComponent("analysed-first.mp4").path
        let before = try job.encode(f.clip, output: beforePath, timeline: timeline, background: Array(repeating: 40, count: 48))
        #expect(streamed.chunks?.map(\.firstFrame) == before.chunks.map(\.firstFrame))
        #expect(streamed.chunks!.count >= 3)
        #expect(FileManager.default.contents(atPath: streamedPath) == FileManager.default.contents(atPath: beforePath))
        #expect(streamed.fidelity.faces == timeline.faceCount && streamed.frames.count == 48)
    }
}

extension StreamedEncodeTests {
    /// A chunked encode that fails at its first chunk (PCM audio cannot be copied into mp4) while its analysis thread
    /// is still running returns the error, leaves nothing behind and does not trap: the analysis thread may hold the
    /// progress closure a moment after it signals its end (stop 28: `encode` trapped in 4 of 6 such runs).
    @Test func aChunkedEncodeThatFailsAtOnceReturnsItsError() throws {
        let f = try #require(streamFixture)
        let clip = try Fixtures.makeClip(at: f.dir.appendingPathComponent("pcm.mkv").path, frames: 40, audio: true)
        var options = EncodeOptions()
        options.detection = .mmod(upsample: 0)
        options.motionGate = .off
        options.chunkSeconds = 0.2
        let job = EncodeJob(analyzer: f.analyzer, options: options)
        // A progress closure that captures state, as the CLI's does: the trap was the runtime's check on its context.
        let reported = Mutex(0)
        for attempt in 0..<20 {
            let output = f.dir.appendingPathComponent("fails-\(attempt).mp4").path
            #expect {
                _ = try job.run(clip, output: output, progress: { _, _, _ in reported.withLock { $0 += 1 } })
            } throws: { error in
                String(describing: error).contains("cannot be copied into a mp4 file")
            }
            #expect(!FileManager.default.fileExists(atPath: output))
        }
    }

    /// Every prefix the feed hands out is a prefix of the finished timeline: a frame is published only once nothing
    /// can change it. Nine grey frames, then the sample: the face appears at frame 9 and is first detected at frame
    /// 12, the first frame of the analysis's second batch, and followed back to frame 9, past the first batch's end.
    @Test func theFeedPublishesOnlyFramesTheAnalysisWillNotChange() throws {
        let f = try #require(streamFixture)
        let path = try Fixtures.sampleAfterGreyFrames(9, frames: 15, at: f.dir.appendingPathComponent("appears-late.mp4").path)
        var options = EncodeOptions()
        options.detection = .mmod(upsample: 0)
        options.motionGate = .off
        options.detectEvery = 6
        options.threads = 2
        var pass = try EncodeJob(analyzer: f.analyzer, options: options).analysisPass()
        let feed = TimelineFeed(window: 1)
        pass.feed = feed
        let done = DispatchSemaphore(value: 0)
        Thread { [pass] in
            do { feed.finish(try pass.run(path: path)) } catch { feed.fail(error) }
            done.signal()
        }.start()
        // Ask one frame further each time, as a consumer close behind the analysis does.
        var prefixes: [[[TrackedFace]]] = []
        for k in 1...24 { prefixes.append(try feed.view(through: k).frames) }
        done.wait()
        let whole = try feed.view(through: 24).frames
        #expect(whole[9..<12].allSatisfy { $0.count == 1 && !$0[0].detected }, "followed back from frame 12 to 9")
        for p in prefixes {
            let unchanged = p == Array(whole.prefix(p.count))
            #expect(unchanged, "the first \(p.count) frames changed after they were published: faces \(p.map(\.count))")
        }
    }
}

/// A chunk planned from the frames up to `planLookahead` past its end gets the plan the whole timeline gives it.
@Suite struct PlanLookaheadTests {
    @Test func aChunkPlannedFromItsLookaheadIsPlannedAsFromTheWholeTimeline() {
        let options = EncodeOptions()
        let n = 240, every = options.jndEvery
        // Two tracks with JND samples every `jndEvery` frames from their start, the JND moving by several QP.
        let spans = [1: 0..<170, 2: 40..<240]
        let faces: [[PlannerFace]] = (0..<n).map { t in
            spans.sorted { $0.key < $1.key }.filter { $0.value.contains(t) }.map {
                PlannerFace(track: $0.key, region: FaceBox(left: 16 * $0.key, top: 16, right: 16 * $0.key + 64, bottom: 80))
            }
        }
        var jnd: [Int: [JNDSample]] = [:]
        for (track, span) in spans {
            jnd[track] = stride(from: span.lowerBound, to: span.upperBound, by: every).enumerated().map { k, f in
                JNDSample(frame: f, jndQP: [30, 22, 34, 18, 27, 36, 20][(k + track) % 7])
            }
        }
        let full = PlannerInput(width: 320, height: 240, orientation: .upright, frames: faces, jnd: jnd)
        func prefix(_ count: Int) -> PlannerInput {
            let m = min(count, n)
            return PlannerInput(
                width: 320, height: 240, orientation: .upright, frames: Array(faces[0..<m]),
                jnd: jnd.mapValues { $0.filter { $0.frame < m } })
        }
        func plan(_ input: PlannerInput) -> [PlannedFrame] {
            FacePlanner(
                margin: options.margin, smoothingFrames: options.smoothingFrames, floorQP: options.floorQP,
                backgroundQP: Array(repeating: 40, count: input.frames.count)
            ).plan(input)
        }
        let whole = plan(full)
        var differsWithout = 0
        for end in stride(from: 10, through: n, by: 10) {
            #expect(Array(plan(prefix(end + options.planLookahead))[0..<end]) == Array(whole[0..<end]), "chunk ending at \(end)")
            if Array(plan(prefix(end))[0..<end]) != Array(whole[0..<end]) { differsWithout += 1 }
        }
        // Without the lookahead most chunks would be planned differently: the lookahead matters.
        #expect(differsWithout > 10)
    }
}

/// A streamed encode decides each track's policy from the probes of its first frames.
@Suite struct PolicyBookTests {
    @Test func aTrackIsJudgedByItsFirstWindowOfProbes() throws {
        var options = EncodeOptions()
        options.unrecognizable = .skip
        let window = 40
        // Track 1: occluded at first (low consistency), clear later; track 2: clear at first, unrecognisable later;
        // track 3: unrecognisable from the start.
        func probe(_ track: Int, _ frame: Int, score: Double, consistency: Double) -> JNDProbe {
            let p = JNDProbe(track: track, frame: frame, curve: [:])
            p.quality = QualityScores(certaintyRatio: 1, recognizabilityIndex: 1, consistency: consistency, score: score)
            return p
        }
        let probes = [
            probe(1, 0, score: 0.8, consistency: 0.1), probe(1, 30, score: 0.8, consistency: 0.2),
            probe(1, 60, score: 0.9, consistency: 0.9), probe(1, 90, score: 0.9, consistency: 0.9), probe(1, 120, score: 0.9, consistency: 0.9),
            probe(2, 10, score: 0.8, consistency: 0.9), probe(2, 50, score: 0.01, consistency: 0.9), probe(2, 80, score: 0.01, consistency: 0.9),
            probe(2, 110, score: 0.01, consistency: 0.9),
            probe(3, 20, score: 0.05, consistency: 0.9),
        ]
        let frames: [[TrackedFace]] = Array(repeating: [], count: 150)
        let feed = TimelineFeed(window: 1000)
        feed.finish(FaceTimeline(width: 64, height: 64, frames: frames, probes: probes, framesPerSecond: 25))
        let book = PolicyBook(feed: feed, window: window, reach: 5, options: options)
        #expect(try book.policy(track: 1, firstFrame: 0) == .upper)
        #expect(try book.policy(track: 2, firstFrame: 8) == .protect)
        #expect(try book.policy(track: 3, firstFrame: 18) == .skip)
        // Asked again (as the chunk cut rule does, from a later frame): the same decision.
        #expect(try book.policy(track: 2, firstFrame: 100) == .protect)
    }
}

/// The streamed analysis runs as many detector passes at once as its activation budget holds.
@Suite struct DetectionMemoryTests {
    @Test func oneFastPassAt1080pTwoAt720pAndMMODUnbounded() {
        let budget = EncodeJob.streamedDetectionMemory
        // 1920×1080 at min-face 20: a 1536×864 network input, about 340 MB of activations.
        #expect(CenterFaceDetector.activationBytes(width: 1920, height: 1080, minFace: 20) == 1536 * 864 * 256)
        func workers(_ w: Int, _ h: Int, _ d: DetectorSettings = .fast(), budget: Int? = budget) -> Int {
            FaceAnalysisPass.detectionWorkers(threads: 2, width: w, height: h, detection: d, budget: budget)
        }
        #expect(workers(1920, 1080) == 1)
        #expect(workers(1280, 720) == 2 && workers(640, 480) == 2)
        // Larger faces only: a smaller network input, two passes fit again.
        #expect(workers(1920, 1080, .fast(minFace: 40)) == 2)
        #expect(workers(3840, 2160) == 1, "never fewer than one")
        #expect(workers(1920, 1080, .mmod(upsample: 0)) == 2 && workers(1920, 1080, budget: nil) == 2)
    }
}

/// Two `ParallelWork` sections overlapping (the streamed analysis's and a chunk's): OpenBLAS stays on one thread
/// until the last of them ends, not until the first does.
@Suite struct OverlappingParallelWorkTests {
    @Test func theFirstSectionToEndDoesNotUnpinTheOther() throws {
        let aStarted = DispatchSemaphore(value: 0), bStarted = DispatchSemaphore(value: 0)
        let aMayEnd = DispatchSemaphore(value: 0), aEnded = DispatchSemaphore(value: 0), bMayEnd = DispatchSemaphore(value: 0)
        let seenInB = Mutex<[Int]>([])
        Thread {
            try? ParallelWork.forEach(count: 2, threads: 2) { i, _ in
                if i == 0 {
                    aStarted.signal()
                    aMayEnd.wait()
                }
            }
            aEnded.signal()
        }.start()
        aStarted.wait()
        let bDone = DispatchSemaphore(value: 0)
        Thread {
            try? ParallelWork.forEach(count: 2, threads: 2) { i, _ in
                if i == 0 {
                    bStarted.signal()
                    bMayEnd.wait()
                    seenInB.withLock { $0.append(BLAS.threads) }
                }
            }
            bDone.signal()
        }.start()
        bStarted.wait()
        aMayEnd.signal()
        aEnded.wait()
        bMayEnd.signal()
        bDone.wait()
        #expect(seenInB.withLock { $0 } == [1], "OpenBLAS threads inside the second section after the first ended")
    }
}
