import FaceAnalysis
import Foundation
import MediaIO
import RateControl

/// `facejnd encode --report`: the JSON schema is docs/encode-report.schema.json (described in docs/encode-report.md).
public struct EncodeReport: Sendable, Codable {
    public static let schemaID = "facejnd-encode-report/6"

    public struct Settings: Sendable, Codable {
        public var codec: String
        public var preset: String
        public var tau: Double
        public var backgroundQP: Int?
        public var matchCRF: Double?
        public var margin: Int
        public var floorQP: Int
        public var smoothingFrames: Int
        public var detectEvery: Int
        public var jndEvery: Int
        public var jndMode: String
        /// "fast" or "mmod".
        public var detector: String
        /// MMOD's upsampling (nil for the fast detector).
        public var upsample: Int?
        /// The fast detector's smallest face in pixels (nil for MMOD).
        public var minFace: Double?
        /// "auto" or "off".
        public var motionGate: String
        public var unrecognizable: String
        public var qualityFloor: Double
        /// "jnd" when face pixels were replaced by the predicted JND image before encoding, else "none".
        public var prefilter: String
        /// The chunked encode's chunk length (nil: whole-file passes). Added in version 3.
        public var chunkSeconds: Double? = nil
        /// Longest stretch of frames a repair lowers (nil: the GOP). Added in version 3.
        public var segmentFrames: Int? = nil
        /// both: original and refitted landmarks; landmarks: original only. Added in version 3.
        public var verify: String? = nil
        /// Width of the intermediate-QP ring around face regions (nil: none). Added in version 5.
        public var guardBand: Int? = nil
        /// The chunked encode's least raise after a chunk well within τ (nil: none). Added in version 6.
        public var raiseStep: Int? = nil
        /// The segment JND head applied to the predictor's JNDs (its version), nil: none. Added in version 6.
        public var segmentHead: String? = nil

        enum CodingKeys: String, CodingKey {
            case codec, preset, tau, margin, detector, upsample, unrecognizable, prefilter
            case minFace = "min_face"
            case chunkSeconds = "chunk_seconds"
            case segmentFrames = "segment_frames"
            case verify
            case guardBand = "guard_band"
            case raiseStep = "raise_step"
            case segmentHead = "segment_head"
            case motionGate = "motion_gate"
            case qualityFloor = "quality_floor"
            case backgroundQP = "background_qp"
            case matchCRF = "match_crf"
            case floorQP = "floor_qp"
            case smoothingFrames = "smoothing_frames"
            case detectEvery = "detect_every"
            case jndEvery = "jnd_every"
            case jndMode = "jnd_mode"
        }
    }

    public struct FaceRow: Sendable, Codable {
        public var track: Int
        public var box: [Int]
        /// The encoded rectangle [x, y, width, height] in the coded picture (the encoder's coordinates; `box` is in the
        /// upright picture), or nil when the face follows the background QP.
        public var region: [Int]?
        public var qp: Int
        /// The deciding distance (the larger of the two below when both were measured).
        public var distance: Double?
        /// At the original landmarks. Added in version 3.
        public var landmarkDistance: Double?
        /// At landmarks fitted again on the decoded picture. Added in version 3.
        public var refitDistance: Double?
        public var detected: Bool
        /// Whether the detector still found the face in the output (detection frames, `--verify both`). Added in
        /// version 3.
        public var stillDetected: Bool? = nil

        enum CodingKeys: String, CodingKey {
            case track, box, region, qp, distance, detected
            case landmarkDistance = "landmark_distance"
            case refitDistance = "refit_distance"
            case stillDetected = "still_detected"
        }
    }

    public struct FrameRow: Sendable, Codable {
        public var index: Int
        public var type: String
        public var bytes: Int
        public var backgroundQP: Int
        public var faces: [FaceRow]

        enum CodingKeys: String, CodingKey {
            case index, type, bytes, faces
            case backgroundQP = "background_qp"
        }
    }

