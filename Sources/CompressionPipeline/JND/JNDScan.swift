import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore

/// One face's JND record, as `facejnd jnd measure` prints it (one JSON object per line).
public struct JNDRecord: Sendable, Encodable {
    public struct Point: Sendable, Encodable {
        public var qp: Int
        public var d: Double
        public var bytes: Int
    }
    public var source: String
    public var frame: Int
    public var face: Int
    public var box: [Int]
    public var detector: String
    public var codec: String
    public var mode: String
    public var tau: Double
    public var jndQP: Int
    public var encodes: Int
    public var curve: [Point]

    enum CodingKeys: String, CodingKey {
        case source, frame, face, box, detector, codec, mode, tau, encodes, curve
        case jndQP = "jnd_qp"
    }
}

/// Runs the JND oracle over every face of an image or of every N-th video frame.
public struct JNDScan {
    public var oracle: JNDOracle
    public var detection: DetectorSettings
    public var every: Int

    public init(oracle: JNDOracle, detection: DetectorSettings = .mmod(upsample: 1), every: Int = 1) {
        self.oracle = oracle
        self.detection = detection
        self.every = max(1, every)
    }

    public func run(path: String, isCancelled: () -> Bool = { false }, emit: (JNDRecord) throws -> Void) throws {
        let scan = FaceScan(analyzer: oracle.analyzer, detection: detection, every: every)
        try scan.runImages(path: path, isCancelled: isCancelled) { index, image, faces in
            for (k, face) in faces.enumerated() {
                if isCancelled() { throw CancellationError() }
                let m = try oracle.measure(image, face: face)
                try emit(
                    JNDRecord(
                        source: path, frame: index, face: k, box: [face.box.left, face.box.top, face.box.right, face.box.bottom],
                        detector: detection.kind.rawValue, codec: oracle.codec, mode: oracle.mode.rawValue, tau: oracle.tau, jndQP: m.jndQP,
                        encodes: m.encodes,
                        curve: m.distances.keys.sorted().map { JNDRecord.Point(qp: $0, d: m.distances[$0]!, bytes: m.bytes[$0]!) }))
            }
        }
    }
}
