import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Studies
import TensorCore

struct Quality: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Face quality: certainty ratio, recognisability index, sub-decision consistency and a combined score.",
        discussion: """
            Prints one JSON object per face: source, frame, box, cr, ri, consistency, score (all faces of an image, \
            or of every --every-th frame of a video). The measures are defined in docs/face-quality.md; the \
            default model is the one shipped with facejnd.
            """)

    @Argument(help: "An image or a video.")
    var input: String

    @Option(help: "Quality model file (default: the bundled face-quality-v1.fjqm).")
    var model: String?

    @OptionGroup var scan: ScanOptions

    @OptionGroup var modelOptions: ModelOptions

    struct Row: Encodable {
        var source: String
        var frame: Int
        var box: [Int]
        var detector: String
        var scores: QualityScores
        func encode(to encoder: Encoder) throws {
            enum K: String, CodingKey { case source, frame, box, detector }
            var c = encoder.container(keyedBy: K.self)
            try c.encode(source, forKey: .source)
            try c.encode(frame, forKey: .frame)
            try c.encode(box, forKey: .box)
            try c.encode(detector, forKey: .detector)
            try scores.encode(to: encoder)
        }
    }

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: modelOptions.directory)
            let scorer = QualityScorer(model: try model.map { try QualityModel(path: $0) } ?? QualityModel.bundled())
            let workspace = Workspace()
            try FaceScan(analyzer: analyzer, detection: scan.detection, every: scan.every).runImages(
                path: input, isCancelled: { Interrupt.requested }
            ) { index, image, faces in
                for f in faces {
                    let chip = FaceChip.extract(image, FaceChip.placement(landmarks: f.landmarks, size: analyzer.embedder.chipSize))
                    let s = scorer.scores(analyzer.embedder.analyze(chip: chip, workspace: workspace))
                    print(
                        try JSONOutput.string(
                            Row(
                                source: input, frame: index, box: [f.box.left, f.box.top, f.box.right, f.box.bottom],
                                detector: scan.detector.rawValue, scores: s)))
                }
            }
        }
    }
}

struct QualityTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality-train",
        abstract: "Train the face-quality model on LFW dev folds and measure error-versus-reject on held-out folds.",
        discussion: """
            Folds are the pairs file's blocks of 600 pairs. Training images: every image of the --train-folds pairs, \
            each with its original chip and one degraded copy per degradation family (blur, downscale, QP) at a level \
            chosen from a fixed seed. Evaluation: the --eval-folds pairs (identity-disjoint from training): FNMR at \
            FMR 1e-3 as the lowest-quality genuine pairs are rejected, for CR, RI, consistency, the combined score, \
            face size and Laplacian sharpness. Writes the model, a loss-curve CSV and a JSON report.
            """)

    @Option(help: "LFW pairs file.")
    var pairs: String

    @Option(help: "LFW image directory.")
    var images: String

    @Option(help: "Folds used for training, as FIRST-LAST (1-based).")
    var trainFolds: String = "1-4"

    @Option(help: "Folds used for evaluation, as FIRST-LAST.")
    var evalFolds: String = "5-8"

    @Option(help: "Write the trained model here.")
    var out: String

    @Option(help: "Write the per-epoch losses (CSV) here.")
    var lossCSV: String?

    @Option(help: "Write the JSON report (curves, AUCs, score means by degradation) here.")
    var report: String?

    @Option(help: "Use only the first N images of each split (quick experiments).")
    var limitImages: Int?

    @Option(help: "Training epochs.")
    var epochs: Int = 60

    @Option(help: "Sub-decision softmax temperature.")
    var temperature: Float = 20

    @OptionGroup var modelOptions: ModelOptions

    static func folds(_ text: String) throws -> ClosedRange<Int> {
        guard let r = LFWFolds.parse(text) else { throw ValidationError("folds take FIRST-LAST, got '\(text)'") }
        return r
    }

    func validate() throws {
        _ = try Self.folds(trainFolds)
        _ = try Self.folds(evalFolds)
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
    }

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: modelOptions.directory)
            let all = try Verification.parsePairs(path: pairs, imageDirectory: images)
            let trainPairs = LFWFolds.pairs(all, folds: try Self.folds(trainFolds))
            let evalPairs = LFWFolds.pairs(all, folds: try Self.folds(evalFolds))
            let trainImages = LFWFolds.images(of: trainPairs, limit: limitImages)
            let study = QualityStudy(analyzer: analyzer)
            let bar = Progress("quality-train")
            let train = try study.observe(
                images: trainImages, degradations: QualityStudy.trainingDegradations(image:),
                progress: { bar.update(done: $0, total: $1) })
            bar.finish()
            var settings = QualityStudy.TrainingSettings()
            settings.epochs = epochs
            settings.temperature = temperature
            let (model, losses) = QualityStudy.train(
                train, settings: settings,
                description: [
                    "data": "LFW dev pairs folds \(trainFolds) (\(pairs)), images \(trainImages.count)",
                    "degradations": "one per family per image: blur 1-6, downscale 64-16 px, x264 QP 32-51",
                ])
            try model.write(to: out)
            if let lossCSV {
                let csv =
                    "epoch,train_mse,validation_mse\n" + losses.map { "\($0.epoch),\($0.train),\($0.validation)" }.joined(separator: "\n") + "\n"
                try AtomicFile.write(Data(csv.utf8), to: lossCSV)
            }
            let scorer = QualityScorer(model: model)
            let evalImages = LFWFolds.images(of: evalPairs, limit: limitImages)
            let bar2 = Progress("quality-eval")
            let evalObs = try study.observe(
                images: evalImages, degradations: QualityStudy.evaluationDegradations(image:),
                progress: { bar2.update(done: $0, total: $1) })
            bar2.finish()
            let report = QualityStudyReport.make(
                pairs: evalPairs, observations: evalObs, scorer: scorer, losses: losses,
                trainImages: trainImages.count, trainObservations: train.count)
            let text = try JSONOutput.string(report, pretty: true)
            if let path = self.report { try AtomicFile.write(Data((text + "\n").utf8), to: path) }
            for c in report.curves {
                print(
                    String(
                        format: "%-12@ AUC %.5f  FNMR@FMR1e-3 %.4f → %.4f at 20%% rejected", c.measure as NSString, c.auc, c.points[0][1],
                        c.points[20][1]))
            }
            for m in report.degradationMeans {
                print("\(m.degradation): cr \(m.cr) ri \(m.ri) consistency \(m.consistency) score \(m.score) (n \(m.faces))")
            }
        }
    }
}
