import TensorCore

/// One face in one frame, as the planner sees it.
public struct PlannerFace: Sendable, Equatable {
    public var track: Int
    /// Everything the face's aligned chip is sampled from, on the 16-pixel block grid, in the upright picture.
    public var region: FaceBox

    public init(track: Int, region: FaceBox) {
        self.track = track
        self.region = region
    }
}

/// A track's JND QP at one frame (a probe of the analysis pass).
public struct JNDSample: Sendable, Equatable {
    public var frame: Int
    public var jndQP: Int

    public init(frame: Int, jndQP: Int) {
        self.frame = frame
        self.jndQP = jndQP
    }
}

/// Everything the planner needs to know about a video: plain values, no pixels and no models.
public struct PlannerInput: Sendable, Equatable {
    /// Size of the upright pictures (all regions are in this orientation).
    public var width: Int
    public var height: Int
    /// Coded pictures → upright pictures; planned regions are mapped back to the coded picture.
    public var orientation: Orientation
    public var frames: [[PlannerFace]]
    /// Each track's JND samples, by frame.
    public var jnd: [Int: [JNDSample]]

    public init(width: Int, height: Int, orientation: Orientation = .upright, frames: [[PlannerFace]], jnd: [Int: [JNDSample]]) {
        self.width = width
        self.height = height
        self.orientation = orientation
        self.frames = frames
        self.jnd = jnd.mapValues { $0.sorted { $0.frame < $1.frame } }
    }

    public var trackIDs: [Int] { Array(Set(frames.flatMap { $0.map(\.track) })).sorted() }
}

/// One face's QP in one frame of a plan.
public struct PlannedFace: Sendable, Equatable, Codable {
    public var track: Int
    /// Everything the face's aligned chip is sampled from, on the 16-pixel block grid, in the upright picture.
    public var region: FaceBox
    /// The same rectangle in the coded picture (what the encoder gets; equal to `region` for unrotated video).
    public var encodedRegion: FaceBox
    public var qp: Int

    public init(track: Int, region: FaceBox, encodedRegion: FaceBox? = nil, qp: Int) {
        self.track = track
        self.region = region
        self.encodedRegion = encodedRegion ?? region
        self.qp = qp
    }
}

/// One frame of an encode plan.
public struct PlannedFrame: Sendable, Equatable, Codable {
    public var backgroundQP: Int
    public var faces: [PlannedFace]

    public init(backgroundQP: Int, faces: [PlannedFace]) {
        self.backgroundQP = backgroundQP
        self.faces = faces
    }

    /// What the encoder takes. Overlapping rectangles: the lowest QP is listed first and wins.
    public var frameQP: FrameQP {
        FrameQP(
            qp: backgroundQP,
            regions: faces.sorted { $0.qp < $1.qp }.map {
                RegionQP(x: $0.encodedRegion.left, y: $0.encodedRegion.top, width: $0.encodedRegion.width, height: $0.encodedRegion.height, qp: $0.qp)
            })
    }

    /// The QP a track's face got in this frame (the background QP when it has no region of its own).
    public func qp(track: Int) -> Int { faces.first { $0.track == track }?.qp ?? backgroundQP }
}

/// Turns each face's region and its track's JND samples into per-frame QPs.
///
/// A face's QP at frame t is the JND QP of the nearest samples before and after t (the lower of the two), minus the
/// safety margin, minus any repair offset the verification pass added; then the minimum over ±`smoothingFrames`
/// within the track, so the QP steps down ahead of a harder stretch instead of flickering; then clamped to
/// `floorQP ... background`. Faces whose track is in `skippedTracks` follow the background QP.
public struct FacePlanner: Sendable {
    public var margin: Int
    public var smoothingFrames: Int
    public var floorQP: Int
    /// Per-frame background QP (a constant, or a reference CRF encode's per-frame QP).
    public var backgroundQP: [Int]
    public var skippedTracks: Set<Int> = []
    /// Tracks (masked or occluded faces) whose protected region is only the upper face: eyes, brows and nose.
    public var upperOnlyTracks: Set<Int> = []
    /// Share of the face region's height (from its top) protected for `upperOnlyTracks`.
    public var upperShare = 0.55

