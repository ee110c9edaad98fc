import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Synchronization

/// The options `encode`, `compare` and `sweep` share.
struct EncodeOptionsGroup: ParsableArguments {
    @Option(help: "libx264 or libx265.")
    var codec: String = "libx264"

    @Option(help: "Encoder preset.")
    var preset: String = "medium"

    @Option(name: .customLong("threshold"), help: "FR-noticeable threshold tau on the descriptor distance (calibrated default).")
    var tau: Double = JNDOracle.defaultTau

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

    @Option(help: "JND source: oracle (trial encodes; the learned predictor is not available yet).")
    var jnd: JNDSource = .oracle

    @Option(help: "Oracle mode: crop (fast) or context (whole frame).")
    var jndMode: JNDMode = .crop

    @Option(help: "Enlarge frames 2x this many times before detecting (finds faces under 80 px; 4x slower each).")
    var upsample: Int = 0

    @Option(help: "Faces whose quality score is under --quality-floor: skip (background QP) or protect.")
    var unrecognizable: UnrecognizablePolicy = .protect

    @Option(help: "Combined quality score (0-1) under which a face counts as unrecognisable.")
    var qualityFloor: Double = 0.15

    @Option(help: "Verification passes that may lower face QPs.")
    var repairPasses: Int = 4

    @OptionGroup var modelOptions: ModelOptions

    enum JNDSource: String, ExpressibleByArgument { case oracle }
}

extension UnrecognizablePolicy: ExpressibleByArgument {}

extension EncodeOptionsGroup {

    func validate() throws {
        guard ["libx264", "libx265"].contains(codec) else { throw ValidationError("--codec must be libx264 or libx265") }
        guard tau > 0 else { throw ValidationError("--threshold must be positive") }
        guard (0...51).contains(backgroundQP) else { throw ValidationError("--background-qp must be in 0...51") }
        guard (0...51).contains(floorQP) else { throw ValidationError("--floor-qp must be in 0...51") }
        guard margin >= 0 else { throw ValidationError("--margin must not be negative") }
        guard detectEvery >= 1, jndEvery >= 1 else { throw ValidationError("--detect-every and --jnd-every must be at least 1") }
        guard (0...3).contains(upsample) else { throw ValidationError("--upsample must be in 0...3") }
        guard repairPasses >= 0 else { throw ValidationError("--repair-passes must not be negative") }
        guard (0...1).contains(qualityFloor) else { throw ValidationError("--quality-floor must be in 0...1") }
        if let matchCRF, !(0...51).contains(matchCRF) { throw ValidationError("--match-crf must be in 0...51") }
    }

    var options: EncodeOptions {
        var o = EncodeOptions()
        o.codec = codec
        o.preset = preset
        o.tau = tau
        o.backgroundQP = backgroundQP
        o.matchCRF = matchCRF
        o.margin = margin
        o.floorQP = floorQP
        o.detectEvery = detectEvery
        o.jndEvery = jndEvery
        o.jndMode = jndMode
        o.upsample = upsample
        o.maxRepairPasses = repairPasses
        o.unrecognizable = unrecognizable
        o.qualityFloor = qualityFloor
        return o
    }
}

/// One progress bar per pipeline stage, drawn one at a time.
final class StagedProgress: Sendable {
    private let bars = Mutex<[String: Progress]>([:])

    func update(_ stage: EncodeJob.Stage, _ done: Int, _ total: Int?) {
        let bar = bars.withLock { bars in
            if let b = bars[stage.rawValue] { return b }
            let b = Progress(stage.rawValue)
            bars[stage.rawValue] = b
            return b
        }
        bar.update(done: done, total: total)
    }

    func finish() { Progress.clearLine() }
}
