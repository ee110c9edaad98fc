import FaceAnalysis
import Foundation
import MediaIO
import RateControl
import Synchronization
import TensorCore

/// How the faces' segments fared in their first encode (each track's frames in one chunk, cut into pieces of at most
/// `segmentFrames`).
public struct SegmentFirstPass: Sendable, Equatable, Codable {
    public var segments: Int
    /// Segments with every face-frame within τ in their chunk's first encode.
    public var passed: Int

    public var share: Double { segments == 0 ? 1 : Double(passed) / Double(segments) }

    enum CodingKeys: String, CodingKey { case segments, passed }
}

extension EncodeJob {
    /// Decoded frames a chunk may hold in memory.
    static let chunkMemory = 256 << 20

    /// Where chunks start. Every chunk costs an IDR picture, which on a still surveillance picture costs more than
    /// seconds of P pictures, and only a chunk's face-frames need verifying (and verifying again after a repair); so a
    /// chunk that holds `chunkFrames` protected face-frames is cut where the next frame holds one too, and otherwise
    /// runs on, up to `maxFrames` (the memory bound). Faces appearing or leaving do not start a chunk by themselves: the
    /// face-free frames around them ride along. On the 10 fps intel clip, 1-second chunks everywhere doubled the video
    /// stream.
    ///
    /// Scene cuts (`sceneCuts`, frame indices) move the boundaries onto them: a chunk at least half the chunk length
    /// long ends at a cut, and a chunk that is due ends at a cut coming within half a chunk length instead (within the
    /// memory bound), so the IDR picture falls where the encoder needs an intra picture anyway.
    public static func chunkStarts(
        protected: [Bool], chunkFrames: Int, maxFrames: Int, sceneCuts: [Int] = []
    ) -> @Sendable (Int, Int) -> Bool {
        chunkStarts(protected: protected, chunkFrames: ChunkLength(chunkFrames), maxFrames: maxFrames, sceneCuts: sceneCuts)
    }

    /// The same with a chunk length that changes as the encode goes (`nextChunkLength`).
    static func chunkStarts(
        protected: [Bool], chunkFrames: ChunkLength, maxFrames: Int, sceneCuts: [Int] = []
    ) -> @Sendable (Int, Int) -> Bool {
        var before = [0]  // protected frames before each index
        for p in protected { before.append(before.last! + (p ? 1 : 0)) }
        let counts = before, n = protected.count
        // The first cut at or after each frame (nil: none).
        var next = [Int?](repeating: nil, count: n + 1)
        let cuts = Set(sceneCuts)
        for i in stride(from: n - 1, through: 0, by: -1) { next[i] = cuts.contains(i) ? i : next[i + 1] }
        let nextCut = next
        return { frame, length in
            isChunkStart(
                frame: frame, length: length, chunkFrames: chunkFrames.value, maxFrames: maxFrames, isCut: { cuts.contains($0) },
                firstCut: { $0 < nextCut.count ? nextCut[$0] : nil }, isProtected: { $0 < n && protected[$0] },
                protectedCount: { counts[min($0.upperBound, n)] - counts[min($0.lowerBound, n)] })
        }
    }

    /// The cut rule itself (see `chunkStarts`), over what the analysis knows: whether `frame` holds a protected face,
    /// how many frames of a range do, and where the scene cuts are.
    static func isChunkStart(
        frame: Int, length: Int, chunkFrames: Int, maxFrames: Int, isCut: (Int) -> Bool, firstCut: (Int) -> Int?,
        isProtected: (Int) -> Bool, protectedCount: (Range<Int>) -> Int
    ) -> Bool {
        let half = max(1, chunkFrames / 2)
        if isCut(frame) && length >= half { return true }
        guard length >= chunkFrames else { return false }
        if length >= maxFrames { return true }
        guard isProtected(frame) && protectedCount(max(0, frame - length)..<frame) >= chunkFrames else { return false }
        // Due: wait for a cut close ahead.
        guard let cut = firstCut(frame) else { return true }
        return !(cut - frame <= half && length + (cut - frame) <= maxFrames)
    }

