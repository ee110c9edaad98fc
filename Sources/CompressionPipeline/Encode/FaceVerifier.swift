import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore

/// One face checked in an encoded video.
public struct FaceCheck: Sendable, Equatable, Codable {
    public var frame: Int
    public var track: Int
    /// The distance that decides whether the face is within τ: the larger of `landmarkDistance` and
    /// `refitDistance` when both were measured, else the original-landmark distance.
    public var distance: Double
    /// ‖e0 − e‖ with the decoded frame's chip cut at the original landmarks: what the encode did to the face alone.
    public var landmarkDistance: Double?
    /// ‖e0 − e‖ with landmarks fitted again on the decoded frame from the face's box, as a deployed FR system sees it.
    public var refitDistance: Double?
    /// On frames where the analysis detected the face: whether the detector still finds it in the decoded picture
    /// (a box overlapping the face's by IoU ≥ 0.3); nil elsewhere or when not checked.
    public var stillDetected: Bool?

    public init(
        frame: Int, track: Int, distance: Double, landmarkDistance: Double? = nil, refitDistance: Double? = nil, stillDetected: Bool? = nil
    ) {
        self.frame = frame
        self.track = track
        self.distance = distance
        self.landmarkDistance = landmarkDistance
        self.refitDistance = refitDistance
        self.stillDetected = stillDetected
    }

    enum CodingKeys: String, CodingKey {
        case frame, track, distance
        case landmarkDistance = "landmark_distance"
        case refitDistance = "refit_distance"
        case stillDetected = "still_detected"
    }
}

/// The verification pass: decodes an encoded video and re-embeds every face of the timeline at its original
/// landmarks, so the distance measures what the encode did to the face and nothing else; with `landmarks`, also
/// at landmarks fitted again on the decoded picture from the face's box, as a deployed FR system would, and a face
/// counts as within τ only when both distances are (near-τ faces flip with small landmark differences).
public struct FaceVerifier {
    public var embedder: FaceEmbedder
    /// Fits the landmarks again on decoded pictures (nil: original landmarks only).
    public var landmarks: LandmarkPredictor?
    /// Runs the detector on decoded pictures at the analysis's detection frames (nil: not checked).
    public var redetect: (@Sendable (RGBImage) throws -> [FaceBox])? = nil
    public var threads: Int

    public init(embedder: FaceEmbedder, landmarks: LandmarkPredictor? = nil, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.embedder = embedder
        self.landmarks = landmarks
        self.threads = threads
    }

    /// Checks of one pass, collected picture by picture and embedded in batches.
    final class Session {
        private struct Key: Sendable {
            var frame: Int, track: Int, refit: Bool
            var original: [Float]
        }
        private struct Pair: Hashable { var frame: Int, track: Int }
        private let verifier: FaceVerifier
        private let batch: ChipBatch<Key>
        private var halves: [Pair: (landmark: Double?, refit: Double?)] = [:]
        private var found: [Pair: Bool] = [:]
        private(set) var checks: [FaceCheck] = []

        init(_ verifier: FaceVerifier) {
            self.verifier = verifier
            batch = ChipBatch(embedder: verifier.embedder, threads: verifier.threads)
        }

        /// Queues the faces of one decoded picture (`image` upright, as the faces were found).
        func add(_ image: RGBImage, frame: Int, faces: [TrackedFace]) throws {
            let size = verifier.embedder.chipSize
            if let redetect = verifier.redetect, faces.contains(where: \.detected) {
                let boxes = try redetect(image)
                for f in faces where f.detected {
                    found[Pair(frame: frame, track: f.track)] = boxes.contains { $0.iou(f.face.box) >= 0.3 }
                }
            }
            for f in faces {
                let chip = FaceChip.extract(image, FaceChip.placement(landmarks: f.face.landmarks, size: size))
                store(try batch.add(Key(frame: frame, track: f.track, refit: false, original: f.face.embedding), chip: chip))
                if let predictor = verifier.landmarks {
                    let fitted = predictor.predict(image, box: f.face.box)
                    let chip = FaceChip.extract(image, FaceChip.placement(landmarks: fitted, size: size))
                    store(try batch.add(Key(frame: frame, track: f.track, refit: true, original: f.face.embedding), chip: chip))
                }
            }
        }

        /// Every check, in frame and track order.
        func finish() throws -> [FaceCheck] {
            store(try batch.flush())
            return checks.sorted { ($0.frame, $0.track) < ($1.frame, $1.track) }
        }

