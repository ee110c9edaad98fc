import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Studies

extension JND {
    struct Calibrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Calibrate tau on verification pairs: accuracy when every face is encoded at its own JND QP.",
            discussion: """
                For every image of the pairs (the face nearest the centre) the face is encoded at every QP 0-51 once; \
                the curves go to --cache (JSON lines, so an interrupted run resumes). Then for each candidate tau each \
                image is replaced by its face encoded at its JND QP and verification accuracy is measured. The \
                calibrated tau is the largest whose accuracy stays within 0.1 percentage points of the uncompressed one.
                """)

        @Option(help: "Pairs file (LFW format).")
        var pairs: String

        @Option(help: "Directory of per-person image folders.")
        var images: String

        @Option(help: "Cache of per-image descriptor curves (JSON lines); reused and extended.")
        var cache: String

        @Option(help: "Candidate taus, comma-separated.")
        var taus: String = "0.02,0.04,0.06,0.08,0.1,0.12,0.15,0.2,0.25,0.3"

        @Option(help: "Use only the first N pairs of the file.")
        var limitPairs: Int?

        @Option(help: "libx264 or libx265.")
        var codec: PlannedCodec = .libx264

        @Option(help: "crop or context.")
        var mode: JNDMode = .crop

        @Option(help: "Worker threads.")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        @Flag(help: "Print the report as JSON.")
        var json = false

        @OptionGroup var modelOptions: ModelOptions

        func run() throws {
            try runReportingErrors {
                let list = try taus.split(separator: ",").map { t -> Double in
                    guard let v = Double(t.trimmingCharacters(in: .whitespaces)), v > 0 else {
                        throw ValidationError("--taus takes positive numbers, got '\(t)'")
                    }
                    return v
                }
                var all = try Verification.parsePairs(path: pairs, imageDirectory: images)
                if let limitPairs { all = Array(all.prefix(limitPairs)) }
                let analyzer = try FaceAnalyzer(models: modelOptions.directory)
                let job = TauCalibration(oracle: JNDOracle(analyzer: analyzer, codec: codec.rawValue, mode: mode), threads: threads)
                let bar = Progress("calibrate")
                let report = try job.run(pairs: all, taus: list, cache: cache, progress: { bar.update(done: $0, total: $1) })
                bar.finish()
                if json {
                    print(try JSONOutput.string(report, pretty: true))
                } else {
                    print(String(format: "uncompressed accuracy %.4f over %d pairs", report.uncompressedAccuracy, report.pairs))
                    for r in report.rows {
                        print(
                            String(
                                format: "tau %.3f  accuracy %.4f  mean JND QP %.1f  mean bytes %.0f", r.tau, r.accuracy,
                                r.meanJNDQP, r.meanBytes))
                    }
                    print("calibrated tau: \(report.calibratedTau.map { String($0) } ?? "none within tolerance")")
                }
            }
        }
    }
}
