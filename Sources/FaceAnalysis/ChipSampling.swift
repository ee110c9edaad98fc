import Foundation
import TensorCore

/// The chip extraction as a linear map on real-valued pictures, for gradients from the face model back to the
/// picture a chip was cut from (issue 17's identity term). It is `FaceChip.extract`'s bilinear sampling without the
/// final truncation to bytes; faces large enough for `extract` to pre-shrink with its pyramid are not covered (nil):
/// at 150-px chips that is a chip rectangle over twice the chip's size, about 200-px faces and up.
public struct ChipSampling: Sendable {
    /// Four (picture pixel, weight) taps per chip pixel, flat; a chip pixel outside the picture has weights 0.
    let sources: [Int32]
    let weights: [Float]
    public let chipSize: Int
    public let width: Int
    public let height: Int

    public init?(_ placement: FaceChip.Placement, width: Int, height: Int) {
        let size = placement.size
        let rect = placement.rect
        let box = FaceChip.sourceRegion(placement, imageWidth: width, imageHeight: height)
        let rr = DRect(
            left: rect.left - Double(box.left), top: rect.top - Double(box.top),
            right: rect.right - Double(box.left), bottom: rect.bottom - Double(box.top))
        guard rr.down.area <= Double(size * size) else { return nil }
        let ca = cos(placement.angle), sa = sin(placement.angle)
        let cr = rr.center
        func rotate(_ x: Double, _ y: Double) -> Point {
            let dx = x - cr.x, dy = y - cr.y
            return Point(x: cr.x + ca * dx - sa * dy, y: cr.y + sa * dx + ca * dy)
        }
        let p0 = rotate(rr.left, rr.top), p1 = rotate(rr.right, rr.top), p2 = rotate(rr.left, rr.bottom)
        let n = Double(size - 1)
        let ax = (p1.x - p0.x) / n, ay = (p1.y - p0.y) / n, bx = (p2.x - p0.x) / n, by = (p2.y - p0.y) / n
        let sw = box.width, sh = box.height
        var sources = [Int32](repeating: 0, count: 4 * size * size), weights = [Float](repeating: 0, count: 4 * size * size)
        for y in 0..<size {
            for x in 0..<size {
                let sx = p0.x + ax * Double(x) + bx * Double(y), sy = p0.y + ay * Double(x) + by * Double(y)
                let fx0 = sx.rounded(.down), fy0 = sy.rounded(.down)
                let x0 = Int(fx0), y0 = Int(fy0)
                // Black outside the working region, as `extract`.
                if x0 < 0 || y0 < 0 || x0 + 1 >= sw || y0 + 1 >= sh { continue }
                let fx = Float(sx - fx0), fy = Float(sy - fy0)
                let o = (box.top + y0) * width + box.left + x0, k = 4 * (y * size + x)
                for (j, (s, w)) in [(o, (1 - fx) * (1 - fy)), (o + 1, fx * (1 - fy)), (o + width, (1 - fx) * fy), (o + width + 1, fx * fy)]
                    .enumerated()
                {
                    sources[k + j] = Int32(s)
                    weights[k + j] = w
                }
            }
        }
        self.sources = sources
        self.weights = weights
        chipSize = size
        self.width = width
        self.height = height
    }

    /// The chip (interleaved RGB, real values) of an interleaved RGB picture of `width × height`.
    public func apply(_ picture: [Float]) -> [Float] {
        precondition(picture.count == width * height * 3, "ChipSampling: picture size")
        var out = [Float](repeating: 0, count: chipSize * chipSize * 3)
        for k in sources.indices where weights[k] != 0 {
            let i = k / 4, s = Int(sources[k]), w = weights[k]
            for c in 0..<3 { out[3 * i + c] += w * picture[3 * s + c] }
        }
        return out
    }

    /// The adjoint: a gradient on the chip's values back onto the picture's.
    public func transpose(_ chipGradient: [Float]) -> [Float] {
        precondition(chipGradient.count == chipSize * chipSize * 3, "ChipSampling: chip size")
        var out = [Float](repeating: 0, count: width * height * 3)
        for k in sources.indices where weights[k] != 0 {
            let i = k / 4, s = Int(sources[k]), w = weights[k]
            for c in 0..<3 { out[3 * s + c] += w * chipGradient[3 * i + c] }
        }
        return out
    }
}
