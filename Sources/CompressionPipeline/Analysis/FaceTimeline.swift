import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import RateControl
import Synchronization
import TensorCore

/// A face's measured JND at one frame, kept so that the JND for another τ costs only the encodes it still needs.
public final class JNDProbe: @unchecked Sendable {
    public let track: Int
    public let frame: Int
    /// The face's quality at this frame, when the analysis pass had a quality model.
    public internal(set) var quality: QualityScores?
    /// The face box's width at the probe (pixels of the frame): the segment head's second feature.
    public let faceWidth: Int
    private let oracle: JNDOracle?
    /// The learned predictor, when the JND comes from it (for its τ) rather than from trial encodes.
    private let predictor: JNDModel?
    private let qpRange: ClosedRange<Int>
    private let step: Int
    /// What the oracle encodes: the face's crop-mode region, or the whole frame in context mode. The codec session
    /// is opened only while measuring, so thousands of probes cost their pixels and nothing more.
    private let picture: RGBImage?
    private let face: Face?
    private let lock = NSLock()
    private var distances: [Int: Double] = [:]
    private var cache: [Double: Int] = [:]

    init(track: Int, frame: Int, image: RGBImage, face: Face, oracle: JNDOracle, predictor: JNDModel? = nil) {
        self.track = track
        self.frame = frame
        self.oracle = oracle
        self.predictor = predictor
        faceWidth = face.box.width
        qpRange = oracle.qpRange
        step = oracle.exhaustive ? 1 : oracle.coarseStep
        // The predictor works on the crop-mode region, like the oracle it was trained on.
        switch predictor == nil ? oracle.mode : .crop {
        case .context:
            picture = image
            self.face = face
        case .crop:
            let r = JNDOracle.cropRegion(
                for: face, imageWidth: image.width, imageHeight: image.height,
                chipSize: oracle.analyzer.embedder.chipSize)
            picture = image.cropped(to: r)
            var f = face
            f.landmarks = face.landmarks.map { Point(x: $0.x - Double(r.left), y: $0.y - Double(r.top)) }
            f.box = FaceBox(left: f.box.left - r.left, top: f.box.top - r.top, right: f.box.right - r.left, bottom: f.box.bottom - r.top)
            self.face = f
        }
    }

    /// A probe with a known d(q) curve (tests and replays: no oracle, no encodes).
    public init(track: Int, frame: Int, curve: [Int: Double], qpRange: ClosedRange<Int> = 0...51, step: Int = 4, faceWidth: Int = 100) {
        self.track = track
        self.frame = frame
        self.faceWidth = faceWidth
        oracle = nil
        predictor = nil
        picture = nil
        face = nil
        self.qpRange = qpRange
        self.step = step
        distances = curve
    }

    /// The JND QP for threshold `tau` (first crossing, coarse-to-fine; docs/jnd-definitions.md).
    public func jndQP(tau: Double) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        if let v = cache[tau] { return v }
        if let predictor, abs(predictor.header.tau - tau) < 1e-9, let v = prediction(by: predictor) {
            cache[tau] = v
            return v
        }
        var opened: JNDOracle.FaceSession? = nil
        func session(for q: Int) throws -> JNDOracle.FaceSession {
            if let opened { return opened }
            guard let oracle, let picture, let face else { throw PipelineError.probeHasNoOracle(track: track, frame: frame, qp: q) }
            let s = try oracle.session(picture, face: face)
            opened = s
            return s
        }
        let v = try JNDSearch.firstCrossing(range: qpRange, step: step, tau: tau) { q in
            if let d = distances[q] { return d }
            let s = try session(for: q)
            let d = Double(descriptorDistance(s.e0, try s.encode(at: q).descriptor))
            distances[q] = d
            return d
        }
        cache[tau] = v
        return v
    }

    /// What `model` predicts for this probe's crop, whatever the probe's own JND comes from (nil in context mode,
    /// where the probe keeps the whole frame: the predictor reads crops).
    public func predictedJNDQP(_ model: JNDModel) -> Int? {
        guard predictor != nil || oracle?.mode == .crop else { return nil }
        return prediction(by: model)
    }

    /// `model`'s JND QP for the probe's picture, kept within one under the range to its top.
    private func prediction(by model: JNDModel) -> Int? {
        guard let picture, let face else { return nil }
        return max(qpRange.lowerBound - 1, min(qpRange.upperBound, model.predict(crop: picture, faceWidth: face.box.width, maps: false).qp))
    }

    /// Whether the JND for `tau` comes from the learned predictor.
    public func isPredicted(tau: Double) -> Bool { predictor.map { abs($0.header.tau - tau) < 1e-9 } ?? false }

    /// Trial encodes made so far.
    public var encodes: Int { lock.withLock { distances.count } }
}