        private func store(_ done: [(Key, [Float])]) {
            for (k, e) in done {
                let d = Double(descriptorDistance(k.original, e))
                let pair = Pair(frame: k.frame, track: k.track)
                var h = halves[pair] ?? (nil, nil)
                if k.refit { h.refit = d } else { h.landmark = d }
                if let l = h.landmark, verifier.landmarks == nil || h.refit != nil {
                    halves[pair] = nil
                    checks.append(
                        FaceCheck(
                            frame: k.frame, track: k.track, distance: max(l, h.refit ?? l), landmarkDistance: l, refitDistance: h.refit,
                            stillDetected: found.removeValue(forKey: pair)))
                } else {
                    halves[pair] = h
                }
            }
        }
    }

    public func check(
        path: String, timeline: FaceTimeline, progress: (Int, Int?) -> Void = { _, _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> [FaceCheck] {
        // The output carries the input's display matrix; its pictures are turned the way the faces were found.
        let source = try PictureSource(path: path, orientation: timeline.orientation)
        let session = Session(self)
        var decoded = 0
        try source.forEachFrame(isCancelled: isCancelled) { index, frame in
            decoded = index + 1
            guard index < timeline.frames.count else { return false }
            let faces = timeline.frames[index]
            if !faces.isEmpty { try session.add(try source.picture(frame), frame: index, faces: faces) }
            progress(index + 1, timeline.frames.count)
            return true
        }
        let checks = try session.finish()
        guard decoded == timeline.frames.count else {
            throw PipelineError.frameCountMismatch(path: path, encoded: decoded, expected: timeline.frames.count)
        }
        return checks
    }
}

/// Face fidelity of one encode, the figures `encode`, `compare` and `sweep` report.
public struct FaceFidelity: Sendable, Equatable, Codable {
    public var faces: Int
    public var withinTau: Int
    public var fractionWithinTau: Double
    public var meanDistance: Double
    public var maxDistance: Double
    /// Face-frames at detection frames checked with the detector, and how many it still found (nil: not checked).
    public var detectionChecks: Int?
    public var stillDetected: Int?

    public init(_ checks: [FaceCheck], tau: Double) {
        faces = checks.count
        withinTau = checks.filter { $0.distance <= tau }.count
        fractionWithinTau = checks.isEmpty ? 1 : Double(withinTau) / Double(checks.count)
        meanDistance = checks.isEmpty ? 0 : checks.map(\.distance).reduce(0, +) / Double(checks.count)
        maxDistance = checks.map(\.distance).max() ?? 0
        let redetected = checks.compactMap(\.stillDetected)
        if !redetected.isEmpty {
            detectionChecks = redetected.count
            stillDetected = redetected.filter { $0 }.count
        }
    }

    enum CodingKeys: String, CodingKey {
        case faces
        case withinTau = "within_tau"
        case fractionWithinTau = "fraction_within_tau"
        case meanDistance = "mean_distance"
        case maxDistance = "max_distance"
        case detectionChecks = "detection_checks"
        case stillDetected = "still_detected"
    }
}

/// Face fidelity of one track, pooled for the worst case: users of target-quality tools judge an encode by its worst
/// frames, which a mean hides.
public struct TrackFidelity: Sendable, Equatable, Codable {
    public var track: Int
    public var faces: Int
    public var withinTau: Int
    public var meanDistance: Double
    /// The largest distance over the track's face-frames.
    public var worstDistance: Double
    /// The distance the worst 5% of the track's face-frames reach: the 95th percentile of distance (nearest rank),
    /// i.e. the 5th percentile of fidelity.
    public var worst5PercentDistance: Double

    /// One entry per track, sorted by track.
    public static func perTrack(_ checks: [FaceCheck], tau: Double) -> [TrackFidelity] {
        Dictionary(grouping: checks, by: \.track).keys.sorted().map { track in
            let d = checks.filter { $0.track == track }.map(\.distance).sorted()
            let rank = Int((0.95 * Double(d.count)).rounded(.up))
            return TrackFidelity(
                track: track, faces: d.count, withinTau: d.filter { $0 <= tau }.count, meanDistance: d.reduce(0, +) / Double(d.count),
                worstDistance: d.last!, worst5PercentDistance: d[max(0, rank - 1)])
        }
    }

    enum CodingKeys: String, CodingKey {
        case track, faces
        case withinTau = "within_tau"
        case meanDistance = "mean_distance"
        case worstDistance = "worst_distance"
        case worst5PercentDistance = "worst_5_percent_distance"
    }
}
