import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Studies
import TensorCore

extension JND {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train the JND predictor (identity/residual decomposition network) on a JND dataset.",
            discussion: """
                Split: the identities `jnd baselines` holds out for testing are never seen; a seventh of the others \
                (seeded) is the validation set for early stopping and for the safety shift (the smallest shift that \
                keeps validation overshoots at or under --overshoot-target). Losses: cosine distillation of dlib's \
                descriptor by the identity branch, MSE of the residual map (oracle's original − JND image, area-averaged \
                to the network's input size), pinball loss of the JND QP at --quantile, cross-correlation between pooled \
                identity and residual features. Prints the held-out scores; the model file is written atomically at the \
                end (and after every epoch to --checkpoint). docs/jnd-predictor.md has the recipe of the shipped weights.
                """)

        @Option(help: "A directory written by facejnd jnd-dataset.")
        var dataset: String

        @Option(name: [.short, .customLong("out")], help: "Model file to write (.fjnd).")
        var out: String

        @Option(help: "Training epochs.") var epochs: Int = 30
        @Option(help: "Mini-batch size.") var batch: Int = 32
        @Option(help: "Initial Adam learning rate (cosine decay to 5%).") var learningRate: Float = 2e-3
        @Option(help: "Pinball-loss quantile of the QP head (0.5 = median).") var quantile: Float = 0.5
        @Option(help: "Weight of the decorrelation loss.") var decorrelationWeight: Float = 0.1
        @Option(help: "Weight of the identity-distillation loss.") var identityWeight: Float = 1
        @Option(help: "Weight of the residual-map loss.") var residualWeight: Float = 1
        @Option(help: "Weight of the JND-QP loss.") var qpWeight: Float = 1
        @Option(help: "Target overshoot rate on the validation faces for the safety shift.") var overshootTarget: Double = 0.025
        @Option(help: "Random seed (initialisation, shuffling, validation split).") var seed: UInt64 = 2026
        @Option(help: "Use only the first N faces of the dataset (quick runs).") var limit: Int?
        @Option(help: "Write the per-epoch losses here (CSV).") var lossCSV: String?
        @Option(help: "Rewrite this model file after every epoch with the best weights so far.") var checkpoint: String?
        @Option(help: "Write the training report here (JSON).") var report: String?
        @Flag(help: "Print the report as JSON.") var json = false
        @OptionGroup var modelOptions: ModelOptions

        func validate() throws {
            guard epochs > 0, batch > 1 else { throw ValidationError("--epochs must be positive and --batch at least 2") }
            guard quantile > 0 && quantile < 1 else { throw ValidationError("--quantile must be in (0, 1)") }
            guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
        }

        func run() throws {
            try runReportingErrors {
                let analyzer = try FaceAnalyzer(models: modelOptions.directory)
                let config = DecompositionNetwork.Config()
                let bar = Progress("loading faces")
                let prepared = try JNDPredictorTraining.prepare(
                    dataset: dataset, analyzer: analyzer, config: config, seed: seed, limit: limit,
                    progress: { bar.update(done: $0, total: $1) })
                bar.finish()
                var options = JNDTrainingOptions()
                options.epochs = epochs
                options.batch = batch
                options.learningRate = learningRate
                options.quantile = quantile
                options.decorrelationWeight = decorrelationWeight
                options.identityWeight = identityWeight
                options.residualWeight = residualWeight
                options.qpWeight = qpWeight
                options.seed = seed
                let name = (dataset as NSString).lastPathComponent
                let (model, r) = try JNDPredictorTraining.train(
                    prepared, config: config, options: options, overshootTarget: overshootTarget,
                    lossCSV: lossCSV, checkpoint: checkpoint, datasetName: name
                ) { e in
                    if Interrupt.requested { return }
                    FileHandle.standardError.write(
                        Data(
                            String(
                                format: "epoch %d/%d: train %.4f (id %.4f res %.4f qp %.4f dec %.4f)  val qp %.4f |err| %.2f QP  %.0f s\n",
                                e.epoch, epochs, e.trainTotal, e.trainIdentity, e.trainResidual, e.trainQP,
                                e.trainDecorrelation, e.validationQP, e.validationAbsoluteError * Double(JNDPredictorTraining.qpScale),
                                e.seconds
                            ).utf8))
                }
                if Interrupt.requested { throw CancellationError() }
                try model.write(to: out)
                if let report { try JSONOutput.string(r, pretty: true).write(toFile: report, atomically: true, encoding: .utf8) }
                if json {
                    print(try JSONOutput.string(r, pretty: true))
                } else {
                    print(
                        "\(r.codec), tau \(r.tau): trained on \(r.trainFaces) faces, best epoch \(r.bestEpoch) of \(r.epochs), safety shift \(String(format: "%.1f", r.safetyShift)) QP"
                    )
                    for row in r.rows {
                        print(
                            String(
                                format: "%-50@ MAE %.2f  over JND %.1f%%  3+ below %.1f%%  mean QP %.1f", row.predictor as NSString,
                                row.meanAbsoluteError, 100 * row.overshootRate, 100 * row.undershootRate, row.meanPredictedQP))
                    }
                    print("wrote \(out)")
                }
            }
        }
    }
}

extension JND {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Predict each face's JND QP with the learned predictor (one network pass per face, no trial encodes).",
            discussion: """
                Prints one JSON object per face: source, frame, face, box, crop (the region the oracle would encode), \
                codec, tau, jnd_qp (safety shift applied), raw_qp (before the shift), milliseconds (crop to prediction). \
                With --save-maps DIR, also writes per face the crop, the residual map (visualised: mid-grey is 0, 8 grey \
                levels per level of residual) and the JND image (crop − residual) as PNGs, and lists them under "maps".
                """)

        @Argument(help: "An image or a video.")
        var input: String

        @Option(help: "Codec whose shipped predictor to use (libx264).")
        var codec: PlannedCodec = .libx264

        @Option(help: "A model file written by facejnd jnd train (default: the one shipped for --codec).")
        var model: String?

        @Option(help: "Write crop, residual-map and JND-image PNGs of every face into this directory.")
        var saveMaps: String?

        @OptionGroup var scan: ScanOptions

        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            try runReportingErrors {
                let predictor = try model.map { try JNDModel(path: $0) } ?? JNDModel.bundled(codec: codec.rawValue)
                if model == nil { try predictor.check(codec: codec.rawValue, tau: predictor.header.tau) }
                let analyzer = try FaceAnalyzer(models: modelOptions.directory)
                BLAS.setThreads(1)
                try JNDPredictScan(model: predictor, analyzer: analyzer, detection: scan.detection, every: scan.every, mapsDirectory: saveMaps)
                    .run(path: input, isCancelled: { Interrupt.requested }) { print(try JSONOutput.string($0)) }
            }
        }
    }
}
