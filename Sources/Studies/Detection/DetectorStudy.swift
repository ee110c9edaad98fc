import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Synchronization
import TensorCore

/// Measures detectors against MMOD at upsample 2 (the reference): recall by face size, precision, the box map that
/// turns fast-detector boxes into MMOD's convention, and how far descriptors from mapped boxes move.
///
/// A detection matches a reference face when their boxes overlap by IoU ≥ `matchIoU` (fast boxes after mapping);
/// each reference face and each detection is matched at most once, best overlap first.
public struct DetectorStudy {
    public struct Picture: Sendable {
        public var name: String
        public var image: RGBImage
        /// LFW images: one person, the central face; descriptors are compared there.
        public var isPortrait: Bool

        public init(name: String, image: RGBImage, isPortrait: Bool) {
            self.name = name
            self.image = image
            self.isPortrait = isPortrait
        }
    }

    public struct Row: Sendable, Codable {
        public var detector: String
        /// Reference faces by MMOD box width: "≥ 40 px", "24–40 px", "< 24 px".
        public var recall: [String: Double]
        public var referenceFaces: [String: Int]
        public var precision: Double
        public var detections: Int
        public var milliseconds: Double

        enum CodingKeys: String, CodingKey {
            case detector, recall, precision, detections, milliseconds
            case referenceFaces = "reference_faces"
        }
    }

    public struct Result: Sendable, Codable {
        public var pictures: Int
        public var rows: [Row]
        public var boxMap: BoxMap
        public var pairsFitted: Int
        /// Descriptor distance between chips from the mapped fast box and from the MMOD box, LFW faces found by both.
        public var descriptorMedian: Double
        public var descriptorP90: Double
        public var descriptorMax: Double
        public var descriptorFaces: Int
        /// The same after seeding the shape predictor again from its own landmarks (`LandmarkBox`).
        public var landmarkBox: LandmarkBox?
        public var reseededMedian: Double
        public var reseededP90: Double
        /// The fast detector at each threshold of `sweep` (`DetectorPrecision.swift`).
        public var thresholds: [ThresholdRow]
        /// Detections at the study's threshold neither matched nor confirmed (`DetectorPrecision.swift`).
        public var unconfirmed: [Unconfirmed]

        enum CodingKeys: String, CodingKey {
            case pictures, rows
            case boxMap = "box_map"
            case pairsFitted = "pairs_fitted"
            case descriptorMedian = "descriptor_median"
            case descriptorP90 = "descriptor_p90"
            case descriptorMax = "descriptor_max"
            case descriptorFaces = "descriptor_faces"
            case landmarkBox = "landmark_box"
            case reseededMedian = "reseeded_median"
            case reseededP90 = "reseeded_p90"
            case thresholds, unconfirmed
        }
    }

    public var analyzer: FaceAnalyzer
    public var minFace: Double
    public var threshold: Float
    public var threads: Int
    public var matchIoU = 0.4

    public init(analyzer: FaceAnalyzer, minFace: Double = 20, threshold: Float = 0.4, threads: Int = 2) {
        self.analyzer = analyzer
        self.minFace = minFace
        self.threshold = threshold
        self.threads = threads
    }

    struct Found: Sendable {
        var reference: [FaceBox] = []
        var mmod0: [FaceBox] = []
        var mmod1: [FaceBox] = []
        var fast: [FastDetection] = []
        /// The fast detector at the sweep's lowest threshold (`fast` is these at `threshold`).
        var fastSweep: [FastDetection] = []
        var seconds: [Double] = [0, 0, 0]
    }

    public static let bands = ["≥ 40 px", "24–40 px", "< 24 px"]
    static func band(_ b: FaceBox) -> String { b.width >= 40 ? bands[0] : b.width >= 24 ? bands[1] : bands[2] }

