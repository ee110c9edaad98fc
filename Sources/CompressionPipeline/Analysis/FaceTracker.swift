import FaceAnalysis
import Foundation
import NeuralNet
import TensorCore

/// One face in one frame, with the track it belongs to.
public struct TrackedFace: Sendable, Equatable {
    /// Stable across the frames in which the face is followed.
    public var track: Int
    public var face: Face
    /// True on frames where the detector found the face; false where it was followed by landmark re-fitting.
    public var detected: Bool

    public init(track: Int, face: Face, detected: Bool) {
        self.track = track
        self.face = face
        self.detected = detected
    }
}

/// Knows every frame's faces without running the detector on every frame.
///
/// The detector (about 180 ms per 640×480 frame) runs every `detectEvery` frames; in between, each face is followed
/// by re-fitting the 5-point shape predictor (well under 1 ms) around its previous box and moving the box by the
/// landmarks' displacement. Detections are matched to followed faces by box overlap, so a face keeps its track id
/// across detections. A followed face that a detection misses is kept for `graceDetections` more detection cycles
/// (the detector misses turned or blurred faces now and then) and dropped when none confirms it.
public struct FaceTracker {
    public var analyzer: FaceAnalyzer
    public var detection: DetectorSettings
    public var detectEvery: Int
    /// Minimum IoU between a detection and a followed face's box to continue the track.
    public var matchIoU: Double = 0.3
    /// Detection cycles a followed face survives without being detected.
    public var graceDetections = 1
    /// Between full scans, detect on the areas that changed and around live faces (static cameras); nil: follow only.
    public var motionGate: MotionGate? = nil

    private var live: [TrackedFace] = []
    private var misses: [Int: Int] = [:]
    private var nextTrack = 0
    private var frame = 0

    public init(analyzer: FaceAnalyzer, detection: DetectorSettings = .fast(), detectEvery: Int = 5) {
        self.analyzer = analyzer
        self.detection = detection
        self.detectEvery = max(1, detectEvery)
    }

    /// The faces of the next frame (frames must be given in order), with boxes and landmarks; descriptors are left
    /// empty for the caller to compute (in parallel batches).
    /// `detections`: the detector's output for this frame when the caller ran it already (it is used only on
    /// detection frames; nil: the tracker runs the detector itself).
    public mutating func step(_ image: RGBImage, detections known: [Detection]? = nil, workspace: Workspace) throws -> [TrackedFace] {
        defer { frame += 1 }
        let followed = live.compactMap { follow($0, in: image) }
        if isDetectionFrame(frame) {
            let detections = try known ?? analyzer.detect(image, with: detection, workspace: workspace)
            var unclaimed = Array(followed.indices)
            var result: [TrackedFace] = []
            for d in detections.sorted(by: { $0.confidence > $1.confidence }) {
                let best = unclaimed.max { followed[$0].face.box.iou(d.box) < followed[$1].face.box.iou(d.box) }
                let track: Int
                if let best, followed[best].face.box.iou(d.box) >= matchIoU {
                    track = followed[best].track
                    unclaimed.removeAll { $0 == best }
                } else {
                    track = nextTrack
                    nextTrack += 1
                }
                let face = Face(box: d.box, confidence: d.confidence, landmarks: analyzer.landmarks.predict(image, box: d.box), embedding: [])
                result.append(TrackedFace(track: track, face: face, detected: true))
                misses[track] = 0
            }
            for i in unclaimed
            where misses[followed[i].track, default: 0] < graceDetections
                && !result.contains(where: { $0.face.box.iou(followed[i].face.box) >= matchIoU })
            {
                misses[followed[i].track, default: 0] += 1
                result.append(followed[i])
            }
            live = result
            _ = motionGate?.regions(image)  // keeps the gate's previous picture current
        } else {
            live = followed
            if motionGate != nil, let regions = motionGate!.regions(image, excluding: followed.map(\.face.box)) {
                try detectGated(image, in: regions, workspace: workspace)
            }
        }
        return live.sorted { $0.track < $1.track }
    }

    /// Detects inside `regions` only: a detection that matches a followed face refreshes it, any other starts a track.
    private mutating func detectGated(_ image: RGBImage, in regions: [FaceBox], workspace: Workspace) throws {
        var detections: [Detection] = []
        for r in regions {
            for var d in try analyzer.detect(image.cropped(to: r), with: detection, workspace: workspace) {
                d.box = FaceBox(left: d.box.left + r.left, top: d.box.top + r.top, right: d.box.right + r.left, bottom: d.box.bottom + r.top)
                // Regions overlap only at their margins; keep one copy of a face found twice.
                if !detections.contains(where: { $0.box.iou(d.box) >= matchIoU }) { detections.append(d) }
            }
        }
        for d in detections.sorted(by: { $0.confidence > $1.confidence }) {
            let face = Face(box: d.box, confidence: d.confidence, landmarks: analyzer.landmarks.predict(image, box: d.box), embedding: [])
            if let i = live.indices.max(by: { live[$0].face.box.iou(d.box) < live[$1].face.box.iou(d.box) }),
                live[i].face.box.iou(d.box) >= matchIoU
            {
                if !live[i].detected { live[i] = TrackedFace(track: live[i].track, face: face, detected: true) }
                misses[live[i].track] = 0
            } else {
                live.append(TrackedFace(track: nextTrack, face: face, detected: true))
                misses[nextTrack] = 0
                nextTrack += 1
            }
        }
    }

    /// Whether the detector runs on frame `index`.
    public func isDetectionFrame(_ index: Int) -> Bool { index % detectEvery == 0 }

    /// Moves a face to where it is in the next frame: fit landmarks around the old box, shift the box by the mean
    /// landmark displacement, fit again. Returns nil when the face has left the picture.
    func follow(_ t: TrackedFace, in image: RGBImage) -> TrackedFace? {
        var box = t.face.box
        var landmarks = t.face.landmarks
        for _ in 0..<2 {
            let fitted = analyzer.landmarks.predict(image, box: box)
            let dx = zip(fitted, landmarks).map { $0.x - $1.x }.reduce(0, +) / Double(fitted.count)
            let dy = zip(fitted, landmarks).map { $0.y - $1.y }.reduce(0, +) / Double(fitted.count)
            box = FaceBox(
                left: box.left + Int(dx.rounded()), top: box.top + Int(dy.rounded()),
                right: box.right + Int(dx.rounded()), bottom: box.bottom + Int(dy.rounded()))
            landmarks = fitted
        }
        let inside = box.intersection(FaceBox(left: 0, top: 0, right: image.width - 1, bottom: image.height - 1))
        guard Double(inside.area) >= 0.5 * Double(box.area) else { return nil }
        var next = t
        next.detected = false
        next.face.box = box
        next.face.landmarks = analyzer.landmarks.predict(image, box: box)
        return next
    }
}
