import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Perception
import Studies
import TensorCore

extension JND {
    struct ImageStudy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "image-study",
            abstract: "What the JND image and the denoise baseline save: each face crop encoded at its own JND QP, as is and prefiltered.",
            discussion: """
                For every face in the images of the held-out identities (one in five by a stable hash of the \
                directory name, as jnd baselines and jnd train hold them out): the crop JND QP by the oracle, the \
                crop's coded bytes and descriptor distance at that QP, and the same for the crop after each \
                prefilter: "jnd" (the learned predictor's JND image) and "denoise" (a bilateral filter, its strength \
                the strongest keeping the descriptor within --margin x tau before encoding). Prints one row per \
                prefilter: faces, median and mean byte saving and share of faces within tau at the crop's JND QP, and the \
                saving at equal fidelity (the prefiltered crop at its own JND QP, judged against the original \
                descriptor). --detail-ceilings adds rows "detail-k": the crop with all its detail finer than k \
                binomial blur passes removed, what a detail mask open everywhere would give.
                """)

        @Option(help: "Directory of images (LFW layout: one directory per identity), searched recursively.")
        var images: String

        @Option(help: "Use at most this many held-out images (sorted by path).")
        var limit: Int = 300

        @Option(help: "libx264 or libx265.")
        var codec: PlannedCodec = .libx264

        @Option(help: "A predictor file written by facejnd jnd train (default: the one shipped for --codec).")
        var model: String?

        @Option(help: "The denoise keeps the descriptor within this fraction of tau before encoding.")
        var margin: Double = 0.5

        @Option(help: "Encode each face this many QPs below its crop JND QP (the equal-fidelity comparison is unaffected).")
        var qpOffset: Int = 0

        @Option(help: "FR-noticeable threshold.")
        var tau: Double = JNDOracle.defaultTau

        @Option(help: "Worker threads.")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        @Option(help: "Also write the per-face results as JSON to this file.")
        var out: String?

        @Option(
            parsing: .upToNextOption,
            help: "Also measure the crop with all detail finer than k binomial blur passes removed, for each k given (rows detail-k).")
        var detailCeilings: [Int] = []

        @Flag(help: "JSON output.")
        var json = false

        @OptionGroup var modelOptions: ModelOptions

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
            guard margin > 0 && margin <= 1 else { throw ValidationError("--margin takes a fraction of tau in (0, 1]") }
            let passes = JNDInput.detailPassRange
            guard detailCeilings.allSatisfy({ passes.contains($0) }) else {
                throw ValidationError("--detail-ceilings takes pass counts from \(passes.lowerBound) to \(passes.upperBound)")
            }
        }

        func run() throws {
            try runReportingErrors {
                let predictor = try model.map { try JNDModel(path: $0) } ?? JNDModel.bundled(codec: codec.rawValue)
                let analyzer = try FaceAnalyzer(models: modelOptions.directory)
                let held = try JNDDatasetBuilder.imageFiles(under: images).filter {
                    JNDBaselines.isTest(identity: URL(fileURLWithPath: $0).deletingLastPathComponent().lastPathComponent)
                }
                guard !held.isEmpty else { throw ValidationError("no images of held-out identities under \(images)") }
                var study = JNDImageStudy(
                    oracle: JNDOracle(analyzer: analyzer, codec: codec.rawValue, tau: tau), predictor: predictor, margin: margin, qpOffset: qpOffset,
                    threads: threads)
                study.detailCeilings = detailCeilings
                if threads > 1 { BLAS.setThreads(1) }
                let bar = Progress("image-study")
                let report = try study.run(
                    images: Array(held.prefix(limit)), progress: { bar.update(done: $0, total: $1) }, isCancelled: { Interrupt.requested })
                bar.finish()
                if let out { try AtomicFile.write(Data(try JSONOutput.string(report, pretty: true).utf8), to: out) }
                if json {
                    print(try JSONOutput.string(report.rows, pretty: true))
                    return
                }
                print(
                    "\(report.codec), tau \(report.tau), denoise margin \(report.margin) tau: \(report.faces.count) faces, "
                        + (report.qpOffset == 0 ? "at their crop JND QP" : "\(report.qpOffset) QP below their crop JND QP"))
                for row in report.rows {
                    print(
                        String(
                            format: "%-8@ median saving %5.1f%%, mean %5.1f%%, within tau %5.1f%% (original %5.1f%%); "
                                + "each at its own JND QP: median saving %5.1f%%, mean %5.1f%%",
                            row.prefilter as NSString, 100 * row.medianSaving, 100 * row.meanSaving, 100 * row.withinTau,
                            100 * row.originalWithinTau, 100 * row.medianSavingAtOwnJND, 100 * row.meanSavingAtOwnJND))
                }
            }
        }
    }
}