    /// The length of the chunk after one whose IDR picture took `keyframeBytes` of its `chunkBytes`. Where the IDR
    /// picture is over a quarter of a chunk (a still camera: a P picture at the background QP costs a few hundred
    /// bytes, the IDR picture thousands), closing chunks costs more than verifying them finer can save, so the length
    /// doubles, up to `maxFrames`; where it is under a fifth, it halves back towards `base`. (Doubling only over a half
    /// left the intel clip's 2-second chunks 5% larger: its face chunks' IDR pictures are 26-41% of them.)
    public static func nextChunkLength(current: Int, keyframeBytes: Int, chunkBytes: Int, base: Int, maxFrames: Int) -> Int {
        guard chunkBytes > 0 else { return current }
        let share = Double(keyframeBytes) / Double(chunkBytes)
        if share > 0.25 { return min(maxFrames, current * 2) }
        if share < 0.2 { return max(base, current / 2) }
        return current
    }

    /// The chunked encode (`--chunk-seconds`): the video is cut into closed chunks, each encoded, decoded and verified
    /// on its own and re-encoded alone, with only its failing segments lowered, until its faces are within τ or
    /// `maxRepairPasses` re-encodes are spent. Each track starts a chunk lowered by what earlier chunks taught
    /// (`CarriedCorrection`). Verified chunks are final: repairing one chunk cannot move a face in another.
    ///
    /// The faces come from `feed`, which the analysis may still be filling: each chunk is planned from the frames up to
    /// `planLookahead` past its end, and each track's policy from its first frames (`PolicyBook`), so the encode is
    /// the same whether the analysis ran before it or streams beside it.
    func encodeChunked(
        _ input: String, output: String, feed: TimelineFeed, background: [Int]?,
        progress: @Sendable (Stage, Int, Int?) -> Void, isCancelled: @Sendable @escaping () -> Bool
    ) throws -> Outcome {
        let clock = Date(), waitedBefore = feed.waitedSeconds
        var view = try feed.view(through: 1)
        let chunkFrames = max(1, Int(((options.chunkSeconds ?? 1) * view.framesPerSecond).rounded()))
        let tau = options.tau, segmentLength = options.segmentFrames ?? 10, lookahead = options.planLookahead
        let rules = RepairRules(tau: tau, floorQP: options.floorQP, minimumStep: options.repairStep)
        let converter = try UprightConverter(orientation: view.orientation)
        let verifier = self.verifier
        let book = PolicyBook(feed: feed, window: options.policyWindow, reach: options.detectEvery, options: options)

        var policies: [Int: TrackPolicy] = [:]
        var planner = FacePlanner(
            margin: options.margin, smoothingFrames: options.smoothingFrames, floorQP: options.floorQP, backgroundQP: [])
        var plannerInput = try view.plannerInput(tau: tau, chipSize: analyzer.embedder.chipSize, head: options.segmentHead)
        /// Plans with the faces up to `lookahead` past `end`: the policies of the tracks seen before `end`, their JNDs.
        func replan(through end: Int) throws {
            view = try feed.view(through: end + lookahead)
            var first: [Int: Int] = [:]
            for (i, faces) in view.frames.enumerated().prefix(end) { for f in faces where first[f.track] == nil { first[f.track] = i } }
            for (track, frame) in first.sorted(by: { $0.key < $1.key }) where policies[track] == nil {
                let p = try book.policy(track: track, firstFrame: frame)
                policies[track] = p
                if p == .skip { planner.skippedTracks.insert(track) }
                if p == .upper { planner.upperOnlyTracks.insert(track) }
            }
            try view.measure(tau: tau, threads: options.threads, isCancelled: isCancelled)
            let n = view.frames.count
            planner.backgroundQP = (0..<n).map { i in
                background.map { $0.isEmpty ? options.backgroundQP : $0[min(i, $0.count - 1)] } ?? options.backgroundQP
            }
            plannerInput = try view.plannerInput(tau: tau, chipSize: analyzer.embedder.chipSize, head: options.segmentHead)
            if options.faceQPBias != 0 {  // the testing aid: every planned face QP raised
                plannerInput.jnd = plannerInput.jnd.mapValues { $0.map { JNDSample(frame: $0.frame, jndQP: $0.jndQP + options.faceQPBias) } }
            }
        }

        var repairs = FacePlanner.Repairs()
        var correction = CarriedCorrection(raiseStep: options.raiseStep)
        var unfiltered = Set<Int>()
        var plan: [PlannedFrame] = []
        var done: [ChunkOutcome] = []
        var current = ChunkOutcome(frames: 0..<0)
        var verifySeconds = 0.0
        // Per chunk: the offsets its tracks started with, their worst first-encode distance, their repairs.
        var startOffsets: [Int: Int] = [:], firstWorst: [Int: Double] = [:], repaired: [TrackSegment: Int] = [:]
        let work = try options.resume ? ChunkStore(output: output, input: input, settings: EncodeReport.Settings(options)) : nil

        var transcoder = ChunkedTranscoder(
            input: input, output: output,
            encoder: EncoderSettings(
                codec: options.codec, preset: options.preset,
                rateControl: .planned(anchorQP: anchorQP(background ?? []))),
            chunkFrames: chunkFrames, maxEncodes: options.maxRepairPasses + 1)
        transcoder.copyOtherStreams = true
        let maxFrames = max(chunkFrames, min(10 * chunkFrames, Self.chunkMemory / max(1, view.width * view.height * 3 / 2)))
        let chunkLength = ChunkLength(chunkFrames)
        transcoder.startsChunk = Self.chunkStarts(
            feed: feed, policies: book, chunkFrames: chunkLength, maxFrames: maxFrames, lookahead: lookahead)
        if let work {
            var resumable = true  // only an unbroken run of finished chunks from the start can be taken over
            transcoder.storedChunk = { chunk, frames in
                guard resumable, let (outcome, packets) = work.load(chunk: chunk, frames: frames) else {
                    resumable = false
                    return nil
                }
                done.append(outcome)
                correction = outcome.state.correction
                repairs = outcome.state.repairs
                unfiltered = Set(outcome.state.unfiltered)
                planner.upperOnlyTracks = Set(outcome.state.upperOnly)
                policies = outcome.state.policies
                planner.skippedTracks = Set(policies.filter { $0.value == .skip }.keys)
                chunkLength.value = outcome.state.chunkFrames ?? chunkFrames
                return packets
            }
            transcoder.chunkAccepted = { chunk, _, packets in try work.save(chunk: chunk, outcome: current, packets: packets) }
        }
        var filter: ((Int, Frame) throws -> Void)? = nil
        let prefilterState = PrefilterState()

        let result = try transcoder.run(
            editsFrames: options.prefilter != .none,
            frameQP: { attempt, i, frame in
                if attempt.attempt == 0 && i == attempt.frames.lowerBound {
                    // A new chunk: each track starts from what the chunks before it taught.
                    try replan(through: attempt.frames.upperBound)
                    current = ChunkOutcome(frames: attempt.frames)
                    startOffsets = [:]
                    firstWorst = [:]
                    repaired = [:]
                    let tracks = Set(attempt.frames.filter { $0 < view.frames.count }.flatMap { view.frames[$0].map(\.track) })
                    for t in tracks.sorted() {
                        let o = correction.offset(track: t)
                        startOffsets[t] = o
                        if o != 0 { repairs.lower(track: t, frames: attempt.frames, by: o) }
                    }
                }
                if i == attempt.frames.lowerBound {
                    plan = planner.plan(plannerInput, repairs: repairs)
                    filter = try prefilter(view, skipping: planner.skippedTracks.union(unfiltered), state: prefilterState)
                }
                try filter?(i, frame)
                return i < plan.count
                    ? guardBand.apply(to: plan[i].frameQP) : FrameQP(qp: plan.last?.backgroundQP ?? options.backgroundQP)
            },
            verify: { attempt, decoded in
                let start = Date()
                let session = FaceVerifier.Session(verifier)
                for (index, frame) in decoded where index < view.frames.count {
                    let faces = view.frames[index].filter { !planner.skippedTracks.contains($0.track) }
                    if !faces.isEmpty { try session.add(try converter.picture(frame), frame: index, faces: faces) }
                }
                let checks = try session.finish()
                verifySeconds += Date().timeIntervalSince(start)
                let segments = TrackSegment.stretches(gops: [attempt.frames], length: segmentLength)
                let failing = checks.filter { $0.distance > tau }
                if attempt.attempt == 0 {
                    for c in checks { firstWorst[c.track] = max(firstWorst[c.track] ?? 0, c.distance) }
                    let cut = TrackSegment.cut(plannerInput.frames, at: segments).filter { !planner.skippedTracks.contains($0.track) }
                    let failed = Set(failing.compactMap { f in cut.first { $0.track == f.track && $0.frames.contains(f.frame) } })
                    current.segments = cut.count
                    current.passed = cut.count - failed.count
                }
                let isLast = attempt.attempt >= options.maxRepairPasses
                let prefiltered = options.prefilter != .none ? Set(view.trackIDs).subtracting(unfiltered) : []
                let actions =
                    isLast
                    ? []
                    : rules.actions(
                        failing: failing.map { FaceFailure(frame: $0.frame, track: $0.track, distance: $0.distance) },
                        plan: plan, gops: segments, prefiltered: prefiltered, upperOnly: planner.upperOnlyTracks)
                var pass = EncodePass(
                    pass: attempt.attempt + 1, outputBytes: attempt.bytes, facesOverTau: failing.count, repairedTracks: [], repairedFrames: 0)
                Self.apply(actions, repairs: &repairs, planner: &planner, policies: &policies, unfiltered: &unfiltered, pass: &pass)
                current.encodes.append(pass)
                for case .lower(let track, let frames, let step) in actions {
                    repaired[TrackSegment(track: track, frames: frames), default: 0] += step
                }
                guard actions.isEmpty else { return false }
                // Accepted: keep what was encoded and carry what the chunk taught into the next.
                correction.learn(
                    startOffsets.keys.sorted().map { t in
                        CarriedCorrection.Outcome(
                            track: t, startOffset: startOffsets[t]!, repaired: repaired.filter { $0.key.track == t }.values.max() ?? 0,
                            firstEncodeWorst: firstWorst[t] ?? 0)
                    }, tau: tau)
                current.checks = checks
                current.plan = attempt.frames.filter { $0 < plan.count }.map { plan[$0] }
                chunkLength.value = Self.nextChunkLength(
                    current: chunkLength.value, keyframeBytes: attempt.keyframeBytes, chunkBytes: attempt.bytes, base: chunkFrames,
                    maxFrames: maxFrames)
                current.state = CarryState(
                    correction: correction, repairs: repairs, unfiltered: unfiltered.sorted(), upperOnly: planner.upperOnlyTracks.sorted(),
                    policies: policies, chunkFrames: chunkLength.value)
                done.append(current)
                HeapTrim.giveBack()  // the chunk's frames, encoder and chips are gone
                return true
            },
            progress: { progress(.encode, $0.framesDone, $0.framesExpected) }, isCancelled: isCancelled)

        let accepted = done.flatMap(\.plan), checks = done.flatMap(\.checks)
        let frameCount = try feed.wait(for: Int.max)
        // Every chunk ends in the accepting branch (its last allowed encode has no repair actions) or was resumed.
        if accepted.count < min(frameCount, result.transcode.frameCount) {
            throw PipelineError.frameCountMismatch(path: output, encoded: accepted.count, expected: frameCount)
        }
        try work?.finish()
        // Round r is what the output would be had every chunk stopped after its r-th encode (a resumed chunk counts
        // with the encodes its first run made).
        let rounds = (0..<(done.map(\.encodes.count).max() ?? 0)).map { r in
            let latest = done.map { $0.encodes[min(r, $0.encodes.count - 1)] }
            let here = done.compactMap { r < $0.encodes.count ? $0.encodes[r] : nil }
            return EncodePass(
                pass: r + 1, outputBytes: latest.reduce(0) { $0 + $1.outputBytes }, facesOverTau: latest.reduce(0) { $0 + $1.facesOverTau },
                repairedTracks: Array(Set(here.flatMap(\.repairedTracks))).sorted(), repairedFrames: here.reduce(0) { $0 + $1.repairedFrames })
        }
        let firstPass = SegmentFirstPass(segments: done.reduce(0) { $0 + $1.segments }, passed: done.reduce(0) { $0 + $1.passed })
        let total = Date().timeIntervalSince(clock)
        return Outcome(
            plan: accepted, result: result.transcode, checks: checks, passes: rounds, policies: policies,
            unfixed: checks.filter { $0.distance > tau },
            seconds: (max(0, total - verifySeconds - (feed.waitedSeconds - waitedBefore)), verifySeconds),
            chunks: result.chunks, firstPass: firstPass, prefilterExamples: prefilterState.examples.all)
    }
}

/// The chunk length the chunked encode is at (read by the cut policy while the chunks are decoded).
final class ChunkLength: Sendable {
    private let frames: Mutex<Int>
    init(_ frames: Int) { self.frames = Mutex(frames) }
    var value: Int {
        get { frames.withLock { $0 } }
        set { frames.withLock { $0 = newValue } }
    }
}
