import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Studies

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Face verification accuracy over an LFW-style pairs file.",
        discussion: """
            PAIRS: a header line, then 'name i j' (same person) or 'name1 i name2 j' (different); images are \
            DIR/name/name_000i.jpg. Each image contributes the face nearest its centre; a pair with an image \
            without a face counts as wrong. Reports accuracy at the threshold, the best-threshold accuracy, \
            TAR at FAR 1e-2 and 1e-3, and the images without a face.
            """)

    @Option(help: "Pairs file.")
    var pairs: String

    @Option(help: "Directory of per-person image folders.")
    var images: String

    @Option(help: "Same person when the descriptor distance is below this.")
    var threshold: Double = 0.6

    @Option(help: "Enlarge images 2x this many times before detecting.")
    var upsample: Int = 1

    @Option(help: "Worker threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var modelOptions: ModelOptions

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: modelOptions.directory)
            let list = try Verification.parsePairs(path: pairs, imageDirectory: images)
            let job = Verification(analyzer: analyzer, upsample: upsample, threshold: threshold, threads: threads)
            let bar = Progress("verify")
            let report = try job.run(pairs: list, progress: { done, total in bar.update(done: done, total: total) })
            bar.finish()
            if json {
                print(try JSONOutput.string(report, pretty: true))
            } else {
                print(
                    String(
                        format:
                            "pairs %d: accuracy %.4f at threshold %.2f; best %.4f at %.3f; TAR %.4f @FAR 1e-2, %.4f @FAR 1e-3; %d images without a face",
                        report.pairs, report.accuracy, report.threshold, report.bestAccuracy, report.bestThreshold,
                        report.tarAtFAR1e2, report.tarAtFAR1e3, report.imagesWithoutFace))
            }
        }
    }
}
