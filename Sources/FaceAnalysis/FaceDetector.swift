import Foundation
import NeuralNet
import TensorCore

/// A detected face: dlib's inclusive integer box and the detector's score.
public struct Detection: Sendable, Equatable {
    public var box: FaceBox
    public var confidence: Float
}

/// Why detection refused an image.
public enum DetectionError: Error, CustomStringConvertible, Equatable, Sendable {
    case imageTooLarge(width: Int, height: Int, limitPixels: Int)

    public var description: String {
        switch self {
        case .imageTooLarge(let w, let h, let limit):
            return "image of \(w)x\(h) (after upsampling) exceeds the detector's limit of \(limit) pixels; downscale it or use a lower --upsample"
        }
    }
}

/// dlib's MMOD CNN face detector (`mmod_human_face_detector.dat`): a sliding 80×80 window over a tiled image
/// pyramid (scale 5/6 per level), scores > 0 are faces, greedy non-maximum suppression (specs/dlib-models.md §7).
///
/// Immutable and `Sendable`; pass a `Workspace` per thread.
public final class FaceDetector: Sendable {
    let network: DlibNetwork
    let mean: (Float, Float, Float)
    let windowWidth: Int
    let windowHeight: Int
    let nmsIoU: Double
    let nmsCovered: Double
    /// Maps a score-map cell to input-tensor coordinates: x = scale·c + offset (same for y).
    let cellScale: Int
    let cellOffset: Int
    /// Largest (upsampled) image accepted, in pixels; bigger ones are refused rather than exhausting memory.
    public let maxPixels: Int

    static let pyramidPadding = 10
    static let pyramidOuterPadding = 11

    public convenience init(models: ModelDirectory = .default, maxPixels: Int = 4096 * 4096) throws {
        try self.init(
            bytes: try models.bytes(ModelDirectory.detectorFile), file: models.file(ModelDirectory.detectorFile),
            maxPixels: maxPixels)
    }

    public init(bytes: [UInt8], file: String, maxPixels: Int = 4096 * 4096) throws {
        self.maxPixels = maxPixels
        var r = DlibArchiveReader(bytes: bytes, file: file)
        let v = try r.int("loss wrapper version")
        guard v == 1 else { throw r.fail("loss wrapper version 1, got \(v)", at: 0) }
        try r.expect("loss_mmod_")
        let optStart = r.offset
        let optVersion = try r.int("mmod_options version")
        guard optVersion == 1 else { throw r.fail("mmod_options version 1 (a single detector window), got \(optVersion)", at: optStart) }
        windowWidth = try r.count("detector window width", limit: 4096)
        windowHeight = try r.count("detector window height", limit: 4096)
        _ = try r.real("loss_per_false_alarm")
        _ = try r.real("loss_per_missed_target")
        _ = try r.real("truth_match_iou_threshold")
        nmsIoU = try r.real("overlaps_nms.iou_thresh")
        nmsCovered = try r.real("overlaps_nms.percent_covered_thresh")
        _ = try r.real("overlaps_ignore.iou_thresh")
        _ = try r.real("overlaps_ignore.percent_covered_thresh")
        let (input, net) = try DlibNetworkParser.parse(&r)
        guard input.kind == "input_rgb_image_pyramid" else { throw r.fail("an input_rgb_image_pyramid input layer", at: 0) }
        mean = input.mean
        network = net
        // Compose p → p·stride − pad + k/2 from the last layer down to the first.
        var scale = 1, offset = 0
        for op in net.operations.reversed() {
            if case .conv(let c) = op {
                offset = offset * c.strideX - c.padX + c.kernelW / 2
                scale *= c.strideX
            } else if case .pool(let p) = op {
                offset = offset * p.strideX - p.padX + p.kernelW / 2
                scale *= p.strideX
            }
        }
        cellScale = scale
        cellOffset = offset
    }

    /// Finds faces in `image`, after enlarging it 2× `upsample` times (finds smaller faces, costs ~4× per step).
    /// Boxes are in the original image's coordinates.
    /// - Throws: `DetectionError.imageTooLarge` when the (upsampled) image exceeds `maxPixels`.
    public func detect(_ image: RGBImage, upsample: Int = 0, workspace: Workspace = Workspace()) throws -> [Detection] {
        precondition(upsample >= 0, "upsample must be ≥ 0")
        var img = image
        for _ in 0..<upsample {
            let (w, h) = FaceDetector.upsampledSize(width: img.width, height: img.height)
            guard w * h <= maxPixels else { throw DetectionError.imageTooLarge(width: w, height: h, limitPixels: maxPixels) }
            img = FaceDetector.resizeBilinear(img, width: w, height: h)
        }
        guard img.width * img.height <= maxPixels else {
            throw DetectionError.imageTooLarge(width: img.width, height: img.height, limitPixels: maxPixels)
        }
        guard img.width > 0, img.height > 0 else { return [] }
        var dets = detectAtScale(img, workspace: workspace)
        for _ in 0..<upsample {
            dets = dets.map {
                var d = $0
                d.box = FaceBox(
                    left: roundHalfAway(Double(d.box.left) / 2 - 1.25), top: roundHalfAway(Double(d.box.top) / 2 - 0.75),
                    right: roundHalfAway(Double(d.box.right) / 2 - 1.25), bottom: roundHalfAway(Double(d.box.bottom) / 2 - 0.75))
                return d
            }
        }
        return dets
    }