    public struct Probe: Sendable, Codable {
        public var frame: Int
        public var jndQP: Int
        public var encodes: Int
        enum CodingKeys: String, CodingKey {
            case frame, encodes
            case jndQP = "jnd_qp"
        }
    }

    public struct Track: Sendable, Codable {
        public var track: Int
        public var firstFrame: Int
        public var lastFrame: Int
        public var frames: Int
        public var probes: [Probe]
        public var qpMin: Int
        public var qpMax: Int
        public var maxDistance: Double
        public var policy: TrackPolicy
        public var quality: QualityScores?

        enum CodingKeys: String, CodingKey {
            case track, frames, probes, policy, quality
            case firstFrame = "first_frame"
            case lastFrame = "last_frame"
            case qpMin = "qp_min"
            case qpMax = "qp_max"
            case maxDistance = "max_distance"
        }
    }

    public struct Timing: Sendable, Codable {
        public var analyse: Double
        public var measure: Double
        public var encode: Double
        public var verify: Double
        public var total: Double
    }

    public var schema = EncodeReport.schemaID
    public var input: String
    public var output: String
    public var settings: Settings
    public var frameCount: Int
    public var width: Int
    public var height: Int
    public var framesPerSecond: Double
    public var outputBytes: Int
    public var bitrateKbps: Double
    public var fidelity: FaceFidelity
    public var passes: [EncodePass]
    /// Faces still over τ after the last pass (empty when every face passed).
    public var unfixed: [FaceCheck]
    public var tracks: [Track]
    public var frames: [FrameRow]
    public var timing: Timing
    /// What `batch` needs to skip a file already done: the input's fingerprint and the settings' hash (nil outside
    /// a batch). Added in version 2.
    public var source: Source?
    /// The chunked encode's chunks in order (nil for whole-file passes). Added in version 3.
    public var chunks: [ChunkRecord]?
    /// The chunked encode's segments and how many passed their first encode (nil for whole-file passes). Added in
    /// version 3.
    public var segmentsFirstPass: SegmentFirstPass?
    /// Frames where the analysis found a cut between shots (the chunked encode starts chunks there); nil when it
    /// found none. Added in version 4.
    public var sceneCuts: [Int]?
    /// With a prefilter: the first filtered face of each track, for the HTML report (not written to the JSON).
    public var prefilterExamples: [PrefilterExample] = []

    public struct Source: Sendable, Codable, Equatable {
        public var fingerprint: InputFingerprint
        public var settingsHash: String
        /// Threads the encode used (for throughput per core).
        public var threads: Int?
        public init(fingerprint: InputFingerprint, settingsHash: String, threads: Int? = nil) {
            self.fingerprint = fingerprint
            self.settingsHash = settingsHash
            self.threads = threads
        }
        enum CodingKeys: String, CodingKey {
            case fingerprint, threads
            case settingsHash = "settings_hash"
        }
    }

    enum CodingKeys: String, CodingKey {
        case schema, input, output, settings, width, height, fidelity, passes, unfixed, tracks, frames, timing, source, chunks
        case segmentsFirstPass = "segments_first_pass"
        case sceneCuts = "scene_cuts"
        case frameCount = "frame_count"
        case framesPerSecond = "fps"
        case outputBytes = "output_bytes"
        case bitrateKbps = "bitrate_kbps"
    }