    public init(margin: Int = 2, smoothingFrames: Int = 15, floorQP: Int = 10, backgroundQP: [Int]) {
        self.margin = margin
        self.smoothingFrames = max(0, smoothingFrames)
        self.floorQP = floorQP
        self.backgroundQP = backgroundQP
    }

    /// Repairs: extra QP reduction per track over frame ranges.
    public struct Repairs: Sendable, Equatable, Codable {
        var offsets: [Int: [Int: Int]] = [:]  // track → frame → offset
        public init() {}
        public mutating func lower(track: Int, frames: Range<Int>, by step: Int) {
            for f in frames { offsets[track, default: [:]][f, default: 0] += step }
        }
        public func offset(track: Int, frame: Int) -> Int { offsets[track]?[frame] ?? 0 }
        public var isEmpty: Bool { offsets.isEmpty }
    }

    public func plan(_ input: PlannerInput, repairs: Repairs = Repairs()) -> [PlannedFrame] {
        let n = input.frames.count
        precondition(backgroundQP.count == n, "one background QP per frame")
        // Raw QP per (track, frame) before smoothing.
        var raw: [Int: [Int: Int]] = [:]
        for track in input.trackIDs {
            let samples = input.jnd[track] ?? []
            for (t, faces) in input.frames.enumerated() where faces.contains(where: { $0.track == track }) {
                let before = samples.last { $0.frame <= t }
                let after = samples.first { $0.frame > t }
                let jnd = [before, after].compactMap { $0?.jndQP }.min() ?? floorQP
                raw[track, default: [:]][t] = jnd - margin - repairs.offset(track: track, frame: t)
            }
        }
        return assignedPlan(input) { track, t in
            guard let series = raw[track] else { return nil }
            var q = series[t]!
            for s in max(0, t - smoothingFrames)...min(n - 1, t + smoothingFrames) {
                if let v = series[s] { q = min(q, v) }
            }
            return max(q, floorQP)
        }
    }

    /// A plan with each face's QP given by `qp(track, frame)` (nil: no region of its own): the regions, skipped and
    /// upper-face-only tracks as in `plan`; a QP is capped at its frame's background, and a face at the background
    /// gets no region.
    public func assignedPlan(_ input: PlannerInput, qp: (_ track: Int, _ frame: Int) -> Int?) -> [PlannedFrame] {
        precondition(backgroundQP.count == input.frames.count, "one background QP per frame")
        let (codedWidth, codedHeight) = input.orientation.uprightSize(width: input.width, height: input.height)
        return input.frames.enumerated().map { t, faces in
            let background = backgroundQP[t]
            let planned = faces.compactMap { f -> PlannedFace? in
                guard !skippedTracks.contains(f.track), let wanted = qp(f.track, t) else { return nil }
                let q = min(max(wanted, 0), background)
                guard q < background else { return nil }
                var region = f.region
                if upperOnlyTracks.contains(f.track) {
                    let rows = ((Int(Double(region.height) * upperShare) + 15) / 16) * 16
                    region.bottom = min(region.bottom, region.top + max(16, rows) - 1)
                }
                var coded = input.orientation.codedBox(region, codedWidth: codedWidth, codedHeight: codedHeight)
                if input.orientation != .upright {
                    // Back on the coded picture's block grid.
                    coded = FaceBox(
                        left: coded.left / 16 * 16, top: coded.top / 16 * 16,
                        right: min(codedWidth - 1, (coded.right / 16 + 1) * 16 - 1),
                        bottom: min(codedHeight - 1, (coded.bottom / 16 + 1) * 16 - 1))
                }
                return PlannedFace(track: f.track, region: region, encodedRegion: coded, qp: q)
            }
            return PlannedFrame(backgroundQP: background, faces: planned)
        }
    }

    /// The constant face-QP ROI plan, the strongest simple baseline: the regions this planner would protect (same
    /// tracks skipped, same upper-face-only tracks, same backgrounds) all at `faceQP`, with no floor, margin or
    /// smoothing. Where `faceQP` is not below a frame's background QP the frame is coded uniformly.
    public func constantPlan(_ input: PlannerInput, faceQP: Int) -> [PlannedFrame] {
        assignedPlan(input) { _, _ in faceQP }
    }
}
