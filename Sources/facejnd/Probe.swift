import ArgumentParser
import CompressionPipeline
import Foundation
import MediaIO
import TensorCore

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a video stream and read back every frame's type, size and QP.",
        discussion: """
            QP comes from the bitstream (FFmpeg's venc_params export): h264 gives per-macroblock QP, vp9 gives \
            q-indices (0-255); hevc and av1 give none (null).
            """)

    @Argument(help: "Media file.")
    var file: String

    @Option(name: .customLong("rect"), help: "Also report the mean QP inside x,y,width,height (repeatable).")
    var rects: [String] = []

    @Flag(help: "Print one JSON document (the only output format).")
    var json = false

    func run() throws {
        try runReportingErrors {
            let regions = try rects.map(Probe.parseRect)
            let report = try ProbeReport.make(path: file, regions: regions, isCancelled: { Interrupt.requested })
            print(try JSONOutput.string(report, pretty: !json))
        }
    }

    static func parseRect(_ s: String) throws -> PixelRect {
        let v = s.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard v.count == 4, v[2] > 0, v[3] > 0 else {
            throw ValidationError("--rect takes x,y,width,height with positive width and height, got '\(s)'")
        }
        return PixelRect(x: v[0], y: v[1], width: v[2], height: v[3])
    }
}