    public func run(_ pictures: [Picture], progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> Result {
        let fastDetector = try analyzer.fastDetector()
        let found = Mutex<[Int: Found]>([:])
        let analyzer = self.analyzer, minFace = self.minFace, threshold = self.threshold
        try ParallelWork.forEach(count: pictures.count, threads: threads, progress: progress) { i, ws in
            let image = pictures[i].image
            var f = Found()
            f.reference = try analyzer.detector.detect(image, upsample: 2, workspace: ws).map(\.box)
            var t = Date()
            f.mmod0 = try analyzer.detector.detect(image, upsample: 0, workspace: ws).map(\.box)
            f.seconds[0] = Date().timeIntervalSince(t)
            t = Date()
            f.mmod1 = try analyzer.detector.detect(image, upsample: 1, workspace: ws).map(\.box)
            f.seconds[1] = Date().timeIntervalSince(t)
            t = Date()
            f.fastSweep = try fastDetector.detect(
                image, minFace: minFace, threshold: min(threshold, DetectorStudy.sweep[0]), workspace: ws)
            f.seconds[2] = Date().timeIntervalSince(t)
            f.fast = f.fastSweep.filter { $0.score >= threshold }
            found.withLock { $0[i] = f }
        }
        let all = found.withLock { $0 }
        let results = pictures.indices.map { all[$0]! }

        // The box map: fast boxes paired with reference boxes whose centres are within a quarter of the size.
        var pairs: [(fast: FastDetection, mmod: FaceBox)] = []
        for r in results {
            for b in r.reference {
                let near = r.fast.filter { d in
                    let size = (d.width * d.height).squareRoot()
                    return hypot((d.left + d.right) / 2 - b.center.x, (d.top + d.bottom) / 2 - b.center.y) < size / 4
                        && abs(Double(b.width) / size - 1) < 0.5
                }
                if near.count == 1 { pairs.append((near[0], b)) }
            }
        }
        let map = BoxMap.fit(pairs) ?? BoxMap.fitted

        var rows: [Row] = []
        let names = ["mmod (upsample 0)", "mmod (upsample 1)", "fast (min-face \(Int(minFace)) px)"]
        for (k, name) in names.enumerated() {
            var hits: [String: Int] = [:], totals: [String: Int] = [:]
            var matchedDetections = 0, detections = 0, seconds = 0.0
            for r in results {
                let boxes = k == 0 ? r.mmod0 : k == 1 ? r.mmod1 : r.fast.map { map.dlibBox($0) }
                let matches = DetectorStudy.match(r.reference, boxes, minIoU: matchIoU)
                for (j, b) in r.reference.enumerated() {
                    totals[DetectorStudy.band(b), default: 0] += 1
                    if matches[j] != nil { hits[DetectorStudy.band(b), default: 0] += 1 }
                }
                matchedDetections += matches.compactMap { $0 }.count
                detections += boxes.count
                seconds += r.seconds[k]
            }
            var recall: [String: Double] = [:]
            for b in DetectorStudy.bands where totals[b, default: 0] > 0 { recall[b] = Double(hits[b, default: 0]) / Double(totals[b]!) }
            rows.append(
                Row(
                    detector: name, recall: recall, referenceFaces: totals,
                    precision: detections > 0 ? Double(matchedDetections) / Double(detections) : 1, detections: detections,
                    milliseconds: 1000 * seconds / Double(max(1, results.count))))
        }

        let (thresholds, unconfirmed) = try thresholdSweep(
            pictures, reference: results.map(\.reference),
            detections: results.map { r in r.fastSweep.map { (box: map.dlibBox($0), score: $0.score) } })

        // Descriptors: LFW portraits where both the reference and the mapped fast box find the central face.
        let distances = Mutex<[(mapped: Double, reseeded: Double)]>([])
        let portraits = pictures.indices.filter { pictures[$0].isPortrait }
        @Sendable func central(_ i: Int) -> FaceBox? {
            let image = pictures[i].image
            let centre = Point(x: Double(image.width) / 2, y: Double(image.height) / 2)
            func far(_ b: FaceBox) -> Double { hypot(b.center.x - centre.x, b.center.y - centre.y) }
            return results[i].reference.min { far($0) < far($1) }
        }
        // Where MMOD's box sits relative to the landmarks found in it, fitted on the same portraits.
        let seed = LandmarkBox.fit(
            portraits.compactMap { i in central(i).map { ($0, analyzer.landmarks.predict(pictures[i].image, box: $0)) } })
        try ParallelWork.forEach(count: portraits.count, threads: threads) { n, ws in
            let i = portraits[n], image = pictures[i].image, r = results[i]
            guard let ref = central(i) else { return }
            let mapped = r.fast.map { map.dlibBox($0) }
            guard let best = mapped.max(by: { $0.iou(ref) < $1.iou(ref) }), best.iou(ref) >= 0.4 else { return }
            let a = try analyzer.describe(image, box: ref, workspace: ws).embedding
            let b = try analyzer.describe(image, box: best, workspace: ws).embedding
            let reseededBox = seed.flatMap { $0.box(analyzer.landmarks.predict(image, box: best)) } ?? best
            let c = try analyzer.describe(image, box: reseededBox, workspace: ws).embedding
            let pair = (mapped: Double(descriptorDistance(a, b)), reseeded: Double(descriptorDistance(a, c)))
            distances.withLock { $0.append(pair) }
        }
        let measured = distances.withLock { $0 }
        let d = measured.map(\.mapped).sorted(), e = measured.map(\.reseeded).sorted()
        func quantile(_ v: [Double], _ q: Double) -> Double { v.isEmpty ? .nan : v[min(v.count - 1, Int(q * Double(v.count - 1)))] }
        return Result(
            pictures: pictures.count, rows: rows, boxMap: map, pairsFitted: pairs.count, descriptorMedian: quantile(d, 0.5),
            descriptorP90: quantile(d, 0.9), descriptorMax: d.last ?? .nan, descriptorFaces: d.count, landmarkBox: seed,
            reseededMedian: quantile(e, 0.5), reseededP90: quantile(e, 0.9), thresholds: thresholds,
            unconfirmed: unconfirmed)
    }

    /// For each reference box, the index of the detection matched to it (greedy by IoU, each used once), or nil.
    public static func match(_ reference: [FaceBox], _ detections: [FaceBox], minIoU: Double) -> [Int?] {
        var candidates: [(Double, Int, Int)] = []
        for (i, r) in reference.enumerated() {
            for (j, d) in detections.enumerated() {
                let v = r.iou(d)
                if v >= minIoU { candidates.append((v, i, j)) }
            }
        }
        var result = [Int?](repeating: nil, count: reference.count)
        var used = Set<Int>()
        for (_, i, j) in candidates.sorted(by: { ($0.0, -$0.1, -$0.2) > ($1.0, -$1.1, -$1.2) })
        where result[i] == nil && !used.contains(j) {
            result[i] = j
            used.insert(j)
        }
        return result
    }
}

/// Where MMOD's box sits relative to the five landmarks the shape predictor finds in it, in units of the distance
/// between the eye centres: box centre = landmark centroid + (dx, dy)·eyes, side = scale·eyes. Seeding the shape
/// predictor a second time from this box was meant to make the landmarks depend less on which detector drew the
/// first box; measured, it does not (docs/detector.md), so the product does not use it.
public struct LandmarkBox: Sendable, Equatable, Codable {
    public var dx: Double
    public var dy: Double
    public var scale: Double

