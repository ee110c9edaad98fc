import FaceAnalysis
import Foundation
import MediaIO
import Perception
import RateControl

/// One track segment's in-video JND.
public struct SegmentJND: Sendable, Codable, Equatable {
    public struct FrameDistance: Sendable, Codable, Equatable {
        public var frame: Int
        public var distance: Double
    }

    public var track: Int
    public var firstFrame: Int
    /// Exclusive.
    public var endFrame: Int
    public var faceFrames: Int
    /// The largest face QP at which every face-frame of the segment stays within τ, encoded in context; −1 when even
    /// QP 0 does not keep them within τ.
    public var jndQP: Int
    /// Whether the JND is the top of the range (the background QP): the face needs no region of its own.
    public var atBackground: Bool
    public var distancesAtJND: [FrameDistance]
    /// Distances with the segment one QP above its JND (from the bisection round that tried it); empty at the top.
    public var distancesAboveJND: [FrameDistance]
    /// The single-frame crop JND of the track's probe nearest the segment's start, for comparison.
    public var cropJNDQP: Int?
    public var cropProbeFrame: Int?
    /// What the JND predictor gives for the same probe's crop (nil without a predictor): the segment head's input.
    public var predictedJNDQP: Int?
    /// The probe's face box width (pixels of the upright picture).
    public var probeFaceWidth: Int?
    /// Mean face box width in the segment (pixels of the upright picture).
    public var faceWidth: Double
    /// Median background QP over the segment.
    public var backgroundQP: Int

    enum CodingKeys: String, CodingKey {
        case track, faceFrames = "face_frames", jndQP = "jnd_qp", atBackground = "at_background"
        case firstFrame = "first_frame", endFrame = "end_frame"
        case distancesAtJND = "distances_at_jnd", distancesAboveJND = "distances_above_jnd"
        case cropJNDQP = "crop_jnd_qp", cropProbeFrame = "crop_probe_frame", faceWidth = "face_width", backgroundQP = "background_qp"
        case predictedJNDQP = "predicted_jnd_qp", probeFaceWidth = "probe_face_width"
    }
}

/// `jnd measure --segments`'s result.
public struct SegmentJNDReport: Sendable, Codable {
    public var schema = "facejnd-segment-jnd/2"
    public var input: String
    public var codec: String
    public var preset: String
    public var tau: Double
    public var segmentFrames: Int?
    /// Whole-video encodes the search took (bisection rounds and confirmations).
    public var encodes: Int
    /// Size of the video with every segment at its JND.
    public var bytesAtJND: Int
    /// Segments below the top of the range with at least one face-frame over τ one QP above their JND, as a share of
    /// those measured there.
    public var shareFailingAbove: Double
    public var segments: [SegmentJND]

    enum CodingKeys: String, CodingKey {
        case schema, input, codec, preset, tau, encodes, segments
        case segmentFrames = "segment_frames", bytesAtJND = "bytes_at_jnd", shareFailingAbove = "share_failing_above"
    }
}

/// The in-video JND oracle: for every track segment, the largest face QP at which all its face-frames stay within τ
/// when the video is encoded as the product encodes it — background at its planned QP, inter-coded with the real
/// preset and GOP structure, verified at the original landmarks. All segments are searched at once
/// (`SegmentBisection`), so the cost is about log2(background QP) + 2 whole-video encodes, not one per segment.
public struct SegmentJNDOracle {
    public var job: EncodeJob
    /// Cut segments into pieces of at most this many frames (nil: whole GOPs).
    public var segmentFrames: Int?
    /// Confirmation rounds allowed after the bisection (each lowers the segments that failed at their JND).
    public var confirmations = 10
    /// When set, each segment also records what this crop predictor gives for its probe (`predicted_jnd_qp`).
    public var predictor: JNDModel? = nil

    public init(job: EncodeJob, segmentFrames: Int? = nil) {
        self.job = job
        self.segmentFrames = segmentFrames
    }

