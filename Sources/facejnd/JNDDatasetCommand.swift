import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Studies

struct JNDDatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jnd-dataset",
        abstract: "Build a JND dataset: per face the original crop, d(q), the JND QP, the JND image and the residual map.",
        discussion: """
            Writes DIR/faces/<id>/{original,jnd,residual}.png, DIR/index.jsonl (one JSON object per face) and \
            DIR/summary.json (JND-QP histogram, d(q) percentiles). residual.png is 48-bit RGB holding \
            original - jnd + 256 per channel (lossless, signed). Re-running with the same DIR skips faces already \
            indexed, so an interrupted build resumes.
            """)

    @Option(help: "Directory of images (searched recursively).")
    var images: String?

    @Option(help: "A video (every --every-th frame).")
    var video: String?

    @Option(help: "Output directory.")
    var out: String

    @Option(help: "libx264 or libx265.")
    var codec: PlannedCodec = .libx264

    @Option(name: .customLong("qp-range"), help: "QP range as LOW:HIGH.")
    var qpRange: String = "0:51"

    @Option(help: "FR-noticeable threshold.")
    var tau: Double = JNDOracle.defaultTau

    @Option(help: "Video: analyse every N-th frame.")
    var every: Int = 1

    @Option(help: "Enlarge pictures 2x this many times before detecting.")
    var upsample: Int = 1

    @Option(help: "Worker threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Use only the first N images (sorted by path).")
    var limit: Int?

    @OptionGroup var modelOptions: ModelOptions

    func validate() throws {
        guard (images == nil) != (video == nil) else { throw ValidationError("give exactly one of --images and --video") }
        _ = try parsedRange()
    }

    func parsedRange() throws -> ClosedRange<Int> {
        let v = qpRange.split(separator: ":").compactMap { Int($0) }
        guard v.count == 2, v[0] >= 0, v[1] <= 51, v[0] <= v[1] else {
            throw ValidationError("--qp-range takes LOW:HIGH within 0:51, got '\(qpRange)'")
        }
        return v[0]...v[1]
    }

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: modelOptions.directory)
            let oracle = JNDOracle(analyzer: analyzer, codec: codec.rawValue, tau: tau, qpRange: try parsedRange())
            let builder = JNDDatasetBuilder(oracle: oracle, upsample: upsample, every: every, threads: threads)
            var list: [String]? = nil
            if let images {
                list = try JNDDatasetBuilder.imageFiles(under: images)
                if let limit { list = Array(list!.prefix(limit)) }
            }
            let bar = Progress("jnd-dataset")
            let summary = try builder.run(
                images: list, video: video, out: out,
                progress: { bar.update(done: $0, total: $1 > 0 ? $1 : nil) },
                isCancelled: { Interrupt.requested })
            bar.finish()
            print(
                String(
                    format: "%d faces, mean JND QP %.1f (tau %.3f, %@) in %@", summary.faces, summary.jndMean, summary.tau,
                    summary.codec, out))
        }
    }
}
