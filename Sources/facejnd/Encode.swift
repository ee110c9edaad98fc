import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation

struct Encode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-encode a video so that every face stays recognisable at the fewest bits.",
        discussion: """
            Decodes the input, follows every face (the detector every --detect-every frames, landmark tracking in \
            between), measures each face's JND QP and encodes the video in closed chunks (--chunk-seconds, 2 s by \
            default): the background at --background-qp, each face's region at its JND QP minus --margin. Each chunk \
            is decoded as soon as it is encoded and every face re-embedded (at its original landmarks; with --verify \
            both also at landmarks fitted again); a chunk with a face past the threshold is re-encoded alone, \
            lowering only its failing segments (--segment-frames), until all pass or --floor-qp is reached, and each \
            face starts the next chunk lowered by what it needed. With --chunk-seconds 0 the whole file is encoded, \
            verified and repaired per pass instead, GOP by GOP. Faces that could not be fixed are named in the \
            report. The output is written to a temporary file and renamed when complete. \
            Report schema: docs/encode-report.md.
            """)

    @Argument(help: "Input video.")
    var input: String

    @Option(name: .shortAndLong, help: "Output file (.mp4, .mkv or .mov).")
    var output: String

    @Option(help: "Write the JSON report here.")
    var report: String?

    @Option(help: "Write a self-contained HTML report with plots here.")
    var html: String?

    @Flag(help: "Print the JSON report on stdout.")
    var json = false

    @OptionGroup var encodeOptions: EncodeOptionsGroup

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: encodeOptions.modelOptions.directory)
            let job = EncodeJob(analyzer: analyzer, options: try encodeOptions.options())
            let bar = StagedProgress()
            let r = try job.run(input, output: output, progress: bar.update, isCancelled: { Interrupt.requested })
            bar.finish()
            if let report { try AtomicFile.write(Data((try JSONOutput.string(r, pretty: true) + "\n").utf8), to: report) }
            if let html { try AtomicFile.write(Data(HTMLReport.render(encode: r).utf8), to: html) }
            if json {
                print(try JSONOutput.string(r))
            } else {
                let f = r.fidelity
                print(
                    String(
                        format: "%@: %d frames, %d bytes, %.1f kbit/s; %d/%d faces within tau %.3f (max %.3f), %d pass(es)%@",
                        output, r.frameCount, r.outputBytes, r.bitrateKbps, f.withinTau, f.faces, r.settings.tau, f.maxDistance,
                        r.passes.count, r.unfixed.isEmpty ? "" : "; \(r.unfixed.count) face(s) could not be fixed"))
            }
        }
    }
}
