import CompressionPipeline
import FaceAnalysis
import Foundation
import NeuralNet
import Synchronization
import TensorCore

/// The fast detector's precision, taken apart: at which score threshold it meets a target, and how many of the
/// detections MMOD misses at the frame's scale are faces MMOD finds at the face's own scale.
///
/// Precision against MMOD at upsample 2 counts every face MMOD misses as a false detection, and MMOD misses faces
/// under about 20 px (below its 80-px window even at upsample 2). The second opinion scales the picture around each
/// unmatched detection so that the detection is `confirmSide` pixels wide and runs MMOD there; a face MMOD finds
/// at that scale, where the detection is, is a face. Turned and profile faces, which MMOD's frontal window does not
/// score at any scale, stay unconfirmed, so the confirmed precision is still a lower bound.
extension DetectorStudy {
    /// Precision and recall of the fast detector at one score threshold.
    public struct ThresholdRow: Sendable, Codable {
        public var threshold: Float
        /// Reference faces found, by MMOD box width (the bands of the main rows).
        public var recall: [String: Double]
        public var detections: Int
        /// Detections matching a reference face.
        public var precision: Double
        /// Detections matching a reference face or confirmed by MMOD at the face's own scale.
        public var confirmedPrecision: Double

        enum CodingKeys: String, CodingKey {
            case threshold, recall, detections, precision
            case confirmedPrecision = "confirmed_precision"
        }
    }

    /// The thresholds the study reports; the fast detector runs once at the lowest and is filtered for the rest
    /// (its non-maximum suppression goes best-first, so the filtered list is what the higher threshold finds).
    public static let sweep: [Float] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    /// Width, in pixels, a detection is scaled to for the second opinion: comfortably inside MMOD's window.
    public static let confirmSide = 100.0

    /// Whether MMOD (upsample 0) finds a face overlapping `box` (IoU ≥ 0.3) when the picture around it — three
    /// times its size, clipped to the picture — is scaled so that the box is `confirmSide` pixels wide.
    public static func confirmsFace(_ box: FaceBox, in image: RGBImage, analyzer: FaceAnalyzer, workspace: Workspace) throws -> Bool {
        let side = Double(max(box.width, box.height)), c = box.center
        let region = FaceBox(
            left: max(0, Int(c.x - 1.5 * side)), top: max(0, Int(c.y - 1.5 * side)),
            right: min(image.width - 1, Int(c.x + 1.5 * side)), bottom: min(image.height - 1, Int(c.y + 1.5 * side)))
        guard region.width > 1, region.height > 1 else { return false }
        let scale = confirmSide / side
        let scaled = Resampler.resize(
            image.cropped(to: region), width: max(1, Int((Double(region.width) * scale).rounded())),
            height: max(1, Int((Double(region.height) * scale).rounded())))
        func mapped(_ v: Int, _ origin: Int) -> Int { Int((Double(v - origin) * scale).rounded()) }
        let target = FaceBox(
            left: mapped(box.left, region.left), top: mapped(box.top, region.top),
            right: mapped(box.right + 1, region.left) - 1, bottom: mapped(box.bottom + 1, region.top) - 1)
        return try analyzer.detector.detect(scaled, upsample: 0, workspace: workspace).contains { $0.box.iou(target) >= 0.3 }
    }

    /// A detection at the study's threshold that neither matches a reference face nor is confirmed at its own
    /// scale: what precision counts against the detector, listed so that a person can look at them.
    public struct Unconfirmed: Sendable, Codable {
        public var picture: String
        public var box: FaceBox
        public var score: Float
    }

    /// The sweep rows for `detections` (per picture, the fast detector at the lowest threshold, mapped boxes with
    /// scores) against `reference` (per picture, MMOD at upsample 2), and the unconfirmed detections at `threshold`.
    func thresholdSweep(
        _ pictures: [Picture], reference: [[FaceBox]], detections: [[(box: FaceBox, score: Float)]]
    ) throws -> (rows: [ThresholdRow], unconfirmed: [Unconfirmed]) {
        // One picture at one threshold: the detections kept, those matching a reference face, and which reference
        // faces were found.
        struct Matching {
            var kept: [Int]
            var hits: Set<Int>
            var found: [Bool]
        }
        // Matches at every threshold first; detections unmatched at any of them get the second opinion once.
        var matched: [[Matching]] = []  // [threshold][picture]
        var unmatched = Set<[Int]>()
        for t in DetectorStudy.sweep + [threshold] {
            var perPicture: [Matching] = []
            for (i, found) in detections.enumerated() {
                let kept = found.indices.filter { found[$0].score >= t }
                let m = DetectorStudy.match(reference[i], kept.map { found[$0].box }, minIoU: matchIoU)
                let hits = Set(m.compactMap { $0 }.map { kept[$0] })
                perPicture.append(Matching(kept: kept, hits: hits, found: m.map { $0 != nil }))
                for j in kept where !hits.contains(j) { unmatched.insert([i, j]) }
            }
            matched.append(perPicture)
        }
        let candidates = unmatched.sorted { ($0[0], $0[1]) < ($1[0], $1[1]) }
        let confirmed = Mutex<Set<[Int]>>([])
        let analyzer = self.analyzer
        try ParallelWork.forEach(count: candidates.count, threads: threads) { n, ws in
            let (i, j) = (candidates[n][0], candidates[n][1])
            if try DetectorStudy.confirmsFace(detections[i][j].box, in: pictures[i].image, analyzer: analyzer, workspace: ws) {
                _ = confirmed.withLock { $0.insert([i, j]) }
            }
        }
        let yes = confirmed.withLock { $0 }
        let atThreshold = matched[DetectorStudy.sweep.count]
        var unconfirmed: [Unconfirmed] = []
        for (i, found) in detections.enumerated() {
            for j in atThreshold[i].kept where !atThreshold[i].hits.contains(j) && !yes.contains([i, j]) {
                unconfirmed.append(Unconfirmed(picture: pictures[i].name, box: found[j].box, score: found[j].score))
            }
        }
        let rows = DetectorStudy.sweep.enumerated().map { k, t in
            var total = 0, hit = 0, good = 0
            var hits: [String: Int] = [:], faces: [String: Int] = [:]
            for (i, m) in matched[k].enumerated() {
                total += m.kept.count
                hit += m.hits.count
                good += m.hits.count + m.kept.filter { !m.hits.contains($0) && yes.contains([i, $0]) }.count
                for (r, b) in reference[i].enumerated() {
                    faces[DetectorStudy.band(b), default: 0] += 1
                    if m.found[r] { hits[DetectorStudy.band(b), default: 0] += 1 }
                }
            }
            var recall: [String: Double] = [:]
            for b in DetectorStudy.bands where faces[b, default: 0] > 0 { recall[b] = Double(hits[b, default: 0]) / Double(faces[b]!) }
            return ThresholdRow(
                threshold: t, recall: recall, detections: total, precision: total > 0 ? Double(hit) / Double(total) : 1,
                confirmedPrecision: total > 0 ? Double(good) / Double(total) : 1)
        }
        return (rows, unconfirmed)
    }
}