/// Everything the analysis pass learns about a video: each frame's faces (with the original landmarks and
/// descriptors the verification compares against) and the JND probes.
public struct FaceTimeline: Sendable {
    /// Size of the upright pictures the faces were found in (all face geometry is in this orientation).
    public var width: Int
    public var height: Int
    /// Coded pictures → upright pictures (from the container's display matrix).
    public var orientation: Orientation = .upright
    public var frames: [[TrackedFace]]
    public var probes: [JNDProbe]
    public var framesPerSecond: Double
    /// Frames that start a new shot (`SceneCutDetector`), in order; the chunked encode starts chunks there.
    public var sceneCuts: [Int] = []

    public init(width: Int, height: Int, frames: [[TrackedFace]], probes: [JNDProbe], framesPerSecond: Double) {
        self.width = width
        self.height = height
        self.frames = frames
        self.probes = probes
        self.framesPerSecond = framesPerSecond
    }

    public var faceCount: Int { frames.reduce(0) { $0 + $1.count } }
    public var trackIDs: [Int] { Array(Set(frames.flatMap { $0.map(\.track) })).sorted() }

    /// A track's quality: the mean of its probes' scores (nil without a quality model).
    public func quality(track: Int) -> QualityScores? {
        QualityScores.mean(probes(track: track).compactMap(\.quality))
    }

    /// The probes of one track, by frame.
    public func probes(track: Int) -> [JNDProbe] { probes.filter { $0.track == track }.sorted { $0.frame < $1.frame } }
}

/// Builds a `FaceTimeline`: decodes the input once, follows every face, measures each track's JND with the
/// oracle when the track starts and then every `jndEvery` frames.
public struct FaceAnalysisPass: Sendable {
    public var analyzer: FaceAnalyzer
    public var oracle: JNDOracle
    public var detection: DetectorSettings
    public var detectEvery: Int
    /// Between full scans, detect where the picture changed (static cameras; see `MotionGate`).
    public var motionGate = false
    public var jndEvery: Int
    /// JND measurements run while the decode goes on, on this many threads.
    public var threads: Int
    /// Scores each probed face's quality (for the planner's unrecognisable-face and occlusion policies).
    public var quality: QualityScorer? = nil
    /// The learned JND predictor (nil: the oracle's trial encodes).
    public var predictor: JNDModel? = nil
    /// Where final frames are published while the pass runs (the streamed chunked encode).
    var feed: TimelineFeed? = nil
    /// Bytes the fast detector's passes may hold at once (nil: one pass per thread): a streamed encode runs the
    /// analysis beside the chunks, and at 1080p two passes' activations on top of a chunk's frames and encoder break
    /// the 1 GiB bound.
    var detectionMemory: Int? = nil

    public init(
        analyzer: FaceAnalyzer, oracle: JNDOracle, detection: DetectorSettings = .fast(), detectEvery: Int = 5, jndEvery: Int = 30,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.analyzer = analyzer
        self.oracle = oracle
        self.detection = detection
        self.detectEvery = detectEvery
        self.jndEvery = max(1, jndEvery)
        self.threads = threads
    }

    /// Detector passes run at once on `width`×`height` pictures: one per thread, or as many as `budget` bytes of
    /// the fast detector's activations allow (at least one).
    static func detectionWorkers(threads: Int, width: Int, height: Int, detection: DetectorSettings, budget: Int?) -> Int {
        guard let budget, detection.kind == .fast else { return threads }
        let perPass = CenterFaceDetector.activationBytes(width: width, height: height, minFace: detection.minFace)
        return max(1, min(threads, budget / max(1, perPass)))
    }

