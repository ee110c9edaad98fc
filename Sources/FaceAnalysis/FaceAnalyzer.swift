import Foundation
import NeuralNet
import Synchronization
import TensorCore

/// Everything facejnd knows about one face in one picture.
public struct Face: Sendable, Equatable {
    public var box: FaceBox
    public var confidence: Float
    /// The 5 landmarks (integer pixel positions).
    public var landmarks: [Point]
    /// The 128-D descriptor of the aligned chip.
    public var embedding: [Float]

    public init(box: FaceBox, confidence: Float, landmarks: [Point], embedding: [Float]) {
        self.box = box
        self.confidence = confidence
        self.landmarks = landmarks
        self.embedding = embedding
    }
}

/// Detector, landmarks, chip and descriptor together: dlib's `face_recognition` pipeline.
public final class FaceAnalyzer: Sendable {
    public let detector: FaceDetector
    public let landmarks: LandmarkPredictor
    public let embedder: FaceEmbedder
    private let models: ModelDirectory
    /// CenterFace, loaded on first use (most studies and the parity tools never need it).
    private let fast = Mutex<CenterFaceDetector?>(nil)

    /// Loads dlib's three models (CenterFace waits until the fast detector is first asked for).
    /// - Throws: `ModelMissingError` (says how to fetch them) or `ModelFormatError`.
    public init(models: ModelDirectory = .default) throws {
        self.models = models
        detector = try FaceDetector(models: models)
        landmarks = try LandmarkPredictor(models: models)
        embedder = try FaceEmbedder(models: models)
    }

    /// The fast detector, loading it the first time.
    /// - Throws: `ModelMissingError` or `ONNXFileError` for a missing or unusable `centerface.onnx`.
    public func fastDetector() throws -> CenterFaceDetector {
        try fast.withLock { loaded in
            if let loaded { return loaded }
            let d = try CenterFaceDetector(models: models)
            loaded = d
            return d
        }
    }

    /// Detects every face and describes it.
    public func analyze(_ image: RGBImage, upsample: Int = 1, workspace: Workspace = Workspace()) throws -> [Face] {
        try analyze(image, with: .mmod(upsample: upsample), workspace: workspace)
    }

    /// The face whose box centre is nearest the image centre (the convention for one-person photos such as LFW),
    /// or nil when there is none.
    public func centralFace(_ image: RGBImage, upsample: Int = 1, workspace: Workspace = Workspace()) throws -> Face? {
        let cx = Double(image.width) / 2, cy = Double(image.height) / 2
        func distance(_ d: Detection) -> Double { hypot(d.box.center.x - cx, d.box.center.y - cy) }
        guard let best = try detector.detect(image, upsample: upsample, workspace: workspace).min(by: { distance($0) < distance($1) })
        else { return nil }
        return try describe(image, box: best.box, confidence: best.confidence, workspace: workspace)
    }

    /// Landmarks, chip and descriptor for a known box.
    public func describe(_ image: RGBImage, box: FaceBox, confidence: Float = 0, workspace: Workspace = Workspace()) throws -> Face {
        let pts = landmarks.predict(image, box: box)
        let chip = FaceChip.extract(image, FaceChip.placement(landmarks: pts, size: embedder.chipSize))
        return Face(box: box, confidence: confidence, landmarks: pts, embedding: embedder.embed(chip: chip, workspace: workspace))
    }
}