    public init(
        input: String, output: String, options: EncodeOptions, timeline: FaceTimeline, outcome: EncodeJob.Outcome,
        timing: Timing
    ) {
        self.input = input
        self.output = output
        settings = Settings(options)
        frameCount = timeline.frames.count
        width = timeline.width
        height = timeline.height
        framesPerSecond = timeline.framesPerSecond
        outputBytes = outcome.result.outputBytes
        let videoBytes = outcome.result.frames.reduce(0) { $0 + $1.bytes }
        bitrateKbps = Double(videoBytes) * 8 * timeline.framesPerSecond / Double(max(1, frameCount)) / 1000
        fidelity = FaceFidelity(outcome.checks, tau: options.tau)
        passes = outcome.passes
        unfixed = outcome.unfixed
        chunks = outcome.chunks.isEmpty ? nil : outcome.chunks
        segmentsFirstPass = outcome.firstPass
        sceneCuts = timeline.sceneCuts.isEmpty ? nil : timeline.sceneCuts
        prefilterExamples = outcome.prefilterExamples
        var check: [String: FaceCheck] = [:]
        for c in outcome.checks { check["\(c.frame)/\(c.track)"] = c }
        frames = timeline.frames.enumerated().map { i, faces in
            let plan = outcome.plan[i]
            let stats = i < outcome.result.frames.count ? outcome.result.frames[i] : nil
            return FrameRow(
                index: i, type: stats?.pictureType ?? "?", bytes: stats?.bytes ?? 0, backgroundQP: plan.backgroundQP,
                faces: faces.map { f in
                    let p = plan.faces.first { $0.track == f.track }
                    let b = f.face.box
                    return FaceRow(
                        track: f.track, box: [b.left, b.top, b.right, b.bottom],
                        region: p.map { [$0.encodedRegion.left, $0.encodedRegion.top, $0.encodedRegion.width, $0.encodedRegion.height] },
                        qp: p?.qp ?? plan.backgroundQP, distance: check["\(i)/\(f.track)"]?.distance,
                        landmarkDistance: check["\(i)/\(f.track)"]?.landmarkDistance, refitDistance: check["\(i)/\(f.track)"]?.refitDistance,
                        detected: f.detected, stillDetected: check["\(i)/\(f.track)"]?.stillDetected)
                })
        }
        let rows = frames
        tracks = timeline.trackIDs.map { id in
            let present = rows.filter { $0.faces.contains { $0.track == id } }
            let faceRows = present.flatMap { $0.faces.filter { $0.track == id } }
            return Track(
                track: id, firstFrame: present.first?.index ?? 0, lastFrame: present.last?.index ?? 0, frames: present.count,
                probes: timeline.probes(track: id).map {
                    Probe(frame: $0.frame, jndQP: (try? $0.jndQP(tau: options.tau)) ?? -1, encodes: $0.encodes)
                },
                qpMin: faceRows.map(\.qp).min() ?? 0, qpMax: faceRows.map(\.qp).max() ?? 0,
                maxDistance: faceRows.compactMap(\.distance).max() ?? 0, policy: outcome.policies[id] ?? .protect,
                quality: timeline.quality(track: id))
        }
        self.timing = timing
    }
}

extension EncodeReport.Settings {
    /// The settings of an encode with `options`.
    public init(_ options: EncodeOptions) {
        self.init(
            codec: options.codec, preset: options.preset, tau: options.tau,
            backgroundQP: options.matchCRF == nil ? options.backgroundQP : nil, matchCRF: options.matchCRF,
            margin: options.margin, floorQP: options.floorQP, smoothingFrames: options.smoothingFrames,
            detectEvery: options.detectEvery, jndEvery: options.jndEvery,
            jndMode: options.jndPredictor == nil ? options.jndMode.rawValue : "predictor",
            detector: options.detection.kind.rawValue,
            upsample: options.detection.kind == .mmod ? options.detection.upsample : nil,
            minFace: options.detection.kind == .fast ? options.detection.minFace : nil, motionGate: options.motionGate.rawValue,
            unrecognizable: options.unrecognizable.rawValue,
            qualityFloor: options.qualityFloor,
            prefilter: options.prefilter.rawValue)
        if let c = options.chunkSeconds, c > 0 { chunkSeconds = c }
        segmentFrames = options.segmentFrames
        verify = options.refitLandmarks ? "both" : "landmarks"
        if options.guardBand > 0 { guardBand = options.guardBand }
        if options.raiseStep > 0, (options.chunkSeconds ?? 0) > 0 { raiseStep = options.raiseStep }
        if options.jndPredictor != nil, let head = options.segmentHead { segmentHead = head.header.version }
    }
}