    public func run(path: String, progress: (Int, Int?) -> Void = { _, _ in }, isCancelled: () -> Bool = { false }) throws -> FaceTimeline {
        let source = try PictureSource(path: path)
        let workspace = Workspace()
        var tracker = FaceTracker(analyzer: analyzer, detection: detection, detectEvery: detectEvery)
        if motionGate { tracker.motionGate = MotionGate() }
        var frames: [[TrackedFace]] = []
        var probes: [JNDProbe] = []
        var lastProbe: [Int: Int] = [:]
        var width = 0, height = 0
        let batch = ChipBatch<(frame: Int, face: Int)>(embedder: analyzer.embedder, threads: threads)
        func store(_ done: [((frame: Int, face: Int), [Float])]) {
            for (k, e) in done { frames[k.frame][k.face].face.embedding = e }
        }
        // The last frames before the current one: a face first detected now is followed back through them, so the
        // frames between its appearance and its first detection are protected too.
        var history: [(index: Int, image: RGBImage)] = []
        var seenTracks = Set<Int>()
        var cuts = SceneCutDetector()
        func followBack(_ face: TrackedFace, from image: RGBImage) throws {
            let chipSize = analyzer.embedder.chipSize
            func descriptor(_ f: Face, in img: RGBImage) -> [Float] {
                analyzer.embedder.embed(chip: FaceChip.extract(img, FaceChip.placement(landmarks: f.landmarks, size: chipSize)), workspace: workspace)
            }
            let reference = descriptor(face.face, in: image)
            var current = face
            for (idx, img) in history.reversed() {
                guard let previous = tracker.follow(current, in: img),
                    !frames[idx].contains(where: { $0.face.box.iou(previous.face.box) >= 0.3 })
                else { return }
                // Stop where the face is not there yet: its chip no longer shows the same person. The descriptor
                // that decides is the face's original descriptor at this frame, so it is kept, not computed again.
                let embedding = descriptor(previous.face, in: img)
                guard descriptorDistance(reference, embedding) < 0.4 else { return }
                var back = previous
                back.detected = false
                back.face.embedding = embedding
                frames[idx].append(back)
                current = back
            }
        }
        func process(_ index: Int, _ image: RGBImage, _ detections: [Detection]?) throws {
            cuts.add(image, index: index)
            let faces = try tracker.step(image, detections: detections, workspace: workspace)
            for f in faces where !seenTracks.contains(f.track) {
                seenTracks.insert(f.track)
                try followBack(f, from: image)
            }
            history.append((index, image))
            if history.count >= tracker.detectEvery { history.removeFirst() }
            for f in faces where lastProbe[f.track].map({ index - $0 >= jndEvery }) ?? true {
                lastProbe[f.track] = index
                let probe = JNDProbe(track: f.track, frame: index, image: image, face: f.face, oracle: oracle, predictor: predictor)
                if let quality {
                    let chip = FaceChip.extract(image, FaceChip.placement(landmarks: f.face.landmarks, size: analyzer.embedder.chipSize))
                    probe.quality = quality.scores(analyzer.embedder.analyze(chip: chip, workspace: workspace))
                }
                probes.append(probe)
            }
            frames.append(faces)
            for (i, f) in faces.enumerated() {
                let chip = FaceChip.extract(image, FaceChip.placement(landmarks: f.face.landmarks, size: analyzer.embedder.chipSize))
                store(try batch.add((index, i), chip: chip))
            }
        }
        // Frames wait in a short queue so that the detector can run on several detection frames at once, one
        // single-threaded pass per core (a single pass keeps only ~1.3 of 2 cores busy).
        var pending: [(index: Int, image: RGBImage)] = []
        // Detector passes run at once (fewer at 1080p under a detection budget), and as many detection frames wait
        // for them as they take (the frames wait as RGB); both set from the first frame's size.
        var workers = max(threads, 1)
        var chunk = workers * tracker.detectEvery
        let analyzer = self.analyzer, detection = self.detection
        func drain() throws {
            let keys = pending.filter { tracker.isDetectionFrame($0.index) }
            let found = Mutex<[Int: [Detection]]>([:])
            try ParallelWork.forEach(count: keys.count, threads: workers) { k, ws in
                let d = try analyzer.detect(keys[k].image, with: detection, workspace: ws)
                found.withLock { $0[keys[k].index] = d }
            }
            let detections = found.withLock { $0 }
            for p in pending { try process(p.index, p.image, detections[p.index]) }
            pending.removeAll(keepingCapacity: true)
            if let feed {
                // Final: out of the follow-back's reach (it looks back through `history`) and embedded.
                let embedded = batch.waiting.map(\.frame).min() ?? frames.count
                try feed.publish(
                    final: max(0, min(frames.count - tracker.detectEvery, embedded)), frames: frames, probes: probes, cuts: cuts.cuts)
                // Where the detection budget holds the passes back, memory is tight: give freed memory back.
                if workers < max(threads, 1) { HeapTrim.giveBack() }
            }
        }
        try source.forEachFrame(isCancelled: isCancelled) { index, frame in
            let image = try source.picture(frame)
            if index == 0 {
                (width, height) = (image.width, image.height)
                workers = Self.detectionWorkers(
                    threads: max(threads, 1), width: width, height: height, detection: detection, budget: detectionMemory)
                chunk = workers * tracker.detectEvery
                feed?.start(
                    width: width, height: height, orientation: source.orientation,
                    framesPerSecond: source.video.framesPerSecond > 0 ? source.video.framesPerSecond : 25)
            }
            pending.append((index, image))
            if pending.count >= chunk { try drain() }
            progress(index + 1, source.video.frameCount)
            return true
        }
        try drain()
        store(try batch.flush())
        guard !frames.isEmpty else { throw PipelineError.noFrames(path: path) }
        let fps = source.video.framesPerSecond > 0 ? source.video.framesPerSecond : 25
        var timeline = FaceTimeline(width: width, height: height, frames: frames, probes: probes, framesPerSecond: fps)
        timeline.orientation = source.orientation
        timeline.sceneCuts = cuts.cuts
        return timeline
    }
}

