import ArgumentParser
import CompressionPipeline
import Foundation
import Perception
import Studies

extension JND {
    struct FitHead: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fit-head",
            abstract: "Fit the segment JND head on in-video oracle reports (facejnd jnd measure --segments --json).",
            discussion: """
                The head maps the predictor's crop JND and the face's width to the in-video JND of its track segment: \
                least squares on every segment of the reports that has a predicted crop JND and a JND inside the \
                searched range, minus the residuals' --quantile. Deterministic. Prints, for each report, how a head \
                fitted on the other reports does on it (leave one clip out), then writes the head fitted on all of \
                them atomically. docs/video-jnd.md ("The video JND dataset and the segment head") has the dataset and \
                the measurements; no head is shipped.
                """)

        @Argument(help: "Segment JND reports (JSON), one per clip.")
        var reports: [String]

        @Option(name: [.short, .customLong("out")], help: "Head file to write (.fjvh).")
        var out: String

        @Option(help: "Residual quantile subtracted from the fit (0.5: the median in-video JND).")
        var quantile: Double = 0.5

        @Option(help: "The predictor the reports' crop JNDs came from (recorded in the head).")
        var predictor = "jnd-libx264-v1"

        @Option(help: "The head's name in encode reports (settings.segment_head).")
        var name = "custom"

        @Flag(help: "Print the evaluation as JSON.") var json = false

        func validate() throws {
            guard reports.count >= 2 else { throw ValidationError("give at least two reports (one is held out at a time)") }
            guard quantile > 0 && quantile < 1 else { throw ValidationError("--quantile must be in (0, 1)") }
        }

        func run() throws {
            try runReportingErrors {
                let loaded = try reports.map { try SegmentHeadFit.load(path: $0) }
                guard Set(loaded.map(\.codec)).count == 1, Set(loaded.map(\.tau)).count == 1 else {
                    throw ValidationError("the reports mix codecs or thresholds; fit one head per codec and tau")
                }
                let held = try SegmentHeadFit.leaveOneOut(loaded, quantile: quantile)
                let all = loaded.flatMap(SegmentHeadFit.samples)
                let training = [
                    "reports": loaded.map { ($0.input as NSString).lastPathComponent }.joined(separator: ", "),
                    "segments": "\(all.count)", "segment_frames": loaded.map { $0.segmentFrames.map(String.init) ?? "gop" }.joined(separator: ", "),
                ]
                var head = try SegmentJNDHead.fit(
                    all, quantile: quantile, codec: loaded[0].codec, tau: loaded[0].tau, predictor: predictor, training: training)
                head.header.version = name
                try head.write(to: out)
                if json {
                    struct Output: Encodable {
                        var weights: [Double], shift: Double, segments: Int, held: [SegmentHeadFit.Held]
                    }
                    return print(try JSONOutput.string(Output(weights: head.weights, shift: head.header.shift, segments: all.count, held: held)))
                }
                print(
                    String(
                        format: "head: in-video QP = %.3f + %.3f x crop QP + %.3f x log2 width - %.2f (%d segments)", head.weights[0],
                        head.weights[1], head.weights[2], head.header.shift, all.count))
                print("held-out clip                                   segments  head err  crop err  head rms  shifted-crop rms  at/under")
                for h in held {
                    let name = (h.input as NSString).lastPathComponent.padding(toLength: 46, withPad: " ", startingAt: 0)
                    print(
                        name
                            + String(
                                format: " %9d  %8.2f  %8.2f  %8.2f  %16.2f  %7.1f%%", h.segments, h.meanError, h.cropMeanError, h.rmsError,
                                h.shiftedCropRMSError, 100 * h.shareAtOrUnder))
                }
            }
        }
    }
}
