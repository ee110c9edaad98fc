import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import RateControl
import TensorCore

/// How a face is encoded when measuring its JND.
public enum JNDMode: String, Sendable, CaseIterable, Codable {
    /// The face's region (everything its aligned chip is sampled from, block-aligned) encoded alone as an intra
    /// picture: fast.
    case crop
    /// The whole frame encoded as an intra picture, the face region at q and the rest at the background QP: exact
    /// for the way `encode` spends bits.
    case context
}

/// The measured JND of one face: d(q) for every QP tried and the JND QP.
public struct JNDMeasurement: Sendable, Codable, Equatable {
    /// QP → embedding distance ‖e0 − e(q)‖ (only the QPs the search evaluated).
    public var distances: [Int: Double]
    /// Coded bytes of the face region (crop mode) or of the frame (context mode) at each evaluated QP.
    public var bytes: [Int: Int]
    /// The largest q with d(q′) ≤ τ for every q′ ≤ q; `qpRange.lowerBound − 1` if even the lowest QP is noticeable.
    public var jndQP: Int
    /// Number of encodes the search needed.
    public var encodes: Int
}

/// The FR-JND oracle: measures, by trial encodes, how much compression a face tolerates before the face-recognition
/// model notices (docs/jnd-definitions.md).
///
/// ```
/// d(q) = ‖e0 − e(q)‖₂   e0: descriptor of the original face; e(q): of the same face after encoding at QP q,
///                       both computed with the ORIGINAL landmarks, so only compression changes the chip.
/// JND QP = max { q : d(q′) ≤ τ for every q′ ≤ q }      (the first q with d(q) > τ, minus one)
/// ```
/// d is not monotone in q. The JND is defined by the first crossing from below, so a noisy later dip under τ does
/// not raise it. The default search walks up in steps of `coarseStep` and, at the first coarse failure, tests each QP
/// in the gap below; it assumes d does not cross τ and fall back inside one gap (`exhaustive` tests every QP).
public struct JNDOracle: Sendable {
    public var analyzer: FaceAnalyzer
    public var codec: String
    public var tau: Double
    public var mode: JNDMode
    public var qpRange: ClosedRange<Int>
    /// Background QP for context mode.
    public var backgroundQP: Int
    public var coarseStep: Int
    public var exhaustive: Bool
    public var preset: String

    public init(
        analyzer: FaceAnalyzer, codec: String = "libx264", tau: Double = JNDOracle.defaultTau, mode: JNDMode = .crop,
        qpRange: ClosedRange<Int> = 0...51, backgroundQP: Int = 40, coarseStep: Int = 4, exhaustive: Bool = false,
        preset: String = "medium"
    ) {
        self.analyzer = analyzer
        self.codec = codec
        self.tau = tau
        self.mode = mode
        self.qpRange = qpRange
        self.backgroundQP = backgroundQP
        self.coarseStep = max(1, coarseStep)
        self.exhaustive = exhaustive
        self.preset = preset
    }

    /// FR-noticeable threshold (Euclidean distance between dlib descriptors), calibrated on LFW dev folds 1–4 with
    /// libx264 in crop mode: the largest τ whose verification accuracy stays within 0.1 percentage points of the
    /// uncompressed accuracy (docs/jnd-calibration.md).
    public static let defaultTau = 0.12

    /// The region encoded in crop mode: the chip's source region grown to the 16-pixel block grid, inside the image.
    public static func cropRegion(for face: Face, imageWidth: Int, imageHeight: Int, chipSize: Int = 150) -> FaceBox {
        let src = FaceChip.sourceRegion(
            FaceChip.placement(landmarks: face.landmarks, size: chipSize),
            imageWidth: imageWidth, imageHeight: imageHeight)
        func align(_ lo: Int, _ hi: Int, limit: Int) -> (Int, Int) {
            var a = (lo / 16) * 16
            var b = ((hi + 1 + 15) / 16) * 16  // exclusive
            if b > limit { b = limit - limit % 2 }
            if b - a < 16 { a = max(0, b - 16) }
            if (b - a) % 2 == 1 { a = max(0, a - 1) }
            return (a, b)
        }
        let (x0, x1) = align(src.left, src.right, limit: imageWidth)
        let (y0, y1) = align(src.top, src.bottom, limit: imageHeight)
        return FaceBox(left: x0, top: y0, right: x1 - 1, bottom: y1 - 1)
    }

    /// Everything needed to encode one face repeatedly: the picture to encode, the chip placement in it, e0.
    public final class FaceSession {
        let oracle: JNDOracle
        let source: RGBImage
        let placement: FaceChip.Placement
        let region: FaceBox
        let codec: PictureCodec
        let workspace = Workspace()
        /// The original descriptor.
        public let e0: [Float]

