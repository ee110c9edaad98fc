import ArgumentParser
import CompressionPipeline
import Foundation
import RateControl

struct Transcode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-encode the video stream with one QP, one CRF or a per-frame/per-region QP plan; copy all other streams.",
        discussion: """
            Without --qp, --crf or --qp-plan the video is encoded at --crf 23. --qp N puts every frame and block at \
            exactly QP N (x264/x265: 0-51; libvpx-vp9 and libsvtav1 use their own 0-63 quantiser). A QP plan \
            (JSON, see README) needs libx264 or libx265. The output is written to a temporary file and renamed \
            when complete.
            """)

    @Argument(help: "Input media file.")
    var input: String

    @Option(name: .shortAndLong, help: "Output file (.mp4, .mkv or .mov).")
    var output: String

    @Option(help: "Encoder: libx264, libx265, libvpx-vp9 or libsvtav1.")
    var codec: String = "libx264"

    @Option(help: "Encoder preset (x264/x265 names, libsvtav1 0-13).")
    var preset: String = "medium"

    @Option(help: "Constant QP for every frame and block.")
    var qp: Int?

    @Option(help: "Constant rate factor.")
    var crf: Double?

    @Option(name: .customLong("qp-plan"), help: "JSON QP plan: per-frame QP and rectangles with their own QP.")
    var qpPlan: String?

    @Flag(help: "Print a JSON summary with per-frame bytes and encoder QP on stdout.")
    var json = false

    func validate() throws {
        let given = [qp != nil, crf != nil, qpPlan != nil].filter { $0 }.count
        if given > 1 { throw ValidationError("give only one of --qp, --crf and --qp-plan") }
    }

    func run() throws {
        try runReportingErrors {
            let quality: TranscodeJob.Quality
            if let qp {
                quality = .qp(qp)
            } else if let crf {
                quality = .crf(crf)
            } else if let qpPlan {
                quality = .plan(try QPPlan.load(path: qpPlan))
            } else {
                quality = .crf(23)
            }
            let job = TranscodeJob(input: input, output: output, codec: codec, preset: preset, quality: quality)
            let bar = Progress("transcode")
            let summary = try job.run(
                progress: { bar.update(done: $0.framesDone, total: $0.framesExpected) },
                isCancelled: { Interrupt.requested })
            bar.finish()
            if json {
                print(try JSONOutput.string(summary))
            } else {
                print(
                    String(
                        format: "%@: %d frames, %d bytes, %.1f kbit/s (%@)", output, summary.frameCount,
                        summary.outputBytes, summary.bitrateKbps, codec))
            }
        }
    }
}
