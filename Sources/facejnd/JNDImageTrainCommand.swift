import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Perception
import Studies
import TensorCore

extension JND {
    struct ImageTrain: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "image-train",
            abstract:
                "Retrain the JND predictor's residual-map decoder so that its JND image is cheaper to code and looks the same to the face model.",
            discussion: """
                Self-supervised (docs/jnd-image.md): loss = rate-weight x rate proxy of the JND image relative to the \
                crop's + identity-weight x max(0, distance - margin x tau) / tau, the distance between the dlib \
                descriptors of the JND image's chip and the crop's, with gradients through the frozen ResNet. Only the \
                decoder trains; the JND-QP head and the encoder are kept. Faces: every face in the images (MMOD, \
                upsample 1) of the identities jnd baselines does not hold out; a seeded seventh of them validates. \
                Writes the model with the best validation epoch's decoder; --prefilter jnd with --jnd-model uses it.
                """)

        @Option(help: "Directory of images (LFW layout: one directory per identity), searched recursively.")
        var images: String

        @Option(help: "Output model file.")
        var out: String

        @Option(help: "Start from this predictor file (default: the one shipped for --codec).")
        var model: String?

        @Option(help: "libx264 or libx265.")
        var codec: PlannedCodec = .libx264

        @Option(help: "Use at most this many training images (sorted by path, after the split).")
        var limit: Int?

        @Option(help: "Epochs.")
        var epochs: Int = 4

        @Option(help: "Mini-batch size.")
        var batch: Int = 16

        @Option(help: "Adam learning rate.")
        var learningRate: Float = 3e-4

        @Option(help: "Weight of the rate term.")
        var rateWeight: Float = 1

        @Option(help: "Weight of the identity hinge.")
        var identityWeight: Float = 4

        @Option(help: "The identity hinge starts at this fraction of tau.")
        var margin: Float = 0.25

        @Flag(help: "Train a detail-mask decoder (the residual is a learned mask on the crop's finest detail) instead of a residual map.")
        var detailMask = false

        @Option(help: "With --detail-mask: the mask acts on the detail finer than this many binomial blur passes (1: the finest).")
        var detailPasses: Int = 1

        @Option(help: "Seed of the validation split and the batch order.")
        var seed: UInt64 = 2026

        @Option(help: "Worker threads.")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        @Option(help: "Write the per-epoch losses to this CSV file.")
        var lossCSV: String?

        @OptionGroup var modelOptions: ModelOptions

        func validate() throws {
            guard epochs >= 1, batch >= 1 else { throw ValidationError("--epochs and --batch must be at least 1") }
            guard margin > 0 && margin < 1 else { throw ValidationError("--margin takes a fraction of tau in (0, 1)") }
            if let limit, limit < 2 { throw ValidationError("--limit must be at least 2") }
            let passes = JNDInput.detailPassRange
            guard passes.contains(detailPasses) else {
                throw ValidationError("--detail-passes takes \(passes.lowerBound) to \(passes.upperBound)")
            }
            guard detailPasses == 1 || detailMask else { throw ValidationError("--detail-passes needs --detail-mask") }
        }

        func run() throws {
            try runReportingErrors {
                var start = try model.map { try JNDModel(path: $0) } ?? JNDModel.bundled(codec: codec.rawValue)
                if detailMask && start.header.residualMode != .detailMask {
                    start = JNDImageTraining.detailMaskStart(start, passes: detailPasses)
                } else if detailMask && start.detailPassCount != detailPasses {
                    throw ValidationError("--model \(model ?? "") masks \(start.detailPassCount)-pass detail, not \(detailPasses)")
                }
                let analyzer = try FaceAnalyzer(models: modelOptions.directory)
                func identity(_ path: String) -> String { URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent }
                let files = try JNDDatasetBuilder.imageFiles(under: images).filter { !JNDBaselines.isTest(identity: identity($0)) }
                var names = Array(Set(files.map(identity))).sorted()
                var rng = SplitMix(seed: seed)
                names.shuffle(using: &rng)
                let validationNames = Set(names.prefix(max(1, names.count / 7)))
                var train = files.filter { !validationNames.contains(identity($0)) }
                var validation = files.filter { validationNames.contains(identity($0)) }
                if let limit {
                    train = Array(train.prefix(limit))
                    validation = Array(validation.prefix(max(1, limit / 6)))
                }
                guard !train.isEmpty, !validation.isEmpty else { throw ValidationError("too few identities under \(images) to split") }
                if threads > 1 { BLAS.setThreads(1) }
                let bar = Progress("faces")
                let samples = try JNDImageTraining.prepare(
                    images: train + validation, analyzer: analyzer, model: start, threads: threads, progress: { bar.update(done: $0, total: $1) })
                bar.finish()
                let validationSet = Set(validation)
                var options = JNDImageTraining.Options()
                options.epochs = epochs
                options.batch = batch
                options.learningRate = learningRate
                options.rateWeight = rateWeight
                options.identityWeight = identityWeight
                options.margin = margin
                options.seed = seed
                options.threads = threads
                var csv = JNDImageTraining.EpochLog.csvHeader + "\n"
                let (trained, _) = try JNDImageTraining.train(
                    start, training: samples.filter { !validationSet.contains($0.source) },
                    validation: samples.filter { validationSet.contains($0.source) }, embedder: analyzer.embedder, options: options
                ) { entry in
                    csv += entry.csvLine + "\n"
                    if let lossCSV { try AtomicFile.write(Data(csv.utf8), to: lossCSV) }
                    FileHandle.standardError.write(Data("epoch \(entry.epoch): \(entry.csvLine)\n".utf8))
                }
                try trained.write(to: out)
                print(csv, terminator: "")
            }
        }
    }
}