        init(oracle: JNDOracle, image: RGBImage, face: Face) throws {
            self.oracle = oracle
            let chipSize = oracle.analyzer.embedder.chipSize
            let region = JNDOracle.cropRegion(for: face, imageWidth: image.width, imageHeight: image.height, chipSize: chipSize)
            self.region = region
            let picture: RGBImage
            let landmarks: [Point]
            switch oracle.mode {
            case .crop:
                picture = image.cropped(to: region)
                landmarks = face.landmarks.map { Point(x: $0.x - Double(region.left), y: $0.y - Double(region.top)) }
            case .context:
                picture =
                    image.width % 2 == 0 && image.height % 2 == 0
                    ? image
                    : image.cropped(to: FaceBox(left: 0, top: 0, right: (image.width & ~1) - 1, bottom: (image.height & ~1) - 1))
                landmarks = face.landmarks
            }
            let placement = FaceChip.placement(landmarks: landmarks, size: chipSize)
            self.placement = placement
            e0 = oracle.analyzer.embedder.embed(chip: FaceChip.extract(picture, placement), workspace: workspace)
            source = RGBImage(width: picture.width, height: picture.height, pixels: picture.pixels)
            codec = try PictureCodec(codec: oracle.codec, width: picture.width, height: picture.height, preset: oracle.preset)
        }

        /// The face's descriptor after encoding at `q`, and the coded bytes.
        public func encode(at q: Int) throws -> (descriptor: [Float], bytes: Int) {
            let r = try encodePicture(at: q)
            return (r.descriptor, r.bytes)
        }

        /// The picture that was encoded (the crop in crop mode, the frame in context mode).
        public var original: RGBImage { source }

        /// Where the encoded picture lies in the image it came from.
        public var pictureRegion: FaceBox {
            oracle.mode == .crop ? region : FaceBox(left: 0, top: 0, right: source.width - 1, bottom: source.height - 1)
        }

        /// The descriptor of `picture` (the encoded picture's size) at the original landmarks, without encoding.
        public func descriptor(of picture: RGBImage) -> [Float] {
            precondition(picture.width == source.width && picture.height == source.height, "FaceSession: picture size")
            return oracle.analyzer.embedder.embed(chip: FaceChip.extract(picture, placement), workspace: workspace)
        }

        /// Encodes at `q` and returns the decoded picture as well. `substitute`, when given, is encoded instead of
        /// the original (a prefiltered version of it, the same size); the descriptor is still taken at the
        /// original landmarks, to be compared with `e0`.
        public func encodePicture(at q: Int, substitute: RGBImage? = nil) throws -> (decoded: RGBImage, descriptor: [Float], bytes: Int) {
            let picture = substitute ?? source
            precondition(picture.width == source.width && picture.height == source.height, "FaceSession: substitute size")
            let frameQP: FrameQP
            switch oracle.mode {
            case .crop: frameQP = FrameQP(qp: q)
            case .context:
                frameQP = FrameQP(
                    qp: oracle.backgroundQP,
                    regions: [
                        RegionQP(
                            x: region.left, y: region.top, width: region.width,
                            height: region.height, qp: q)
                    ])
            }
            let (decoded, n) = try codec.roundTrip(picture, qp: frameQP)
            let chip = FaceChip.extract(decoded, placement)
            return (decoded, oracle.analyzer.embedder.embed(chip: chip, workspace: workspace), n)
        }
    }

    /// Prepares repeated encodes of one face.
    public func session(_ image: RGBImage, face: Face) throws -> FaceSession {
        try FaceSession(oracle: self, image: image, face: face)
    }

    /// Measures one face of `image` (whose landmarks come from `analyzer`).
    public func measure(_ image: RGBImage, face: Face) throws -> JNDMeasurement {
        let s = try session(image, face: face)
        var distances: [Int: Double] = [:]
        var bytes: [Int: Int] = [:]
        func d(_ q: Int) throws -> Double {
            if let v = distances[q] { return v }
            let (e, n) = try s.encode(at: q)
            let v = Double(descriptorDistance(s.e0, e))
            distances[q] = v
            bytes[q] = n
            return v
        }
        let jnd = try JNDSearch.firstCrossing(range: qpRange, step: exhaustive ? 1 : coarseStep, tau: tau, distance: d)
        return JNDMeasurement(distances: distances, bytes: bytes, jndQP: jnd, encodes: distances.count)
    }
}