    public init(dx: Double, dy: Double, scale: Double) {
        self.dx = dx
        self.dy = dy
        self.scale = scale
    }

    static func frame(_ landmarks: [Point]) -> (centroid: Point, eyes: Double)? {
        guard landmarks.count == 5 else { return nil }
        let cx = landmarks.map(\.x).reduce(0, +) / 5, cy = landmarks.map(\.y).reduce(0, +) / 5
        let a = Point(x: (landmarks[0].x + landmarks[1].x) / 2, y: (landmarks[0].y + landmarks[1].y) / 2)
        let b = Point(x: (landmarks[2].x + landmarks[3].x) / 2, y: (landmarks[2].y + landmarks[3].y) / 2)
        let eyes = hypot(a.x - b.x, a.y - b.y)
        return eyes > 0 ? (Point(x: cx, y: cy), eyes) : nil
    }

    /// The box for `landmarks`, or nil for a degenerate shape.
    public func box(_ landmarks: [Point]) -> FaceBox? {
        guard let (c, eyes) = LandmarkBox.frame(landmarks) else { return nil }
        let side = max(1, (scale * eyes).rounded())
        let left = Int((c.x + dx * eyes - side / 2).rounded()), top = Int((c.y + dy * eyes - side / 2).rounded())
        return FaceBox(left: left, top: top, right: left + Int(side) - 1, bottom: top + Int(side) - 1)
    }

    /// Medians over (MMOD box, landmarks predicted in it) pairs.
    public static func fit(_ pairs: [(box: FaceBox, landmarks: [Point])]) -> LandmarkBox? {
        var dx: [Double] = [], dy: [Double] = [], k: [Double] = []
        for p in pairs {
            guard let (c, eyes) = frame(p.landmarks) else { continue }
            dx.append((Double(p.box.left + p.box.right + 1) / 2 - c.x) / eyes)
            dy.append((Double(p.box.top + p.box.bottom + 1) / 2 - c.y) / eyes)
            k.append((Double(p.box.width) * Double(p.box.height)).squareRoot() / eyes)
        }
        guard !k.isEmpty else { return nil }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        return LandmarkBox(dx: median(dx), dy: median(dy), scale: median(k))
    }
}
