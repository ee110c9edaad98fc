import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation

/// Options shared by the commands that find faces in an image or in frames of a video.
/// The encoders facejnd plans face QP for (the ones that honour per-region QP frame-accurately).
enum PlannedCodec: String, ExpressibleByArgument, CaseIterable, Sendable {
    case libx264, libx265
}

struct ScanOptions: ParsableArguments {
    @Option(help: "Face detector: mmod (dlib's, the parity reference) or fast (CenterFace, faces down to --min-face).")
    var detector: DetectorSettings.Kind = .mmod

    @Option(help: "MMOD: enlarge the picture 2x this many times before detecting (finds smaller faces; slower).")
    var upsample: Int = 1

    @Option(help: "Fast detector: smallest face to find, in pixels.")
    var minFace: Double = 20

    @Option(help: "Analyse every N-th frame of a video.")
    var every: Int = 1

    @Flag(help: "JSON lines output (the only format).")
    var json = false

    func validate() throws {
        guard upsample >= 0, upsample <= 4 else { throw ValidationError("--upsample must be between 0 and 4") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1") }
        guard minFace >= 8, minFace <= 1000 else { throw ValidationError("--min-face must be in 8...1000 pixels") }
    }

    var detection: DetectorSettings { DetectorSettings(kind: detector, upsample: upsample, minFace: minFace) }
}

/// Options shared by every command that loads the face models.
struct ModelOptions: ParsableArguments {
    @Option(help: "Directory with dlib's three model files (default: $FACEJND_MODELS or ~/.cache/facejnd/models).")
    var models: String?

    var directory: ModelDirectory { models.map { ModelDirectory(path: $0) } ?? .default }
}

struct Faces: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect faces, their 5 landmarks and 128-D descriptors in an image or video (dlib's models).",
        discussion: """
            Prints one JSON object per line per image or analysed frame: \
            {"source","frame","width","height","detector","faces":[{"box":[left,top,right,bottom],"confidence",\
            "landmarks":[[x,y]x5],"embedding":[128 numbers]}]}. Boxes use dlib's inclusive convention.
            """)

    @Argument(help: "An image (PNG, JPEG, ...) or a video.")
    var input: String

    @OptionGroup var scan: ScanOptions

    @OptionGroup var modelOptions: ModelOptions

    func run() throws {
        try runReportingErrors {
            let analyzer = try FaceAnalyzer(models: modelOptions.directory)
            try FaceScan(analyzer: analyzer, detection: scan.detection, every: scan.every).run(path: input, isCancelled: { Interrupt.requested }) {
                record in
                print(try JSONOutput.string(record))
            }
        }
    }
}