extension FaceTimeline {
    /// Measures every probe's JND for `tau` in parallel (the oracle's trial encodes).
    public func measure(
        tau: Double, threads: Int, progress: @Sendable (Int, Int) -> Void = { _, _ in },
        isCancelled: @Sendable @escaping () -> Bool = { false }
    ) throws {
        let probes = self.probes
        try ParallelWork.forEach(count: probes.count, threads: threads, progress: progress) { i, _ in
            if isCancelled() { throw CancellationError() }
            _ = try probes[i].jndQP(tau: tau)
        }
    }
}

extension FaceTimeline {
    /// What the planner needs, as plain values: each face's region (the crop the oracle encodes, on the block grid)
    /// and each track's JND samples for `tau` (measured here if `measure` has not run). With `head`, a JND the
    /// predictor gave becomes the head's in-video segment JND; a measured one is kept.
    public func plannerInput(tau: Double, chipSize: Int, head: SegmentJNDHead? = nil) throws -> PlannerInput {
        let faces = frames.map {
            $0.map { f in
                PlannerFace(track: f.track, region: JNDOracle.cropRegion(for: f.face, imageWidth: width, imageHeight: height, chipSize: chipSize))
            }
        }
        var jnd: [Int: [JNDSample]] = [:]
        for track in trackIDs {
            jnd[track] = try probes(track: track).map { p in
                let q = try p.jndQP(tau: tau)
                guard let head, p.isPredicted(tau: tau) else { return JNDSample(frame: p.frame, jndQP: q) }
                return JNDSample(frame: p.frame, jndQP: head.inVideoQP(cropQP: q, faceWidth: Double(p.faceWidth)))
            }
        }
        return PlannerInput(width: width, height: height, orientation: orientation, frames: faces, jnd: jnd)
    }
}
