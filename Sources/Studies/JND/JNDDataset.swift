import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Synchronization
import TensorCore

/// One face of a JND dataset (a line of `index.jsonl`).
public struct JNDDatasetEntry: Sendable, Codable, Equatable {
    public struct CurvePoint: Sendable, Codable, Equatable {
        public var qp: Int
        public var d: Double
        public var bytes: Int
    }
    public var id: String
    public var source: String
    public var frame: Int
    public var face: Int
    public var box: [Int]
    /// The encoded crop in source-image pixels: left, top, right, bottom (inclusive).
    public var crop: [Int]
    public var codec: String
    public var tau: Double
    public var jndQP: Int
    public var curve: [CurvePoint]
    /// Face box width in pixels and Laplacian variance of the crop's grey (sharpness).
    public var faceWidth: Int
    public var sharpness: Double
    /// Files relative to the dataset directory.
    public var original: String
    public var jndImage: String
    public var residual: String

    /// The face box in the stored crop's coordinates.
    public var boxInCrop: FaceBox {
        FaceBox(left: box[0] - crop[0], top: box[1] - crop[1], right: box[2] - crop[0], bottom: box[3] - crop[1])
    }

    enum CodingKeys: String, CodingKey {
        case id, source, frame, face, box, crop, codec, tau, curve, original, residual, sharpness
        case jndQP = "jnd_qp"
        case faceWidth = "face_width"
        case jndImage = "jnd_image"
    }
}

/// Summary of a dataset (`summary.json`).
public struct JNDDatasetSummary: Sendable, Encodable {
    public var faces: Int
    public var codec: String
    public var tau: Double
    /// JND QP → number of faces.
    public var jndHistogram: [String: Int]
    public var jndMean: Double
    /// Per QP: 10th, 50th and 90th percentile of d(q) over the faces measured at that QP.
    public var distancePercentiles: [String: [Double]]

    enum CodingKeys: String, CodingKey {
        case faces, codec, tau
        case jndHistogram = "jnd_histogram"
        case jndMean = "jnd_mean"
        case distancePercentiles = "d_percentiles_10_50_90"
    }
}

/// Builds a JND dataset following the seed paper's recipe with our codecs: for every face, the original crop, d(q)
/// for each QP measured, the JND QP, the JND image (the decoded crop at the JND QP) and the residual map
/// (original − JND image, signed, stored losslessly as a 48-bit PNG with value + 256 per channel).
///
/// Resumable (faces already in `index.jsonl` are skipped), deterministic (the same inputs give the same entries).
public struct JNDDatasetBuilder: Sendable {
    public var oracle: JNDOracle
    public var upsample: Int
    public var every: Int
    public var threads: Int

    public init(oracle: JNDOracle, upsample: Int = 1, every: Int = 1, threads: Int = 2) {
        self.oracle = oracle
        self.upsample = upsample
        self.every = max(1, every)
        self.threads = max(1, threads)
    }

    /// Image files under `directory` (recursively; .jpg, .jpeg, .png), sorted.
    public static func imageFiles(under directory: String) throws -> [String] {
        guard let e = FileManager.default.enumerator(atPath: directory) else {
            throw StudyError.missing(path: directory)
        }
        var out: [String] = []
        while let f = e.nextObject() as? String {
            let ext = (f as NSString).pathExtension.lowercased()
            if ["jpg", "jpeg", "png"].contains(ext) { out.append((directory as NSString).appendingPathComponent(f)) }
        }
        return out.sorted()
    }

    /// The residual's storage: `original − jnd + 256` per channel in 16 bits.
    public static func residualSamples(original: RGBImage, jnd: RGBImage) -> [UInt16] {
        zip(original.pixels, jnd.pixels).map { UInt16(Int($0) - Int($1) + 256) }
    }

    /// Reconstructs the original from the JND image and the stored residual.
    public static func reconstruct(jnd: RGBImage, residual: [UInt16]) -> RGBImage {
        RGBImage(
            width: jnd.width, height: jnd.height,
            pixels: zip(jnd.pixels, residual).map { UInt8(clamping: Int($0) + Int($1) - 256) })
    }

