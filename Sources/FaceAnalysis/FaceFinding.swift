import Foundation
import NeuralNet
import TensorCore

/// Which detector finds faces, and its knobs.
public struct DetectorSettings: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Equatable, Codable, CaseIterable {
        /// CenterFace: small faces, fast; boxes mapped to dlib's convention.
        case fast
        /// dlib's MMOD: the parity reference; faces of about 80 px and up at upsample 0.
        case mmod
    }

    public var kind: Kind
    /// MMOD: how many times the picture is enlarged 2× first (each step finds faces half as large, costs ~4×).
    public var upsample: Int
    /// Fast detector: the smallest face wanted, in pixels of the original picture.
    public var minFace: Double
    /// Fast detector: the lowest heatmap score accepted.
    public var threshold: Float

    public init(kind: Kind, upsample: Int = 0, minFace: Double = 20, threshold: Float = 0.4) {
        self.kind = kind
        self.upsample = upsample
        self.minFace = minFace
        self.threshold = threshold
    }

    public static func mmod(upsample: Int) -> DetectorSettings { DetectorSettings(kind: .mmod, upsample: upsample) }
    public static func fast(minFace: Double = 20) -> DetectorSettings { DetectorSettings(kind: .fast, minFace: minFace) }

    /// A short name for reports: `mmod (upsample 1)`, `fast (min-face 20 px)`.
    public var summary: String {
        switch kind {
        case .mmod: return "mmod (upsample \(upsample))"
        case .fast: return "fast (min-face \(Int(minFace)) px)"
        }
    }
}

/// Maps a fast-detector box to the box MMOD would draw around the same face, so that dlib's 5-point shape
/// predictor (trained on MMOD's boxes) starts from the placement it expects:
///
/// ```
/// centre_x = cx + dx·w,   centre_y = cy + dy·h,   side = scale·√(w·h)      (MMOD's boxes are square)
/// ```
/// fitted on matched pairs (`facejnd detector-study`, docs/detector.md).
public struct BoxMap: Sendable, Equatable, Codable {
    public var dx: Double
    public var dy: Double
    public var scale: Double

    public init(dx: Double, dy: Double, scale: Double) {
        self.dx = dx
        self.dy = dy
        self.scale = scale
    }

    /// Fitted on the shared frames, every 10th frame of the shared clips and 500 LFW images: medians over 789 matched
    /// pairs (`facejnd detector-study`, docs/detector.md).
    public static let fitted = BoxMap(dx: -0.0538, dy: -0.0265, scale: 0.9313)

    /// dlib's inclusive integer box for `d`.
    public func dlibBox(_ d: FastDetection) -> FaceBox {
        let cx = (d.left + d.right) / 2 + dx * d.width, cy = (d.top + d.bottom) / 2 + dy * d.height
        let side = max(1, (scale * (d.width * d.height).squareRoot()).rounded())
        let left = Int((cx - side / 2).rounded()), top = Int((cy - side / 2).rounded())
        return FaceBox(left: left, top: top, right: left + Int(side) - 1, bottom: top + Int(side) - 1)
    }

    /// The medians of each parameter over matched (fast, MMOD) pairs: robust to the odd mismatched pair.
    public static func fit(_ pairs: [(fast: FastDetection, mmod: FaceBox)]) -> BoxMap? {
        guard !pairs.isEmpty else { return nil }
        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        let dx = pairs.map { p in (Double(p.mmod.left + p.mmod.right + 1) / 2 - (p.fast.left + p.fast.right) / 2) / p.fast.width }
        let dy = pairs.map { p in (Double(p.mmod.top + p.mmod.bottom + 1) / 2 - (p.fast.top + p.fast.bottom) / 2) / p.fast.height }
        let s = pairs.map { p in (Double(p.mmod.width) * Double(p.mmod.height)).squareRoot() / (p.fast.width * p.fast.height).squareRoot() }
        return BoxMap(dx: median(dx), dy: median(dy), scale: median(s))
    }
}

extension FaceAnalyzer {
    /// Faces found by the chosen detector, as dlib-convention boxes with the detector's score.
    /// - Throws: `ModelMissingError` when the fast detector is asked for and `centerface.onnx` is not installed.
    public func detect(_ image: RGBImage, with settings: DetectorSettings, workspace: Workspace = Workspace()) throws -> [Detection] {
        switch settings.kind {
        case .mmod:
            return try detector.detect(image, upsample: settings.upsample, workspace: workspace)
        case .fast:
            let fast = try fastDetector()
            return try fast.detect(image, minFace: settings.minFace, threshold: settings.threshold, workspace: workspace).map {
                Detection(box: BoxMap.fitted.dlibBox($0), confidence: $0.score)
            }
        }
    }

    /// Detects every face with the chosen detector and describes it.
    public func analyze(_ image: RGBImage, with settings: DetectorSettings, workspace: Workspace = Workspace()) throws -> [Face] {
        try detect(image, with: settings, workspace: workspace).map { d in
            try describe(image, box: d.box, confidence: d.confidence, workspace: workspace)
        }
    }
}
