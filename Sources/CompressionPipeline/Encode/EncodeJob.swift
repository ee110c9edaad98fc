import FaceAnalysis
import Foundation
import MediaIO
import Perception
import RateControl
import TensorCore

/// Everything `facejnd encode` can be told.
public struct EncodeOptions: Sendable {
    public var codec = "libx264"
    public var preset = "medium"
    /// FR-noticeable threshold on the descriptor distance.
    public var tau = JNDOracle.defaultTau
    /// Background QP for every frame; ignored when `matchCRF` is set.
    public var backgroundQP = 40
    /// Derive each frame's background QP from a CRF encode of the input at this rate factor.
    public var matchCRF: Double? = nil
    /// Verify each face also at landmarks fitted again on the decoded picture (a face is within τ only when both
    /// distances are), and check at detection frames that the detector still finds it.
    public var refitLandmarks = false
    /// Encode in closed chunks of this many seconds, each verified and repaired alone (nil or 0: whole-file passes).
    public var chunkSeconds: Double? = nil
    /// Keep finished chunks next to the output and take them over when the same encode runs again (chunked only).
    public var resume = false
    /// Face QP = JND QP − margin.
    public var margin = 2
    public var smoothingFrames = 15
    public var floorQP = 10
    /// A ring of intermediate QP this many pixels wide around every face region (0: none).
    public var guardBand = 0
    /// Which detector finds the faces (the fast one by default: faces down to 20 px).
    public var detection = DetectorSettings.fast()
    /// auto: between full scans, the fast detector looks where a static camera's picture changed; off: never.
    public var motionGate = MotionGateMode.auto
    public var detectEvery = 5
    public var jndEvery = 30
    public var jndMode = JNDMode.crop
    /// The learned JND predictor (one network pass per probe); nil: the oracle's trial encodes. It must have been
    /// trained for `codec` and `tau`.
    public var jndPredictor: JNDModel? = nil
    /// Turns the predictor's crop JNDs into in-video segment JNDs for the planner (docs/video-jnd.md, "The video
    /// JND dataset and the segment head"); nil: the planner starts from the crop JNDs. Unused with the oracle's JNDs.
    public var segmentHead: SegmentJNDHead? = nil
    /// What replaces each protected face's pixels before encoding: the predicted JND image (crop − predicted
    /// residual map; needs `jndPredictor`) or an edge-preserving denoise. A track that fails verification is encoded
    /// unfiltered from then on.
    public var prefilter = FacePrefilter.none
    /// `--prefilter denoise`: the denoise keeps each face's descriptor within this fraction of τ before encoding.
    public var denoiseMargin = 0.25
    /// Verification passes that may lower face QPs after the first encode.
    public var maxRepairPasses = 4
    /// QP step a failing face's region is lowered by per repair pass.
    public var repairStep = 3
    /// Chunked encode: a track whose chunk passed with its worst distance under 0.9 τ starts its next chunk at least
    /// this many QP higher (`CarriedCorrection.raiseStep`; 0: only the headroom its distance shows).
    public var raiseStep = 0
    /// Repairs lower a failing face over its segment: the GOP holding the failure, cut into pieces of at most this
    /// many frames (nil: the whole GOP).
    public var segmentFrames: Int? = nil
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// What happens to faces whose combined quality score is below `qualityFloor`.
    public var unrecognizable = UnrecognizablePolicy.protect
    /// Combined quality score (0…1) under which a face counts as unrecognisable.
    public var qualityFloor = 0.15
    /// Sub-decision consistency under which a face counts as masked or occluded (only its upper face is protected).
    public var occlusionConsistency = 0.3
    /// Score faces with the quality model (nil: the bundled model; needed by the two policies above).
    public var qualityModel: QualityModel? = nil
    public var useQuality = true

    /// Testing aid: added to every planned face QP (a forced violation that the repair passes must undo).
    public var faceQPBias = 0

    public init() {}
}