    /// Builds (or extends) the dataset in `out` from pictures: image files, or the frames of one video.
    public func run(
        images: [String]? = nil, video: String? = nil, out: String,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }, isCancelled: @Sendable () -> Bool = { false }
    ) throws -> JNDDatasetSummary {
        let facesPath = (out as NSString).appendingPathComponent("faces")
        let indexPath = (out as NSString).appendingPathComponent("index.jsonl")
        let fresh = !FileManager.default.fileExists(atPath: indexPath)
        try FileManager.default.createDirectory(atPath: facesPath, withIntermediateDirectories: true)
        // A new dataset whose first run fails leaves the directory as it found it; a resumed one keeps its faces.
        var succeeded = false
        defer {
            if fresh && !succeeded && (try? JSONLinesFile<JNDDatasetEntry>(path: indexPath).existing.isEmpty) ?? true {
                try? FileManager.default.removeItem(atPath: facesPath)
                try? FileManager.default.removeItem(atPath: indexPath)
            }
        }
        let index = try JSONLinesFile<JNDDatasetEntry>(path: indexPath)
        let existing = Dictionary(index.existing.map { ($0.id, $0) }, uniquingKeysWith: { _, b in b })
        let entries = Mutex<[String: JNDDatasetEntry]>(existing)
        let me = self
        if let images {
            try ParallelWork.forEach(count: images.count, threads: threads, progress: progress) { i, ws in
                if isCancelled() { throw CancellationError() }
                let image = try ImageFile.loadRGB(path: images[i])
                try me.process(image: image, source: images[i], frame: 0, out: out, known: entries, index: index, workspace: ws)
            }
        }
        if let video {
            if threads > 1 { BLAS.setThreads(1) }
            let scan = FaceScan(analyzer: oracle.analyzer, detection: .mmod(upsample: upsample), every: every)
            let ws = Workspace()
            var n = 0
            try scan.runImages(path: video, isCancelled: isCancelled) { frame, image, _ in
                try me.process(image: image, source: video, frame: frame, out: out, known: entries, index: index, workspace: ws)
                n += 1
                progress(n, 0)
            }
        }
        let summary = JNDDatasetBuilder.summary(Array(entries.withLock { $0 }.values), codec: oracle.codec, tau: oracle.tau)
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try e.encode(summary), to: (out as NSString).appendingPathComponent("summary.json"))
        succeeded = true
        return summary
    }

    private func process(
        image: RGBImage, source: String, frame: Int, out: String, known: borrowing Mutex<[String: JNDDatasetEntry]>,
        index: JSONLinesFile<JNDDatasetEntry>, workspace: Workspace
    ) throws {
        let faces = try oracle.analyzer.analyze(image, upsample: upsample, workspace: workspace)
        for (k, face) in faces.enumerated() {
            let id = JNDDatasetBuilder.identifier(source: source, frame: frame, face: k)
            if known.withLock({ $0[id] != nil }) { continue }
            let s = try oracle.session(image, face: face)
            var curve: [JNDDatasetEntry.CurvePoint] = []
            let jnd = try JNDSearch.firstCrossing(range: oracle.qpRange, step: oracle.exhaustive ? 1 : oracle.coarseStep, tau: oracle.tau) { q in
                if let p = curve.first(where: { $0.qp == q }) { return p.d }
                let (e, n) = try s.encode(at: q)
                let d = Double(descriptorDistance(s.e0, e))
                curve.append(.init(qp: q, d: d, bytes: n))
                return d
            }
            let used = max(jnd, oracle.qpRange.lowerBound)
            let jndPicture = try s.encodePicture(at: used).decoded
            let dir = "faces/\(id)"
            let faceDir = (out as NSString).appendingPathComponent(dir)
            try FileManager.default.createDirectory(atPath: faceDir, withIntermediateDirectories: true)
            do {
                try ImageFile.writePNG(s.original, to: (out as NSString).appendingPathComponent("\(dir)/original.png"))
                try ImageFile.writePNG(jndPicture, to: (out as NSString).appendingPathComponent("\(dir)/jnd.png"))
                try ImageFile.writePNG16(
                    width: jndPicture.width, height: jndPicture.height,
                    samples: JNDDatasetBuilder.residualSamples(original: s.original, jnd: jndPicture),
                    to: (out as NSString).appendingPathComponent("\(dir)/residual.png"))
            } catch {
                // A face is in the dataset whole or not at all: its index line is written after its pictures.
                try? FileManager.default.removeItem(atPath: faceDir)
                throw error
            }
            let r = s.pictureRegion
            let entry = JNDDatasetEntry(
                id: id, source: source, frame: frame, face: k, box: [face.box.left, face.box.top, face.box.right, face.box.bottom],
                crop: [r.left, r.top, r.right, r.bottom], codec: oracle.codec, tau: oracle.tau, jndQP: jnd,
                curve: curve.sorted { $0.qp < $1.qp }, faceWidth: face.box.width, sharpness: JNDDatasetBuilder.sharpness(s.original),
                original: "\(dir)/original.png", jndImage: "\(dir)/jnd.png", residual: "\(dir)/residual.png")
            try known.withLock {
                try index.append(entry)  // under the lock: lines never interleave
                $0[id] = entry
            }
        }
    }

    /// A file-system-safe, stable face identifier.
    static func identifier(source: String, frame: Int, face: Int) -> String {
        let base = (source as NSString).lastPathComponent
        let safe = String(base.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" })
        // A short hash of the full path keeps identically named files in different folders apart.
        var h: UInt64 = 1469598103934665603
        for b in source.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        return "\(safe)_\(String(h % 0xFFFFFF, radix: 16))_f\(frame)_\(face)"
    }

    /// The crop's sharpness (`JNDInput.sharpness`: variance of the grey image's 4-neighbour Laplacian).
    public static func sharpness(_ img: RGBImage) -> Double { JNDInput.sharpness(img) }

    public static func summary(_ entries: [JNDDatasetEntry], codec: String, tau: Double) -> JNDDatasetSummary {
        var hist: [String: Int] = [:]
        var byQP: [Int: [Double]] = [:]
        for e in entries {
            hist[String(e.jndQP), default: 0] += 1
            for p in e.curve { byQP[p.qp, default: []].append(p.d) }
        }
        func pct(_ v: [Double], _ p: Double) -> Double {
            let s = v.sorted()
            return s[min(s.count - 1, Int(p * Double(s.count - 1)))]
        }
        var perc: [String: [Double]] = [:]
        for (q, v) in byQP { perc[String(q)] = [pct(v, 0.1), pct(v, 0.5), pct(v, 0.9)] }
        let mean = entries.isEmpty ? 0 : Double(entries.map(\.jndQP).reduce(0, +)) / Double(entries.count)
        return JNDDatasetSummary(
            faces: entries.count, codec: codec, tau: tau, jndHistogram: hist, jndMean: mean,
            distancePercentiles: perc)
    }
}
