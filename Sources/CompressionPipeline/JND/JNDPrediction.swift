import FaceAnalysis
import Foundation
import MediaIO
import Perception
import TensorCore

/// The learned JND predictor applied to faces found in a picture: the face's crop (the region the oracle encodes in
/// crop mode) goes through the network in one forward pass.
public struct FaceJNDPrediction: Sendable {
    public var region: FaceBox
    public var crop: RGBImage
    public var prediction: JNDModel.Prediction
    /// Wall time of the prediction (crop, sharpness, resize, network, maps).
    public var seconds: Double
}

extension JNDModel {
    /// Predicts the JND of `face` in `image` (its crop region as `JNDOracle.cropRegion` defines it).
    public func predict(_ image: RGBImage, face: Face, chipSize: Int = 150, maps: Bool = false) -> FaceJNDPrediction {
        let start = DispatchTime.now().uptimeNanoseconds
        let region = JNDOracle.cropRegion(for: face, imageWidth: image.width, imageHeight: image.height, chipSize: chipSize)
        let crop = image.cropped(to: region)
        let p = predict(crop: crop, faceWidth: face.box.width, maps: maps)
        return FaceJNDPrediction(
            region: region, crop: crop, prediction: p,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}

/// One face's predicted JND, as `facejnd jnd predict` prints it (one JSON object per line).
public struct JNDPredictionRecord: Sendable, Encodable {
    public var source: String
    public var frame: Int
    public var face: Int
    public var box: [Int]
    public var detector: String
    public var crop: [Int]
    public var codec: String
    public var tau: Double
    public var jndQP: Int
    public var rawQP: Double
    public var milliseconds: Double
    /// PNG files written with `--save-maps`: crop, residual (visualised: 128 + 8 × residual), JND image.
    public var maps: [String: String]?

    enum CodingKeys: String, CodingKey {
        case source, frame, face, box, detector, crop, codec, tau, milliseconds, maps
        case jndQP = "jnd_qp"
        case rawQP = "raw_qp"
    }
}

/// Runs the predictor over every face of an image or of every N-th video frame.
public struct JNDPredictScan {
    public var model: JNDModel
    public var analyzer: FaceAnalyzer
    public var detection: DetectorSettings
    public var every: Int
    /// Where to write the PNG maps (nil: none).
    public var mapsDirectory: String?

    public init(
        model: JNDModel, analyzer: FaceAnalyzer, detection: DetectorSettings = .mmod(upsample: 1), every: Int = 1,
        mapsDirectory: String? = nil
    ) {
        self.model = model
        self.analyzer = analyzer
        self.detection = detection
        self.every = max(1, every)
        self.mapsDirectory = mapsDirectory
    }

    /// Residual map as a picture: mid-grey is zero, each level of residual is 8 grey levels.
    public static func visualise(_ residual: [Float], width: Int, height: Int) -> RGBImage {
        RGBImage(width: width, height: height, pixels: residual.map { UInt8(clamping: Int((128 + 8 * $0).rounded())) })
    }

    public func run(path: String, isCancelled: () -> Bool = { false }, emit: (JNDPredictionRecord) throws -> Void) throws {
        if let mapsDirectory { try FileManager.default.createDirectory(atPath: mapsDirectory, withIntermediateDirectories: true) }
        let scan = FaceScan(analyzer: analyzer, detection: detection, every: every)
        let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        try scan.runImages(path: path, isCancelled: isCancelled) { index, image, faces in
            for (k, face) in faces.enumerated() {
                if isCancelled() { throw CancellationError() }
                let p = model.predict(image, face: face, chipSize: analyzer.embedder.chipSize, maps: mapsDirectory != nil)
                var maps: [String: String]? = nil
                if let dir = mapsDirectory {
                    let stem = (dir as NSString).appendingPathComponent("\(base)_f\(index)_\(k)")
                    let w = p.crop.width, h = p.crop.height
                    maps = ["crop": stem + "_crop.png", "residual": stem + "_residual.png", "jnd": stem + "_jnd.png"]
                    try ImageFile.writePNG(RGBImage(width: w, height: h, pixels: p.crop.pixels), to: maps!["crop"]!)
                    try ImageFile.writePNG(JNDPredictScan.visualise(p.prediction.residual, width: w, height: h), to: maps!["residual"]!)
                    try ImageFile.writePNG(RGBImage(width: w, height: h, pixels: p.prediction.jndImage.pixels), to: maps!["jnd"]!)
                }
                let r = p.region
                try emit(
                    JNDPredictionRecord(
                        source: path, frame: index, face: k, box: [face.box.left, face.box.top, face.box.right, face.box.bottom],
                        detector: detection.kind.rawValue, crop: [r.left, r.top, r.right, r.bottom], codec: model.header.codec, tau: model.header.tau,
                        jndQP: p.prediction.qp, rawQP: p.prediction.rawQP, milliseconds: 1000 * p.seconds, maps: maps))
            }
        }
    }
}
