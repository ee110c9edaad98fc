import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Perception
import Studies
import TensorCore

struct JND: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jnd",
        abstract: "Just-noticeable difference for face recognition: how much compression each face tolerates.",
        subcommands: [Measure.self, Calibrate.self, Baselines.self, Train.self, Predict.self, FitHead.self, ImageStudy.self, ImageTrain.self])

    struct Baselines: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score baseline JND predictors against the oracle on a JND dataset (identity-disjoint split).",
            discussion: """
                One identity in five (stable hash of its name) is held out. Fitted on the rest: a constant predictor \
                (the median JND QP) and a classical pixel-domain JND model (NAMM: luminance adaptation plus texture \
                masking, mean amplitude over the face crop) mapped to QP as c + 6 log2(amplitude). Reported on the \
                held-out faces: mean absolute error against the oracle's JND QP, the share predicted above the JND \
                (the FR model would notice), the share 3+ QP below it, the mean predicted QP.
                """)

        @Option(help: "A directory written by facejnd jnd-dataset.")
        var dataset: String

        @Flag(help: "Also train and score the learned JND-QP head (needs the face models; a few minutes).")
        var head = false

        @Option(help: "Also re-measure this many test faces with the oracle, as stored and moved by 2 px: the oracle's own repeatability.")
        var repeatability: Int?

        @Option(help: "Also score this JND predictor file (facejnd jnd train) on the test identities.")
        var predictor: String?

        @Flag(help: "JSON output.")
        var json = false

        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            try runReportingErrors {
                if let n = repeatability {
                    let bar = Progress("repeatability")
                    let analyzer = try FaceAnalyzer(models: modelOptions.directory)
                    let first = try JNDBaselines.loadEntries(dataset: dataset).first
                    let oracle = JNDOracle(analyzer: analyzer, codec: first?.codec ?? "libx264", tau: first?.tau ?? JNDOracle.defaultTau, mode: .crop)
                    BLAS.setThreads(1)
                    let (entries, again, moved) = try JNDRepeatability.measure(
                        dataset: dataset, oracle: oracle, limit: n,
                        progress: { bar.update(done: $0, total: $1) })
                    bar.finish()
                    let report = RepeatabilityReport(entries: entries, again: again, moved: moved)
                    if json { print(try JSONOutput.string(report, pretty: true)); return }
                    for row in report.rows {
                        print(
                            String(
                                format: "%-40@ MAE %.2f  over JND %.1f%%  3+ below %.1f%%  mean QP %.1f  (%d faces)", row.predictor as NSString,
                                row.meanAbsoluteError, 100 * row.overshootRate, 100 * row.undershootRate, row.meanPredictedQP, report.faces))
                    }
                    print(
                        String(format: "std(unmoved - moved) %.2f QP -> per-measurement noise sigma %.2f QP", report.differenceStd, report.noiseSigma)
                    )
                    return
                }
                let bar = Progress("baselines")
                let analyzer = head || predictor != nil ? try FaceAnalyzer(models: modelOptions.directory) : nil
                var r = try JNDBaselines.evaluate(dataset: dataset, analyzer: head ? analyzer : nil, progress: { bar.update(done: $0, total: $1) })
                bar.finish()
                if let predictor, let analyzer {
                    let model = try JNDModel(path: predictor)
                    guard model.header.codec == r.codec else {
                        throw ValidationError("\(predictor) was trained for \(model.header.codec), the dataset is \(r.codec)")
                    }
                    let load = Progress("predictor")
                    let prepared = try JNDPredictorTraining.prepare(
                        dataset: dataset, analyzer: analyzer, config: model.header.network,
                        seed: UInt64(model.header.training["seed"] ?? "") ?? 2026,
                        progress: { load.update(done: $0, total: $1) })
                    load.finish()
                    let e = JNDPredictorTraining.evaluate(model, on: prepared)
                    r.rows += e.rows
                    r.predictorResidualExplained = e.residualExplained
                    r.predictorIdentityCosine = e.identityCosine
                }
                if json {
                    print(try JSONOutput.string(r, pretty: true))
                } else {
                    print("\(r.codec), tau \(r.tau): \(r.testFaces) test faces (\(r.testIdentities) identities), \(r.trainFaces) training faces")
                    for row in r.rows {
                        print(
                            String(
                                format: "%-50@ MAE %.2f  over JND %.1f%%  3+ below %.1f%%  mean QP %.1f", row.predictor as NSString,
                                row.meanAbsoluteError, 100 * row.overshootRate, 100 * row.undershootRate, row.meanPredictedQP))
                    }
                    if let x = r.predictorResidualExplained, let c = r.predictorIdentityCosine {
                        print(
                            String(
                                format: "predictor: residual map explains %.1f%% of the oracle's residual energy; identity branch cosine %.3f",
                                100 * x, c))
                    }
                }
            }
        }
    }

    struct Measure: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure each face's JND QP by trial encodes (the exact oracle).",
            discussion: """
                d(q) is the distance between the face's dlib descriptor before and after encoding at QP q, both taken \
                with the original landmarks. The JND QP is the largest q with d(q') <= tau for every q' <= q. Prints \
                one JSON object per face: source, frame, face, box, codec, mode, tau, jnd_qp, encodes, curve \
                [{qp, d, bytes}]. tau's default is provisional until it is calibrated on LFW.

                With --segments (videos): the in-video JND instead. The video is analysed as encode analyses it, its \
                faces followed into tracks, each track cut into segments (GOPs, or --segment-frames); the JND of a \
                segment is the largest face QP at which every face-frame of the segment stays within tau when the \
                whole video is encoded with the real preset and GOP structure, background at --background-qp, and \
                verified at the original landmarks. All segments are bisected together (about log2 of the background \
                QP plus two whole-video encodes). Prints per segment the JND, the distances at the JND and one QP \
                above, and the crop JND of the track's nearest probe; --json prints the whole report, which also gives \
                what the shipped predictor says for that probe (predicted_jnd_qp, probe_face_width: the input of \
                jnd fit-head).
                """)

        @Argument(help: "An image or a video.")
        var input: String

        @Option(help: "libx264 or libx265.")
        var codec: PlannedCodec = .libx264

        @Option(help: "crop: the face region encoded alone (fast); context: the whole frame, face region at q.")
        var mode: JNDMode = .crop

        @Option(help: "FR-noticeable threshold on the descriptor distance.")
        var tau: Double = JNDOracle.defaultTau

        @Option(help: "Background QP in context mode.")
        var backgroundQP: Int = 40

        @OptionGroup var scan: ScanOptions

        @Flag(help: "Evaluate every QP instead of the coarse-to-fine search.")
        var exhaustive = false

        @Flag(help: "Video: measure the in-video JND of every track segment (see below).")
        var segments = false

        @Option(help: "With --segments: cut segments into pieces of at most N frames (default: whole GOPs).")
        var segmentFrames: Int?

        @Option(help: "With --segments: the encoder preset.")
        var preset = "medium"

        @OptionGroup var modelOptions: ModelOptions

        func validate() throws {
            guard tau > 0 else { throw ValidationError("--tau must be positive") }
            guard (0...51).contains(backgroundQP) else { throw ValidationError("--background-qp must be in 0...51") }
            if let n = segmentFrames, n < 1 { throw ValidationError("--segment-frames must be at least 1") }
            if segmentFrames != nil && !segments { throw ValidationError("--segment-frames needs --segments") }
        }

        func run() throws {
            try runReportingErrors {
                let analyzer = try FaceAnalyzer(models: modelOptions.directory)
                if segments { return try measureSegments(analyzer) }
                let oracle = JNDOracle(
                    analyzer: analyzer, codec: codec.rawValue, tau: tau, mode: mode, backgroundQP: backgroundQP,
                    exhaustive: exhaustive)
                try JNDScan(oracle: oracle, detection: scan.detection, every: scan.every)
                    .run(path: input, isCancelled: { Interrupt.requested }) { print(try JSONOutput.string($0)) }
            }
        }

        func measureSegments(_ analyzer: FaceAnalyzer) throws {
            var options = EncodeOptions()
            options.codec = codec.rawValue
            options.tau = tau
            options.backgroundQP = backgroundQP
            options.preset = preset
            options.detection = scan.detection
            let job = EncodeJob(analyzer: analyzer, options: options)
            let bar = StagedProgress()
            let timeline = try job.analyse(input, progress: bar.update, isCancelled: { Interrupt.requested })
            let background = try job.backgroundQPs(input, frameCount: timeline.frames.count, isCancelled: { Interrupt.requested })
            var oracle = SegmentJNDOracle(job: job, segmentFrames: segmentFrames)
            // The head's training input: what the shipped predictor gives for each segment's probe.
            oracle.predictor = JNDModel.shipped(codec: codec.rawValue, tau: tau)
            let report = try oracle.measure(
                input, timeline: timeline, background: background, progress: { bar.update(.encode, $0, $1) },
                isCancelled: { Interrupt.requested })
            bar.finish()
            if scan.json { return print(try JSONOutput.string(report)) }
            print("track  frames      faces  width  crop JND  in-video JND  worst d at JND  worst d one above")
            for s in report.segments {
                let worst = s.distancesAtJND.map(\.distance).max() ?? .nan
                let above = s.distancesAboveJND.map(\.distance).max()
                print(
                    String(
                        format: "%5d  %4d-%-5d  %5d  %5.0f  %8@  %12@  %14.4f  %@", s.track, s.firstFrame, s.endFrame - 1, s.faceFrames, s.faceWidth,
                        s.cropJNDQP.map(String.init) ?? "-", s.atBackground ? "bg \(s.jndQP)" : "\(s.jndQP)", worst,
                        above.map { String(format: "%.4f", $0) } ?? "-"))
            }
            print(
                String(
                    format: "%d segments, %d encodes, %d bytes at the JND; one QP above, %.0f%% of segments have a face-frame over tau",
                    report.segments.count, report.encodes, report.bytesAtJND, 100 * report.shareFailingAbove))
        }
    }
}

extension JNDMode: ExpressibleByArgument {}
