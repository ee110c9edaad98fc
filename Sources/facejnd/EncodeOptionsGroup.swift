import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Perception
import RateControl
import Synchronization

/// The options `encode`, `compare` and `sweep` share.
struct EncodeOptionsGroup: ParsableArguments {
    @Option(help: "libx264 or libx265.")
    var codec: PlannedCodec = .libx264

    @Option(help: "Encoder preset.")
    var preset: String = "medium"

    @Option(help: "FR-noticeable threshold tau on the descriptor distance (calibrated default).")
    var tau: Double = JNDOracle.defaultTau

    /// The name `encode` first gave --tau; kept so that existing scripts still run.
    @Option(name: .customLong("threshold"), help: .hidden)
    var threshold: Double?

    /// --tau, or its old name --threshold.
    var effectiveTau: Double { threshold ?? tau }

    @Option(help: "QP of everything outside the faces.")
    var backgroundQP: Int = 40

    @Option(help: "Instead of --background-qp: each frame's background QP from a CRF encode at this rate factor.")
    var matchCRF: Double?

    @Option(help: "Face QP = JND QP - margin.")
    var margin: Int = 2

    @Option(help: "Lowest QP a face may be given.")
    var floorQP: Int = 10

    @Option(help: "Run the face detector every N frames; follow faces by their landmarks in between.")
    var detectEvery: Int = 5

    @Option(help: "Measure each face's JND every N frames.")
    var jndEvery: Int = 30

    @Option(
        help: """
            JND source: predictor (the learned network, one pass per face; default when one is shipped for the codec and \
            --tau is its tau, otherwise the oracle is used with a note) or oracle (trial encodes, exact).
            """)
    var jnd: JNDSource?

    @Option(help: "A JND predictor file (facejnd jnd train) instead of the one shipped for --codec.")
    var jndModel: String?

    @Option(
        help: """
            With the predictor: a segment JND head file (facejnd jnd fit-head) that turns its crop JNDs into in-video \
            ones, or none (the default: no head is shipped; docs/video-jnd.md says why).
            """)
    var segmentHead: String?

    @Option(
        help: """
            none; jnd: replace face pixels by the predictor's JND image before encoding (needs the predictor); \
            denoise: an edge-preserving denoise of each face, as strong as keeps its descriptor within \
            --denoise-margin x tau.
            """)
    var prefilter: FacePrefilter = .none

    @Option(help: "--prefilter denoise: the fraction of tau the denoise may use before encoding.")
    var denoiseMargin: Double = 0.25

    @Option(help: "Oracle mode: crop (fast) or context (whole frame).")
    var jndMode: JNDMode = .crop

    @Option(help: "Face detector: fast (CenterFace, faces down to --min-face) or mmod (dlib's, about 80 px and up at upsample 0).")
    var detector: DetectorSettings.Kind = .fast

    @Option(help: "Fast detector: smallest face to find, in pixels of the frame.")
    var minFace: Double = 20

    @Option(help: "auto: between full scans (--detect-every), the fast detector also looks where a static picture changed; off: never.")
    var motionGate: MotionGateMode = .auto

    @Option(help: "MMOD detector: enlarge frames 2x this many times before detecting (finds faces under 80 px; 4x slower each).")
    var upsample: Int = 0

    @Option(help: "Faces whose quality score is under --quality-floor: skip (background QP) or protect.")
    var unrecognizable: UnrecognizablePolicy = .protect

    @Option(help: "Combined quality score (0-1) under which a face counts as unrecognisable.")
    var qualityFloor: Double = 0.15

    @Option(help: "Verification passes that may lower face QPs.")
    var repairPasses: Int = 4

    @Option(
        help: """
            Encode in closed chunks, each verified and repaired alone: a chunk ends once it holds about this many \
            seconds of faces (face-free stretches ride along, up to ten times as long), and at a scene cut when one \
            is near; faces start each chunk lowered by what earlier chunks needed. The analysis runs ahead of the \
            chunks, so the first chunk is encoded before the whole input is analysed; memory stays bounded and             --resume can go on after a kill. 0: whole-file passes (every frame analysed, then the whole file             encoded, verified and repaired per pass).
            """)
    var chunkSeconds: Double = 2

