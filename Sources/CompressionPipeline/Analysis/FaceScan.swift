import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore

/// One picture's faces, as `facejnd faces` prints them (one JSON object per line).
public struct FaceRecord: Sendable, Encodable {
    public struct FaceEntry: Sendable, Encodable {
        public var box: [Int]
        public var confidence: Float
        public var landmarks: [[Double]]
        public var embedding: [Float]
    }

    public var source: String
    public var frame: Int
    public var width: Int
    public var height: Int
    /// "mmod" or "fast".
    public var detector: String
    public var faces: [FaceEntry]

    public init(source: String, frame: Int, width: Int, height: Int, detector: DetectorSettings.Kind, faces: [Face]) {
        self.source = source
        self.detector = detector.rawValue
        self.frame = frame
        self.width = width
        self.height = height
        self.faces = faces.map {
            FaceEntry(
                box: [$0.box.left, $0.box.top, $0.box.right, $0.box.bottom], confidence: $0.confidence,
                landmarks: $0.landmarks.map { [$0.x, $0.y] }, embedding: $0.embedding)
        }
    }
}

/// Runs face analysis over an image or every N-th frame of a video.
public struct FaceScan {
    public var analyzer: FaceAnalyzer
    public var detection: DetectorSettings
    public var every: Int

    public init(analyzer: FaceAnalyzer, detection: DetectorSettings = .mmod(upsample: 1), every: Int = 1) {
        self.analyzer = analyzer
        self.detection = detection
        self.every = max(1, every)
    }

    /// Calls `emit` for each analysed picture in order.
    public func run(path: String, isCancelled: () -> Bool = { false }, emit: (FaceRecord) throws -> Void) throws {
        try runImages(path: path, isCancelled: isCancelled) { index, image, faces in
            try emit(FaceRecord(source: path, frame: index, width: image.width, height: image.height, detector: detection.kind, faces: faces))
        }
    }

    /// Calls `body` with each analysed picture's index, pixels and faces.
    public func runImages(
        path: String, isCancelled: () -> Bool = { false },
        body: (Int, RGBImage, [Face]) throws -> Void
    ) throws {
        let source = try PictureSource(path: path, libjpegCompatible: true)
        let workspace = Workspace()
        // A JPEG picture: decoded exactly as libjpeg does when it is baseline (see ImageFile.loadRGB).
        if let still = try source.libjpegStill() {
            try body(0, still, try analyzer.analyze(still, with: detection, workspace: workspace))
            return
        }
        try source.forEachFrame(isCancelled: isCancelled) { index, frame in
            guard index % every == 0 else { return true }
            let image = try source.picture(frame)
            let faces = try analyzer.analyze(image, with: detection, workspace: workspace)
            try body(index, image, faces)
            return true
        }
    }
}
