import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import Studies

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per QP: bitrate and face fidelity of a uniform encode and of facejnd with that background QP.",
        discussion: """
            One row per QP and encoder: mode (uniform or facejnd), qp, bytes, kbps, faces, within_tau (fraction of \
            faces within the threshold), mean_distance, max_distance. facejnd rows use the QP as background QP \
            and include the verification passes. For benchmark scripts.
            """)

    @Argument(help: "Input video.")
    var input: String

    @Option(help: "QPs as A:B:STEP.")
    var qp: String = "20:44:4"

    @Flag(help: "CSV on stdout (the default).")
    var csv = false

    @Flag(help: "JSON lines on stdout instead of CSV.")
    var json = false

    @Flag(help: "Only the uniform encodes.")
    var uniformOnly = false

    @OptionGroup var encodeOptions: EncodeOptionsGroup

    func validate() throws {
        _ = try QPSteps(qp)
        if csv && json { throw ValidationError("give at most one of --csv and --json") }
    }

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: encodeOptions.modelOptions.directory)
            let job = EncodeJob(analyzer: analyzer, options: try encodeOptions.options())
            let bar = StagedProgress()
            let timeline = try job.analyse(input, progress: bar.update, isCancelled: { Interrupt.requested })
            let comparison = Comparison(job: job, timeline: timeline)
            // Unbuffered rows: a benchmark script reading the pipe sees each one as soon as it is measured.
            func line(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
            if !json { line("mode,qp,bytes,kbps,faces,within_tau,mean_distance,max_distance") }
            func emit(_ mode: String, _ q: Int, _ p: RatePoint) throws {
                Progress.clearLine()
                if json {
                    struct Row: Encodable { var mode: String; var qp: Int; var point: RatePoint }
                    line(try JSONOutput.string(Row(mode: mode, qp: q, point: p)))
                } else {
                    let f = p.fidelity
                    line(
                        String(
                            format: "%@,%d,%d,%.2f,%d,%.4f,%.5f,%.5f", mode, q, p.bytes, p.bitrateKbps, f.faces, f.fractionWithinTau,
                            f.meanDistance, f.maxDistance))
                }
            }
            let qps = try QPSteps(qp).values
            for (k, q) in qps.enumerated() {
                bar.update(.reference, k, qps.count)
                try emit("uniform", q, try comparison.uniform(input, qp: q, isCancelled: { Interrupt.requested }))
                if !uniformOnly {
                    try emit("facejnd", q, try comparison.facejnd(input, backgroundQP: q, isCancelled: { Interrupt.requested }).0)
                }
            }
            bar.finish()
        }
    }
}