/// What one encode-and-verify pass produced.
public struct EncodePass: Sendable, Codable, Equatable {
    public var pass: Int
    public var outputBytes: Int
    public var facesOverTau: Int
    /// Tracks whose QP the pass lowered afterwards, over how many frames in total.
    public var repairedTracks: [Int]
    public var repairedFrames: Int

    enum CodingKeys: String, CodingKey {
        case pass
        case outputBytes = "output_bytes"
        case facesOverTau = "faces_over_tau"
        case repairedTracks = "repaired_tracks"
        case repairedFrames = "repaired_frames"
    }
}

/// The product: decode, follow faces, measure their JND, plan per-frame and per-face QP, encode, verify, repair.
public struct EncodeJob {
    public var analyzer: FaceAnalyzer
    public var options: EncodeOptions
    /// Testing aid: how far the streamed analysis may run ahead of the chunks (nil: room for the longest chunk).
    var streamWindow: Int? = nil

    public init(analyzer: FaceAnalyzer, options: EncodeOptions) {
        self.analyzer = analyzer
        self.options = options
    }

    /// Stages reported through `progress`. A chunked encode reports `analyse` and `encode` interleaved: the analysis
    /// streams ahead of the chunks.
    public enum Stage: String, Sendable { case analyse, measure, reference, encode, verify }

    /// How every encode of this job is verified (facejnd's and the references'): at the original landmarks, and with
    /// `refitLandmarks` also at landmarks fitted again on the decoded picture.
    public var verifier: FaceVerifier {
        var v = FaceVerifier(embedder: analyzer.embedder, landmarks: options.refitLandmarks ? analyzer.landmarks : nil, threads: options.threads)
        if options.refitLandmarks {
            let analyzer = self.analyzer, settings = options.detection
            v.redetect = { image in try analyzer.detect(image, with: settings).map(\.box) }
        }
        return v
    }

    public var oracle: JNDOracle {
        JNDOracle(
            analyzer: analyzer, codec: options.codec, tau: options.tau, mode: options.jndMode,
            backgroundQP: options.backgroundQP, preset: options.preset)
    }

