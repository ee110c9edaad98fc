import ArgumentParser
import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Studies
import TensorCore

struct DetectorStudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detector-study",
        abstract: "Measure the fast detector and MMOD (upsample 0, 1) against MMOD at upsample 2.",
        discussion: """
            Pictures: every IMAGE, every --every-th frame of every --video, and the first --lfw-count images listed \
            in --lfw's index.csv (LFW's layout: path,identity,sha256). Prints recall by face size (MMOD box width), \
            precision and time per picture for each detector, the box map fitted from fast boxes to MMOD's, and the \
            descriptor distance between chips from mapped fast boxes and from MMOD boxes on the LFW faces \
            (docs/detector.md).
            """)

    @Argument(help: "Still images (PNG, JPEG).")
    var images: [String] = []

    @Option(help: "A video whose frames are added (repeatable).")
    var video: [String] = []

    @Option(help: "Take every N-th frame of each video.")
    var every: Int = 10

    @Option(help: "An LFW directory with index.csv.")
    var lfw: String?

    @Option(help: "How many LFW images to take (the first of index.csv).")
    var lfwCount: Int = 500

    @Option(help: "Fast detector: smallest face to find, in pixels.")
    var minFace: Double = 20

    @Option(help: "Worker threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Option(
        help: """
            Write each detection that precision counts as false (neither matching MMOD at upsample 2 nor confirmed at \
            the face's own scale) as a PNG of the picture around it into this directory, to look at.
            """)
    var unconfirmedCrops: String?

    @OptionGroup var modelOptions: ModelOptions

    func validate() throws {
        guard every >= 1, lfwCount >= 0, threads >= 1 else { throw ValidationError("--every, --threads ≥ 1 and --lfw-count ≥ 0") }
        guard minFace >= 8 else { throw ValidationError("--min-face must be at least 8") }
    }

    func run() throws {
        try runReportingErrors {
            var pictures: [DetectorStudy.Picture] = []
            for path in images { pictures.append(.init(name: path, image: try ImageFile.loadRGB(path: path), isPortrait: false)) }
            for path in video {
                let source = try PictureSource(path: path)
                try source.forEachFrame(isCancelled: { Interrupt.requested }) { index, frame in
                    if index % every == 0 {
                        pictures.append(.init(name: "\(path)#\(index)", image: try source.picture(frame), isPortrait: false))
                    }
                    return true
                }
            }
            if let lfw {
                let index = try String(contentsOfFile: lfw + "/index.csv", encoding: .utf8)
                for line in index.split(separator: "\n").dropFirst().prefix(lfwCount) {
                    let path = lfw + "/" + String(line.split(separator: ",")[0])
                    pictures.append(.init(name: path, image: try ImageFile.loadRGB(path: path), isPortrait: true))
                }
            }
            guard !pictures.isEmpty else { throw ValidationError("no pictures: give images, --video or --lfw") }
            let analyzer = try FaceAnalyzer(models: modelOptions.directory)
            let bar = Progress("detector-study")
            let result = try DetectorStudy(analyzer: analyzer, minFace: minFace, threads: threads).run(pictures) { done, total in
                bar.update(done: done, total: total)
            }
            bar.finish()
            if let dir = unconfirmedCrops { try writeCrops(result.unconfirmed, pictures: pictures, to: dir) }
            if json {
                print(try JSONOutput.string(result, pretty: true))
                return
            }
            print("\(result.pictures) pictures; reference: MMOD at upsample 2")
            for r in result.rows {
                let recall = DetectorStudy.bands.map { b in
                    String(format: "%@ %.3f (%d)", b, r.recall[b] ?? .nan, r.referenceFaces[b] ?? 0)
                }
                print(
                    String(
                        format: "%@: recall %@; precision %.3f of %d; %.1f ms/picture", r.detector, recall.joined(separator: ", "),
                        r.precision, r.detections, r.milliseconds))
            }
            print("fast detector by score threshold (confirmed: also faces MMOD finds scaled to the face's own size):")
            for t in result.thresholds {
                let recall = DetectorStudy.bands.map { b in String(format: "%@ %.3f", b, t.recall[b] ?? .nan) }
                print(
                    String(
                        format: "  %.1f: recall %@; precision %.3f, confirmed %.3f, of %d", t.threshold,
                        recall.joined(separator: ", "), t.precision, t.confirmedPrecision, t.detections))
            }
            let m = result.boxMap
            print(String(format: "box map (%d pairs): dx %.4f, dy %.4f, scale %.4f", result.pairsFitted, m.dx, m.dy, m.scale))
            print(
                String(
                    format: "descriptor distance, mapped fast box vs MMOD box (%d LFW faces): median %.4f, p90 %.4f, max %.4f",
                    result.descriptorFaces, result.descriptorMedian, result.descriptorP90, result.descriptorMax))
            print(String(format: "after re-seeding the landmarks: median %.4f, p90 %.4f", result.reseededMedian, result.reseededP90))
        }
    }

    /// Each unconfirmed detection with as much picture again around it, named by rank of score.
    private func writeCrops(_ found: [DetectorStudy.Unconfirmed], pictures: [DetectorStudy.Picture], to dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let byName = Dictionary(pictures.map { ($0.name, $0.image) }, uniquingKeysWith: { a, _ in a })
        for (n, d) in found.sorted(by: { $0.score > $1.score }).enumerated() {
            guard let image = byName[d.picture] else { continue }
            let side = max(d.box.width, d.box.height)
            let region = FaceBox(
                left: max(0, d.box.left - side / 2), top: max(0, d.box.top - side / 2),
                right: min(image.width - 1, d.box.right + side / 2), bottom: min(image.height - 1, d.box.bottom + side / 2))
            guard region.width > 1, region.height > 1 else { continue }
            let png = try ImageFile.pngData(image.cropped(to: region))
            try png.write(to: URL(fileURLWithPath: dir).appendingPathComponent(String(format: "%04d-score%.2f.png", n, d.score)))
        }
    }
}