    @Option(
        help: """
            both: a face is within tau only when its descriptor is, both at its original landmarks and at landmarks \
            fitted again on the decoded picture (as a deployed FR system sees it); landmarks: original landmarks only \
            (the default for now: small faces need far lower QPs to pass both, docs/video-jnd.md).
            """)
    var verify: Verification = .landmarks

    @Flag(
        help: """
            With --chunk-seconds: keep finished chunks in a directory next to the output (.NAME.facejnd-chunks) and, \
            when the same input is encoded again with the same settings after an interruption, encode only the \
            chunks that were not finished. The directory is removed when the output is complete.
            """)
    var resume = false

    @Option(help: "A repair lowers a failing face over at most this many frames of its GOP or chunk (default: the GOP; 10 in chunks).")
    var segmentFrames: Int?

    @Option(
        help: """
            With --chunk-seconds: a track whose faces all stayed under 0.9 x tau in a chunk's first encode starts the \
            next chunk at least this many QP higher (0: only as much as its distances show).
            """)
    var raiseStep: Int = 2

    @Option(help: "A face's planned QP is the lowest over this many frames either side within its track.")
    var smoothingFrames: Int = 15

    @Option(
        help: """
            Code a ring this many pixels wide around every face region at the QP halfway between the face's and the \
            background's (the encoder rounds it out to 16-pixel blocks); 0: none.
            """)
    var guardBand: Int = 0

    @OptionGroup var modelOptions: ModelOptions

    enum JNDSource: String, ExpressibleByArgument { case predictor, oracle }
    enum Verification: String, ExpressibleByArgument { case both, landmarks }
}

extension UnrecognizablePolicy: ExpressibleByArgument {}
extension DetectorSettings.Kind: ExpressibleByArgument {}
extension MotionGateMode: ExpressibleByArgument {}
extension FacePrefilter: ExpressibleByArgument {}

extension EncodeOptionsGroup {

    func validate() throws {
        guard effectiveTau > 0 else { throw ValidationError("--tau must be positive") }
        guard (0...51).contains(backgroundQP) else { throw ValidationError("--background-qp must be in 0...51") }
        guard (0...51).contains(floorQP) else { throw ValidationError("--floor-qp must be in 0...51") }
        guard margin >= 0 else { throw ValidationError("--margin must not be negative") }
        guard detectEvery >= 1, jndEvery >= 1 else { throw ValidationError("--detect-every and --jnd-every must be at least 1") }
        guard (0...3).contains(upsample) else { throw ValidationError("--upsample must be in 0...3") }
        guard minFace >= 8, minFace <= 1000 else { throw ValidationError("--min-face must be in 8...1000 pixels") }
        if let segmentFrames, segmentFrames < 1 { throw ValidationError("--segment-frames must be at least 1") }
        guard chunkSeconds >= 0, chunkSeconds.isFinite else { throw ValidationError("--chunk-seconds must not be negative") }
        if resume && chunkSeconds == 0 { throw ValidationError("--resume needs --chunk-seconds above 0 (only a chunked encode can be resumed)") }
        guard (0...256).contains(guardBand) else { throw ValidationError("--guard-band must be in 0...256 pixels") }
        guard smoothingFrames >= 0 else { throw ValidationError("--smoothing-frames must not be negative") }
        guard repairPasses >= 0 else { throw ValidationError("--repair-passes must not be negative") }
        guard (0...51).contains(raiseStep) else { throw ValidationError("--raise-step must be in 0...51") }
        if jnd == .oracle, let head = segmentHead, head != "none" {
            throw ValidationError("--segment-head maps the predictor's JNDs; it cannot be used with --jnd oracle")
        }
        guard (0...1).contains(qualityFloor) else { throw ValidationError("--quality-floor must be in 0...1") }
        if let matchCRF, !(0...51).contains(matchCRF) { throw ValidationError("--match-crf must be in 0...51") }
        guard denoiseMargin > 0 && denoiseMargin < 1 else { throw ValidationError("--denoise-margin takes a fraction of tau in (0, 1)") }
        if prefilter == .jnd && jnd == .oracle { throw ValidationError("--prefilter jnd needs the JND predictor, not --jnd oracle") }
    }