    /// The analysis pass: faces of every frame and the JND probes (measured lazily).
    public func analyse(
        _ input: String, progress: (Stage, Int, Int?) -> Void = { _, _, _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> FaceTimeline {
        try analysisPass().run(path: input, progress: { progress(.analyse, $0, $1) }, isCancelled: isCancelled)
    }

    /// The analysis pass as this job's options set it up.
    func analysisPass() throws -> FaceAnalysisPass {
        guard CodecFamily(rawValue: options.codec) == .x264 || CodecFamily(rawValue: options.codec) == .x265 else {
            throw PipelineError.codecCannotPlanFaces(codec: options.codec)
        }
        var pass = FaceAnalysisPass(
            analyzer: analyzer, oracle: oracle, detection: options.detection,
            detectEvery: options.detectEvery, jndEvery: options.jndEvery, threads: options.threads)
        pass.motionGate = options.motionGate == .auto && options.detection.kind == .fast
        if let p = options.jndPredictor {
            try p.check(codec: options.codec, tau: options.tau)
            pass.predictor = p
        }
        if options.useQuality { pass.quality = QualityScorer(model: try options.qualityModel ?? QualityModel.bundled()) }
        return pass
    }

    /// Each frame's background QP: the constant, or the per-frame QP x264/x265 chose in a CRF encode (`frameCount`
    /// nil: as many as that encode has frames).
    public func backgroundQPs(_ input: String, frameCount: Int?, isCancelled: () -> Bool = { false }) throws -> [Int] {
        guard let crf = options.matchCRF else { return Array(repeating: options.backgroundQP, count: frameCount ?? 0) }
        let scratch = AtomicFile.scratchPath(near: input, tag: "crf")
        defer { AtomicFile.discard(scratch) }
        var t = Transcoder(
            input: input, output: scratch, encoder: EncoderSettings(codec: options.codec, preset: options.preset, rateControl: .crf(crf)))
        t.copyOtherStreams = false
        let r = try t.run(isCancelled: isCancelled)
        let frameCount = frameCount ?? r.frames.count
        // Frames flushed at the end of the stream may come without a QP (x264 reports −1): they take the QP of the
        // nearest frame that has one.
        let known: [Int?] = (0..<frameCount).map { i in
            guard i < r.frames.count, let q = r.frames[i].encoderQP, (0...51).contains(q) else { return nil }
            return Int(q.rounded())
        }
        let valid = known.enumerated().compactMap { i, q in q.map { (i, $0) } }
        guard !valid.isEmpty else { return Array(repeating: options.backgroundQP, count: frameCount) }
        return known.enumerated().map { i, q in q ?? valid.min { abs($0.0 - i) < abs($1.0 - i) }!.1 }
    }

    /// The outcome of `encode`.
    public struct Outcome: Sendable {
        public var plan: [PlannedFrame]
        public var result: TranscodeResult
        public var checks: [FaceCheck]
        public var passes: [EncodePass]
        /// The planner's treatment of each track at the end.
        public var policies: [Int: TrackPolicy]
        /// Faces still over τ after the last pass.
        public var unfixed: [FaceCheck]
        public var seconds: (encode: Double, verify: Double)
        /// The chunked encode's chunks (empty for a whole-file encode).
        public var chunks: [ChunkRecord] = []
        /// The chunked encode's first-encode result per segment (nil for a whole-file encode).
        public var firstPass: SegmentFirstPass? = nil
        /// With a prefilter: the first filtered face of each track.
        public var prefilterExamples: [PrefilterExample] = []
    }

    /// Plans, encodes and verifies until every face is within τ or no face QP can go lower; writes `output`
    /// atomically (nothing is left behind on error or cancellation). The decisions are RateControl's: track policies
    /// from the quality scores, the plan from the JND samples, the repairs from the verification failures.
    public func encode(
        _ input: String, output: String, timeline: FaceTimeline, background: [Int],
        progress: @Sendable (Stage, Int, Int?) -> Void = { _, _, _ in },
        isCancelled: @Sendable @escaping () -> Bool = { false }
    ) throws -> Outcome {
        if let seconds = options.chunkSeconds, seconds > 0 {
            return try encodeChunked(
                input, output: output, feed: TimelineFeed(complete: timeline), background: background, progress: progress,
                isCancelled: isCancelled)
        }
        return try encodeWholeFile(input, output: output, timeline: timeline, background: background, progress: progress, isCancelled: isCancelled)
    }

    /// Whole-file passes: encode everything, verify everything, lower the failing faces over their GOPs (or
    /// segments), again until nothing fails.
    func encodeWholeFile(
        _ input: String, output: String, timeline: FaceTimeline, background: [Int],
        progress: @Sendable (Stage, Int, Int?) -> Void, isCancelled: @Sendable @escaping () -> Bool
    ) throws -> Outcome {
        var (policies, planner, plannerInput) = try prepare(
            timeline, background: background, progress: progress, isCancelled: isCancelled)
        let rules = RepairRules(tau: options.tau, floorQP: options.floorQP, minimumStep: options.repairStep)
        let scratch = AtomicFile.scratchPath(near: output, tag: "pass")
        defer { AtomicFile.discard(scratch) }
        var repairs = FacePlanner.Repairs()
        if options.faceQPBias != 0 {
            for track in timeline.trackIDs { repairs.lower(track: track, frames: 0..<timeline.frames.count, by: -options.faceQPBias) }
        }
        var passes: [EncodePass] = []
        var unfiltered = Set<Int>()
        let prefilterState = PrefilterState()
        var encodeSeconds = 0.0, verifySeconds = 0.0
        let verifier = self.verifier
        while true {
            let plan = planner.plan(plannerInput, repairs: repairs)
            var clock = Date()
            let filter = try prefilter(timeline, skipping: planner.skippedTracks.union(unfiltered), state: prefilterState)
            let result = try AtomicFile.namingOutput(output) {
                try encode(
                    input, to: scratch, plan: plan, edit: filter, progress: { progress(.encode, $0, $1) }, isCancelled: isCancelled)
            }
            encodeSeconds += Date().timeIntervalSince(clock)
            clock = Date()
            // Skipped (unrecognisable) faces are not held to τ.
            let checks = try verifier.check(
                path: scratch, timeline: timeline, progress: { progress(.verify, $0, $1) },
                isCancelled: isCancelled
            ).filter { !planner.skippedTracks.contains($0.track) }
            verifySeconds += Date().timeIntervalSince(clock)
            let failing = checks.filter { $0.distance > options.tau }
            var pass = EncodePass(
                pass: passes.count + 1, outputBytes: result.outputBytes, facesOverTau: failing.count,
                repairedTracks: [], repairedFrames: 0)
            var actions: [RepairAction] = []
            if passes.count < options.maxRepairPasses {
                let prefiltered = options.prefilter != .none ? Set(timeline.trackIDs).subtracting(unfiltered) : []
                actions = rules.actions(
                    failing: failing.map { FaceFailure(frame: $0.frame, track: $0.track, distance: $0.distance) },
                    plan: plan,
                    gops: TrackSegment.stretches(
                        gops: RepairRules.gops(result.frames.map(\.pictureType), count: timeline.frames.count), length: options.segmentFrames),
                    prefiltered: prefiltered, upperOnly: planner.upperOnlyTracks)
            }
            Self.apply(actions, repairs: &repairs, planner: &planner, policies: &policies, unfiltered: &unfiltered, pass: &pass)
            passes.append(pass)
            if actions.isEmpty {
                if isCancelled() { throw CancellationError() }
                try AtomicFile.moveIntoPlace(scratch, output)
                return Outcome(
                    plan: plan, result: result, checks: checks, passes: passes, policies: policies, unfixed: failing,
                    seconds: (encodeSeconds, verifySeconds), prefilterExamples: prefilterState.examples.all)
            }
        }
    }

    /// Carries out one pass's repair actions and records them in `pass`.
    static func apply(
        _ actions: [RepairAction], repairs: inout FacePlanner.Repairs, planner: inout FacePlanner, policies: inout [Int: TrackPolicy],
        unfiltered: inout Set<Int>, pass: inout EncodePass
    ) {
        for action in actions {
            switch action {
            case .unfilter(let track, _): unfiltered.insert(track)
            case .widen(let track, _):
                planner.upperOnlyTracks.remove(track)
                policies[track] = .protect
            case .lower(let track, let frames, let step): repairs.lower(track: track, frames: frames, by: step)
            }
            pass.repairedFrames += action.frames.count
            if !pass.repairedTracks.contains(action.track) { pass.repairedTracks.append(action.track) }
        }
        pass.repairedTracks.sort()
    }

    /// What every encode mode starts from: each track's policy from its quality scores, the planner, and the planner's
    /// input with the JND probes measured.
    func prepare(
        _ timeline: FaceTimeline, background: [Int], progress: @Sendable (Stage, Int, Int?) -> Void,
        isCancelled: @Sendable @escaping () -> Bool
    ) throws -> (policies: [Int: TrackPolicy], planner: FacePlanner, input: PlannerInput) {
        var policies: [Int: TrackPolicy] = [:]
        for track in timeline.trackIDs {
            let q = timeline.quality(track: track)
            policies[track] = TrackPolicy.decide(
                score: q?.score, consistency: q?.consistency, qualityFloor: options.qualityFloor,
                unrecognizable: options.unrecognizable, occlusionConsistency: options.occlusionConsistency)
        }
        var planner = FacePlanner(
            margin: options.margin, smoothingFrames: options.smoothingFrames, floorQP: options.floorQP,
            backgroundQP: background)
        planner.skippedTracks = Set(policies.filter { $0.value == .skip }.keys)
        planner.upperOnlyTracks = Set(policies.filter { $0.value == .upper }.keys)
        try timeline.measure(
            tau: options.tau, threads: options.threads, progress: { progress(.measure, $0, $1) },
            isCancelled: isCancelled)
        let plannerInput = try timeline.plannerInput(tau: options.tau, chipSize: analyzer.embedder.chipSize, head: options.segmentHead)
        return (policies, planner, plannerInput)
    }

    /// The ring around face regions every encode of this job gets (`--guard-band`).
    public var guardBand: GuardBand { GuardBand(width: options.guardBand) }

    /// The QP the encoder is opened at for these per-frame background QPs (their upper median; per-frame and per-region
    /// QPs are offsets from it), or `--background-qp` when there are none.
    public func anchorQP(_ backgrounds: [Int]) -> Int {
        let sorted = backgrounds.sorted()
        return sorted.isEmpty ? options.backgroundQP : sorted[sorted.count / 2]
    }

    /// One encode of `plan` with the job's codec and preset (frames past the plan's end take its last background QP);
    /// `edit` may change a frame's pixels before it is encoded.
    public func encode(
        _ input: String, to output: String, plan: [PlannedFrame], copyOtherStreams: Bool = true, edit: ((Int, Frame) throws -> Void)? = nil,
        progress: (Int, Int?) -> Void = { _, _ in }, isCancelled: () -> Bool = { false }
    ) throws -> TranscodeResult {
        let anchor = anchorQP(plan.map(\.backgroundQP))
        var transcoder = Transcoder(
            input: input, output: output,
            encoder: EncoderSettings(codec: options.codec, preset: options.preset, rateControl: .planned(anchorQP: anchor)))
        transcoder.copyOtherStreams = copyOtherStreams
        return try transcoder.run(
            frameQP: { i, frame in
                try edit?(i, frame)
                return i < plan.count ? guardBand.apply(to: plan[i].frameQP) : FrameQP(qp: plan.last?.backgroundQP ?? anchor)
            }, progress: { progress($0.framesDone, $0.framesExpected) }, isCancelled: isCancelled)
    }
}

extension EncodeJob {
    /// The whole job: analyse, plan, encode, verify and repair; returns the report.
    public func run(
        _ input: String, output: String, progress: @Sendable @escaping (Stage, Int, Int?) -> Void = { _, _, _ in },
        isCancelled: @Sendable @escaping () -> Bool = { false }
    ) throws -> EncodeReport {
        let start = Date()
        // Fail before the analysis pass, not after it, when the output cannot be written where it was asked for.
        try AtomicFile.checkWritable(output)
        if let seconds = options.chunkSeconds, seconds > 0 {
            // Chunked: the analysis streams ahead of the chunks on its own thread.
            let background = options.matchCRF == nil ? nil : try backgroundQPs(input, frameCount: nil, isCancelled: isCancelled)
            // `progress` escapes into the analysis thread, which may still hold it for a moment after signalling its
            // end (a `withoutActuallyEscaping` here trapped when a chunk failed at once); it is not called after that.
            let (timeline, outcome, analyse) = try encodeStreamed(
                input, output: output, background: background, progress: progress, isCancelled: isCancelled)
            let total = Date().timeIntervalSince(start)
            let timing = EncodeReport.Timing(
                analyse: analyse, measure: 0, encode: outcome.seconds.encode, verify: outcome.seconds.verify, total: total)
            return EncodeReport(input: input, output: output, options: options, timeline: timeline, outcome: outcome, timing: timing)
        }
        let timeline = try analyse(input, progress: progress, isCancelled: isCancelled)
        let analysed = Date()
        let background = try backgroundQPs(input, frameCount: timeline.frames.count, isCancelled: isCancelled)
        let outcome = try encode(
            input, output: output, timeline: timeline, background: background, progress: progress,
            isCancelled: isCancelled)
        let total = Date().timeIntervalSince(start)
        let analyse = analysed.timeIntervalSince(start)
        let timing = EncodeReport.Timing(
            analyse: analyse, measure: total - analyse - outcome.seconds.encode - outcome.seconds.verify,
            encode: outcome.seconds.encode, verify: outcome.seconds.verify, total: total)
        return EncodeReport(input: input, output: output, options: options, timeline: timeline, outcome: outcome, timing: timing)
    }
}

/// `--motion-gate`: whether the fast detector also runs, between full scans, where a static picture changed.
public enum MotionGateMode: String, Sendable, Codable, CaseIterable {
    case auto, off
}
