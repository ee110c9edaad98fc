import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore

/// One face checked in an encoded video.
public struct FaceCheck: Sendable, Equatable, Codable {
    public var frame: Int
    public var track: Int
    /// ‖e0 − e‖: the original's descriptor against the decoded frame's, both with the original landmarks.
    public var distance: Double

    public init(frame: Int, track: Int, distance: Double) {
        self.frame = frame
        self.track = track
        self.distance = distance
    }
}

/// The verification pass: decodes an encoded video and re-embeds every face of the timeline, at its original
/// landmarks, so the distance measures what the encode did to the face and nothing else.
public struct FaceVerifier {
    public var embedder: FaceEmbedder
    public var threads: Int

    public init(embedder: FaceEmbedder, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.embedder = embedder
        self.threads = threads
    }

    public func check(
        path: String, timeline: FaceTimeline, progress: (Int, Int?) -> Void = { _, _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> [FaceCheck] {
        // The output carries the input's display matrix; its pictures are turned the way the faces were found.
        let source = try PictureSource(path: path, orientation: timeline.orientation)
        var checks: [FaceCheck] = []
        let batch = ChipBatch<(frame: Int, track: Int, original: [Float])>(embedder: embedder, threads: threads)
        func store(_ done: [((frame: Int, track: Int, original: [Float]), [Float])]) {
            for (k, e) in done { checks.append(FaceCheck(frame: k.frame, track: k.track, distance: Double(descriptorDistance(k.original, e)))) }
        }
        var decoded = 0
        try source.forEachFrame(isCancelled: isCancelled) { index, frame in
            decoded = index + 1
            guard index < timeline.frames.count else { return false }
            let faces = timeline.frames[index]
            if !faces.isEmpty {
                let image = try source.picture(frame)
                for f in faces {
                    let chip = FaceChip.extract(image, FaceChip.placement(landmarks: f.face.landmarks, size: embedder.chipSize))
                    store(try batch.add((index, f.track, f.face.embedding), chip: chip))
                }
            }
            progress(index + 1, timeline.frames.count)
            return true
        }
        store(try batch.flush())
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

    public init(_ checks: [FaceCheck], tau: Double) {
        faces = checks.count
        withinTau = checks.filter { $0.distance <= tau }.count
        fractionWithinTau = checks.isEmpty ? 1 : Double(withinTau) / Double(checks.count)
        meanDistance = checks.isEmpty ? 0 : checks.map(\.distance).reduce(0, +) / Double(checks.count)
        maxDistance = checks.map(\.distance).max() ?? 0
    }

    enum CodingKeys: String, CodingKey {
        case faces
        case withinTau = "within_tau"
        case fractionWithinTau = "fraction_within_tau"
        case meanDistance = "mean_distance"
        case maxDistance = "max_distance"
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
