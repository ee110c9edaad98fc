import Foundation
import TensorCore

/// The analysis pass's results as they are produced, for the chunked encode to start on before the analysis ends.
///
/// The producer (`FaceAnalysisPass` on its own thread) publishes frames once their faces are final: past the reach of
/// the follow-back and with every descriptor computed. The consumer asks for a prefix (`view(through:)`) and waits
/// until it is there. The producer waits in turn when it is `window` frames ahead of what the consumer has asked for,
/// so the queue between them is bounded. A complete timeline makes a feed that never waits (`init(complete:)`).
///
/// Every decision the consumer takes from a view depends only on the prefix it asked for, never on how far the
/// producer happened to be, so a streamed encode is deterministic (and resumable).
final class TimelineFeed: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var frames: [[TrackedFace]] = []
    private var probes: [JNDProbe] = []
    private var cuts: [Int] = []
    private var geometry: (width: Int, height: Int, orientation: Orientation, fps: Double)? = nil
    private var finished = false
    private var failure: (any Error)? = nil
    private var cancelled = false
    private var need = 0
    private var waited = 0.0
    private var producerWaiting = false
    /// How far past the consumer's last request the producer may run.
    let window: Int

    init(window: Int) { self.window = max(1, window) }

    /// A feed holding a whole timeline already.
    convenience init(complete timeline: FaceTimeline) {
        self.init(window: Int.max / 4)
        finish(timeline)
    }

    // MARK: producer

    /// The picture geometry, known once the first frame is decoded.
    func start(width: Int, height: Int, orientation: Orientation, framesPerSecond: Double) {
        condition.withLock {
            geometry = (width, height, orientation, framesPerSecond)
            condition.broadcast()
        }
    }

    /// Publishes the frames of `all` (the producer's frames so far) not yet published among its first `final`, and
    /// the probes and cuts of those frames. Waits first while `window` frames past the consumer's need are published
    /// already; throws `CancellationError` once the consumer has gone.
    func publish(final: Int, frames all: [[TrackedFace]], probes allProbes: [JNDProbe], cuts allCuts: [Int]) throws {
        try condition.withLock {
            while !cancelled && frames.count - need >= window {
                producerWaiting = true
                condition.wait()
            }
            producerWaiting = false
            if cancelled { throw CancellationError() }
            if final > frames.count {
                frames.append(contentsOf: all[frames.count..<final])
                probes = allProbes.filter { $0.frame < final }
                cuts = allCuts.filter { $0 < final }
                condition.broadcast()
            }
        }
    }

    /// The whole timeline: every frame is final.
    func finish(_ timeline: FaceTimeline) {
        condition.withLock {
            frames = timeline.frames
            probes = timeline.probes
            cuts = timeline.sceneCuts
            geometry = (timeline.width, timeline.height, timeline.orientation, timeline.framesPerSecond)
            finished = true
            condition.broadcast()
        }
    }

    /// The analysis failed: every wait of the consumer throws `error`.
    func fail(_ error: any Error) {
        condition.withLock {
            failure = error
            condition.broadcast()
        }
    }

    // MARK: consumer

    /// The consumer has stopped (finished, failed or cancelled): the producer stops at its next publish.
    func cancel() {
        condition.withLock {
            cancelled = true
            condition.broadcast()
        }
    }

    /// Waits until the first `count` frames are final (or the analysis has ended with fewer); returns how many are.
    @discardableResult
    func wait(for count: Int) throws -> Int {
        try condition.withLock {
            let raised = min(count, Int.max / 4)
            if raised > need {
                need = raised
                producerWaiting = false  // until it finds itself a window ahead again
            }
            condition.broadcast()
            let start = Date()
            while frames.count < count && !finished && failure == nil { condition.wait() }
            waited += Date().timeIntervalSince(start)
            if let failure { throw failure }
            return min(count, frames.count)
        }
    }

    /// The timeline of the first `count` frames (fewer if the input has fewer): their faces, the probes taken in
    /// them and the scene cuts among them.
    func view(through count: Int) throws -> FaceTimeline {
        let n = try wait(for: max(1, count))
        return try condition.withLock {
            guard let g = geometry, n > 0 else { throw failure ?? CancellationError() }
            var t = FaceTimeline(
                width: g.width, height: g.height, frames: Array(frames[0..<n]), probes: probes.filter { $0.frame < n },
                framesPerSecond: g.fps)
            t.orientation = g.orientation
            t.sceneCuts = cuts.filter { $0 < n }
            return t
        }
    }

    /// How many of the final frames in `range` pass `test` (one lock for the lot).
    func count(in range: Range<Int>, where test: ([TrackedFace]) -> Bool) -> Int {
        condition.withLock {
            let r = range.clamped(to: 0..<frames.count)
            return r.reduce(0) { $0 + (test(frames[$1]) ? 1 : 0) }
        }
    }

    /// The tracks seen in the final frames of `range`, each with the first of those frames it is in.
    func tracks(in range: Range<Int>) -> [Int: Int] {
        condition.withLock {
            var first: [Int: Int] = [:]
            for i in range.clamped(to: 0..<frames.count) { for f in frames[i] where first[f.track] == nil { first[f.track] = i } }
            return first
        }
    }

    /// The first scene cut at or after `frame` among the final frames.
    func firstCut(from frame: Int) -> Int? { condition.withLock { cuts.first { $0 >= frame } } }

    /// The probes of `track` taken before frame `end` (final ones only).
    func probes(track: Int, before end: Int) -> [JNDProbe] {
        condition.withLock { probes.filter { $0.track == track && $0.frame < end }.sorted { $0.frame < $1.frame } }
    }

    /// Whether the producer is waiting for the consumer to ask for more (it is a window ahead).
    var producerIsWaiting: Bool { condition.withLock { producerWaiting } }

    /// Seconds the consumer has spent waiting for frames.
    var waitedSeconds: Double { condition.withLock { waited } }

}