    /// Size after one `pyramid_up` step: (0,0) ↦ (2.5, 1.5), (w−1, h−1) ↦ 2·(w−1+1.25, h−1+0.75), rounded.
    static func upsampledSize(width: Int, height: Int) -> (Int, Int) {
        (roundHalfAway(2 * (Double(width - 1) + 1.25)) + 1, roundHalfAway(2 * (Double(height - 1) + 0.75)) + 1)
    }

    /// Corner-aligned bilinear resize of RGB bytes, truncating (dlib's `resize_image`).
    static func resizeBilinear(_ src: RGBImage, width: Int, height: Int) -> RGBImage {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let xs = Double(src.width - 1) / Double(max(width - 1, 1))
        let ys = Double(src.height - 1) / Double(max(height - 1, 1))
        src.pixels.withUnsafeBufferPointer { p in
            for r in 0..<height {
                let sy = Double(r) * ys
                let y0 = Int(sy), y1 = min(y0 + 1, src.height - 1)
                let fy = sy - Double(y0)
                for c in 0..<width {
                    let sx = Double(c) * xs
                    let x0 = Int(sx), x1 = min(x0 + 1, src.width - 1)
                    let fx = sx - Double(x0)
                    let o00 = (y0 * src.width + x0) * 3, o01 = (y0 * src.width + x1) * 3
                    let o10 = (y1 * src.width + x0) * 3, o11 = (y1 * src.width + x1) * 3
                    for k in 0..<3 {
                        let top = (1 - fx) * Double(p[o00 + k]) + fx * Double(p[o01 + k])
                        let bottom = (1 - fx) * Double(p[o10 + k]) + fx * Double(p[o11 + k])
                        out[(r * width + c) * 3 + k] = UInt8(max(0, min(255, (1 - fy) * top + fy * bottom)))
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    struct Level {
        var width: Int
        var height: Int
        var x: Int  // top-left inside the tensor
        var y: Int
        var rect: FaceBox { FaceBox(left: x, top: y, right: x + width - 1, bottom: y + height - 1) }
    }

    /// The tiled pyramid layout (dlib's `input_rgb_image_pyramid`): tensor rows, cols and where each level sits.
    static func layout(width: Int, height: Int) -> (rows: Int, cols: Int, levels: [Level]) {
        var sizes: [(Int, Int)] = [(width, height)]
        var nr = height, nc = width
        while true {
            nr = Int((5.0 / 6.0 * Double(nr)).rounded(.down))
            nc = Int((5.0 / 6.0 * Double(nc)).rounded(.down))
            if nr * nc == 0 || nr < 5 { break }
            sizes.append((nc, nr))
        }
        let pad = pyramidPadding, outer = pyramidOuterPadding
        let totalHeight = sizes.reduce(0) { $0 + $1.1 + pad } - 2 * pad
        let w0 = sizes[0].0, h0 = sizes[0].1
        var h = 0, prevWidth = 0
        for (w, hi) in sizes {
            if w <= w0 - prevWidth - pad && (h - h0) * 2 >= totalHeight - h0 { break }
            h += hi + pad
            prevWidth = w
        }
        h -= pad
        var levels: [Level] = []
        var y = outer, i = 0
        while y < h + outer && i < sizes.count {
            levels.append(Level(width: sizes[i].0, height: sizes[i].1, x: outer, y: y))
            y += sizes[i].1 + pad
            i += 1
        }
        y -= pad
        let first = FaceBox(left: outer, top: outer, right: outer + w0 - 1, bottom: outer + h0 - 1)
        while i < sizes.count {
            let br = (outer + w0 - 1, y - 1)
            let lv = Level(width: sizes[i].0, height: sizes[i].1, x: br.0 - (sizes[i].0 - 1), y: br.1 - (sizes[i].1 - 1))
            if lv.rect.intersection(first).area > 0 { break }
            levels.append(lv)
            y -= sizes[i].1 + pad
            i += 1
        }
        return (h + 2 * outer, w0 + 2 * outer, levels)
    }

    func detectAtScale(_ img: RGBImage, workspace: Workspace) -> [Detection] {
        let (rows, cols, levels) = FaceDetector.layout(width: img.width, height: img.height)
        let input = FeatureMap(channels: 3, height: rows, width: cols, buffer: workspace.borrow())
        fillPyramid(img, levels: levels, into: input)
        let scores = network.forward(input, workspace: workspace)
        var candidates: [(conf: Float, l: Double, t: Double, r: Double, b: Double)] = []
        let hw = Double(windowWidth - 1) / 2, hh = Double(windowHeight - 1) / 2
        let s = scores.pointer
        for r in 0..<scores.height {
            for c in 0..<scores.width {
                let v = s[r * scores.width + c]
                guard v > 0 else { continue }
                let x = Double(cellScale * c + cellOffset), y = Double(cellScale * r + cellOffset)
                var box = DRect(left: x - hw, top: y - hh, right: x + hw, bottom: y + hh)
                let center = box.center
                let px = Int((center.x + 0.5).rounded(.down)), py = Int((center.y + 0.5).rounded(.down))
                var li = levels.firstIndex { px >= $0.x && px < $0.x + $0.width && py >= $0.y && py < $0.y + $0.height }
                if li == nil {
                    var best = Double.infinity
                    for (k, lv) in levels.enumerated() {
                        let dx = Double(max(lv.x - px, 0, px - (lv.x + lv.width - 1)))
                        let dy = Double(max(lv.y - py, 0, py - (lv.y + lv.height - 1)))
                        let d = (dx * dx + dy * dy).squareRoot()
                        if d < best { best = d; li = k }
                    }
                }
                let lv = levels[li!]
                box = DRect(
                    left: box.left - Double(lv.x), top: box.top - Double(lv.y),
                    right: box.right - Double(lv.x), bottom: box.bottom - Double(lv.y))
                for _ in 0..<li! {
                    box = DRect(
                        left: 1.2 * box.left + 0.3, top: 1.2 * box.top + 0.3, right: 1.2 * box.right + 0.3,
                        bottom: 1.2 * box.bottom + 0.3)
                }
                candidates.append((v, box.left, box.top, box.right, box.bottom))
            }
        }
        workspace.releaseAll()
        candidates.sort { $0.conf > $1.conf }
        var accepted: [Detection] = []
        for cand in candidates {
            let b = FaceBox(
                left: roundHalfAway(cand.l), top: roundHalfAway(cand.t), right: roundHalfAway(cand.r),
                bottom: roundHalfAway(cand.b))
            if accepted.contains(where: { overlaps($0.box, b) }) { continue }
            accepted.append(Detection(box: b, confidence: cand.conf))
        }
        return accepted
    }

    /// dlib's NMS overlap test: the "union" is the bounding box of the pair, not the true union.
    func overlaps(_ a: FaceBox, _ b: FaceBox) -> Bool {
        let inner = Double(a.intersection(b).area)
        guard inner > 0 else { return false }
        let outer = Double(
            FaceBox(
                left: min(a.left, b.left), top: min(a.top, b.top), right: max(a.right, b.right),
                bottom: max(a.bottom, b.bottom)
            ).area)
        return inner / outer > nmsIoU || inner / Double(a.area) > nmsCovered || inner / Double(b.area) > nmsCovered
    }

    /// Level 0 = normalised pixels; level i = corner-aligned bilinear resize of level i−1 *in the tensor*.
    func fillPyramid(_ img: RGBImage, levels: [Level], into t: FeatureMap) {
        let plane = t.height * t.width
        let dst = t.pointer
        dst.update(repeating: 0, count: 3 * plane)
        let m = [mean.0, mean.1, mean.2]
        let l0 = levels[0]
        img.pixels.withUnsafeBufferPointer { p in
            for k in 0..<3 {
                let mk = m[k]
                for y in 0..<img.height {
                    let row = dst + k * plane + (l0.y + y) * t.width + l0.x
                    for x in 0..<img.width { row[x] = (Float(p[(y * img.width + x) * 3 + k]) - mk) / 256 }
                }
            }
        }
        // Each channel's cascade is independent: resize the three planes in parallel.
        nonisolated(unsafe) let base0 = dst
        let width = t.width
        DispatchQueue.concurrentPerform(iterations: 3) { k in
            let base = base0 + k * plane
            for i in 1..<max(1, levels.count) {
                let s = levels[i - 1], d = levels[i]
                let xs = Float(s.width - 1) / Float(max(d.width - 1, 1))
                let ys = Float(s.height - 1) / Float(max(d.height - 1, 1))
                for r in 0..<d.height {
                    let sy = Float(r) * ys
                    let y0 = Int(sy), y1 = min(y0 + 1, s.height - 1)
                    let fy = sy - Float(y0)
                    let r0 = base + (s.y + y0) * width + s.x, r1 = base + (s.y + y1) * width + s.x
                    let out = base + (d.y + r) * width + d.x
                    for c in 0..<d.width {
                        let sx = Float(c) * xs
                        let x0 = Int(sx), x1 = min(x0 + 1, s.width - 1)
                        let fx = sx - Float(x0)
                        let top = r0[x0] + (r0[x1] - r0[x0]) * fx
                        let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx
                        out[c] = top + (bottom - top) * fy
                    }
                }
            }
        }
    }
}