    /// The options, with the JND predictor loaded when it is the JND source.
    func options() throws -> EncodeOptions {
        var o = EncodeOptions()
        o.codec = codec.rawValue
        o.preset = preset
        o.tau = effectiveTau
        o.backgroundQP = backgroundQP
        o.matchCRF = matchCRF
        o.margin = margin
        o.floorQP = floorQP
        o.detectEvery = detectEvery
        o.jndEvery = jndEvery
        o.jndMode = jndMode
        o.detection = DetectorSettings(kind: detector, upsample: upsample, minFace: minFace)
        o.motionGate = motionGate
        o.maxRepairPasses = repairPasses
        o.segmentFrames = segmentFrames
        o.raiseStep = raiseStep
        o.chunkSeconds = chunkSeconds
        o.resume = resume
        o.refitLandmarks = verify == .both
        o.smoothingFrames = smoothingFrames
        o.guardBand = guardBand
        o.unrecognizable = unrecognizable
        o.qualityFloor = qualityFloor
        o.prefilter = prefilter
        o.denoiseMargin = denoiseMargin
        if jnd != .oracle {
            do {
                let model = try jndModel.map { try JNDModel(path: $0) } ?? JNDModel.bundled(codec: codec.rawValue)
                try model.check(codec: codec.rawValue, tau: effectiveTau)
                o.jndPredictor = model
            } catch {
                // Asked for explicitly (or given a file): an error. By default: the exact oracle, with a note.
                if jnd == .predictor || jndModel != nil || prefilter == .jnd {
                    if error is JNDModelMismatch {
                        throw ValidationError(
                            "\(error); pass --jnd-model with a model trained for \(codec.rawValue) at τ \(effectiveTau), or --jnd oracle")
                    }
                    throw error
                }
                FileHandle.standardError.write(Data("facejnd: note: \(error); measuring JNDs with the oracle\n".utf8))
            }
        }
        // The head maps the predictor's JNDs; a head asked for by file must load even when it then goes unused.
        let head = try segmentJNDHead()
        if o.jndPredictor != nil { o.segmentHead = head }
        return o
    }

    /// The segment head `--segment-head` names (it must match --codec and --tau); nil for none, the default.
    private func segmentJNDHead() throws -> SegmentJNDHead? {
        guard let path = segmentHead, path != "none" else { return nil }
        let head = try SegmentJNDHead(path: path)
        guard (try? head.check(codec: codec.rawValue, tau: effectiveTau)) != nil else {
            throw ValidationError(
                "--segment-head: \(path) was fitted for \(head.header.codec) at τ \(head.header.tau), not \(codec.rawValue) at τ \(effectiveTau)")
        }
        return head
    }
}

/// One progress bar per pipeline stage, drawn one at a time. Once chunks are encoded, the analysis streaming ahead
/// of them is not drawn: the chunks' bar stands for the job.
final class StagedProgress: Sendable {
    private let bars = Mutex<[String: Progress]>([:])

    func update(_ stage: EncodeJob.Stage, _ done: Int, _ total: Int?) {
        let bar: Progress? = bars.withLock { bars in
            if stage == .analyse && bars[EncodeJob.Stage.encode.rawValue] != nil { return nil }
            if let b = bars[stage.rawValue] { return b }
            let b = Progress(stage.rawValue)
            bars[stage.rawValue] = b
            return b
        }
        bar?.update(done: done, total: total)
    }

    func finish() { Progress.clearLine() }
}