    public func measure(
        _ input: String, timeline: FaceTimeline, background: [Int], progress: (Int, Int?) -> Void = { _, _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> SegmentJNDReport {
        let tau = job.options.tau
        let plannerInput = try timeline.plannerInput(tau: tau, chipSize: job.analyzer.embedder.chipSize)
        let planner = FacePlanner(backgroundQP: background)
        let verifier = job.verifier
        let scratch = AtomicFile.scratchPath(near: input, tag: "segment-jnd")
        defer { AtomicFile.discard(scratch) }
        let range = 0...(background.max() ?? job.options.backgroundQP)
        var encodes = 0
        // One encode with the given per-segment QPs; returns the checks and the size.
        func round(_ qp: [TrackSegment: Int], segments: [TrackSegment]) throws -> ([FaceCheck], TranscodeResult) {
            let plan = planner.assignedPlan(plannerInput) { track, t in
                segments.first { $0.track == track && $0.frames.contains(t) }.flatMap { qp[$0] } ?? range.upperBound
            }
            let r = try job.encode(input, to: scratch, plan: plan, copyOtherStreams: false, isCancelled: isCancelled)
            encodes += 1
            progress(encodes, nil)
            return (try verifier.check(path: scratch, timeline: timeline, isCancelled: isCancelled), r)
        }
        // Round 0: every face at the background, which also gives the GOP structure the segments follow.
        let (firstChecks, first) = try round([:], segments: [])
        let gops = RepairRules.gops(first.frames.map(\.pictureType), count: timeline.frames.count)
        let segments = TrackSegment.cut(plannerInput.frames, at: TrackSegment.stretches(gops: gops, length: segmentFrames))
        var search = SegmentBisection(segments: segments, range: range)
        var seen: [TrackSegment: [Int: [SegmentJND.FrameDistance]]] = [:]
        func learn(_ qp: [TrackSegment: Int], _ checks: [FaceCheck]) {
            var passed: [TrackSegment: Bool] = [:]
            for s in segments {
                let mine = checks.filter { $0.track == s.track && s.frames.contains($0.frame) }
                passed[s] = mine.allSatisfy { $0.distance <= tau }
                seen[s, default: [:]][qp[s]!] = mine.map { .init(frame: $0.frame, distance: $0.distance) }
            }
            search.record(qp: qp, passed: passed)
        }
        learn(Dictionary(uniqueKeysWithValues: segments.map { ($0, range.upperBound) }), firstChecks)
        while !search.isFinished {
            let qp = search.proposal()
            learn(qp, try round(qp, segments: segments).0)
        }
        // Confirm: everything at its JND together; lower what still fails — by the repair rule's step for its worst
        // distance (7·log2(d/τ)), as consecutive segments of a track can need more than one QP — until nothing
        // changes.
        let rules = RepairRules(tau: tau, floorQP: 0, minimumStep: 1)
        func confirm(_ qp: [TrackSegment: Int]) throws -> ([FaceCheck], TranscodeResult) {
            let r = try round(qp, segments: segments)
            learn(qp, r.0)
            for s in segments {
                let worst = seen[s]?[qp[s]!]?.map(\.distance).max() ?? 0
                if worst > tau { search.lower(s, to: qp[s]! - rules.step(distance: worst)) }
            }
            return r
        }
        var qp = search.proposal()
        var final = try confirm(qp)
        for _ in 0..<confirmations where search.proposal() != qp {
            qp = search.proposal()
            final = try confirm(qp)
        }
        var measured = 0, failingAbove = 0
        let entries = segments.map { s -> SegmentJND in
            let jnd = qp[s]!
            let above = jnd < range.upperBound ? seen[s]?[jnd + 1] ?? [] : []
            if !above.isEmpty {
                measured += 1
                if above.contains(where: { $0.distance > tau }) { failingAbove += 1 }
            }
            let probes = timeline.probes(track: s.track)
            let probe = probes.first { s.frames.contains($0.frame) } ?? probes.last { $0.frame < s.frames.lowerBound } ?? probes.first
            let widths = s.frames.compactMap { t in timeline.frames[t].first { $0.track == s.track }.map { Double($0.face.box.width) } }
            let backgrounds = s.frames.map { background[$0] }.sorted()
            return SegmentJND(
                track: s.track, firstFrame: s.frames.lowerBound, endFrame: s.frames.upperBound, faceFrames: widths.count,
                jndQP: max(jnd, range.lowerBound - 1), atBackground: jnd >= range.upperBound, distancesAtJND: seen[s]?[jnd] ?? [],
                distancesAboveJND: above, cropJNDQP: try? probe?.jndQP(tau: tau), cropProbeFrame: probe?.frame,
                predictedJNDQP: predictor.flatMap { probe?.predictedJNDQP($0) }, probeFaceWidth: probe?.faceWidth,
                faceWidth: widths.reduce(0, +) / Double(max(1, widths.count)), backgroundQP: backgrounds[backgrounds.count / 2])
        }
        return SegmentJNDReport(
            input: input, codec: job.options.codec, preset: job.options.preset, tau: tau, segmentFrames: segmentFrames, encodes: encodes,
            bytesAtJND: final.1.outputBytes, shareFailingAbove: measured == 0 ? 0 : Double(failingAbove) / Double(measured), segments: entries)
    }
}
