import Foundation
import TensorCore

/// Aligned face chips as dlib's `get_face_chip` makes them (specs/dlib-models.md §6): a similarity transform from
/// a 5-point template to the landmarks, then bilinear sampling (with a 2× pre-shrink pyramid for large faces).
public enum FaceChip {
    /// The 5-point template in the unit square (parts 0…4), as dlib defines it.
    static let template: [Point] = [
        Point(x: 0.8595674595992, y: 0.2134981538014), Point(x: 0.6460604764104, y: 0.2289674387677),
        Point(x: 0.1205750620789, y: 0.2137274526848), Point(x: 0.3340850613712, y: 0.2290642403242),
        Point(x: 0.4901123135679, y: 0.6277975316475),
    ]

    /// Where the chip lies in the image: a rectangle (dlib drect) and a rotation angle in radians.
    public struct Placement: Sendable, Equatable {
        public var left: Double
        public var top: Double
        public var right: Double
        public var bottom: Double
        public var angle: Double
        public var size: Int

        var rect: DRect { DRect(left: left, top: top, right: right, bottom: bottom) }
    }

    /// The chip placement for five landmarks (`get_face_chip_details`, size 150, padding 0.25 by default).
    public static func placement(landmarks: [Point], size: Int = 150, padding: Double = 0.25) -> Placement {
        precondition(landmarks.count == 5, "FaceChip: needs the 5-point landmarks")
        let from = template.map {
            Point(x: (padding + $0.x) / (2 * padding + 1) * Double(size), y: (padding + $0.y) / (2 * padding + 1) * Double(size))
        }
        let m = Similarity.fit(from: from, to: landmarks)
        let p = m.linear(Point(x: 1, y: 0))
        let angle = atan2(p.y, p.x)
        let scale = (p.x * p.x + p.y * p.y).squareRoot()
        let c = m.apply(Point(x: Double(size) / 2, y: Double(size) / 2))
        let w = Double(size) * scale
        return Placement(
            left: c.x - (w - 1) / 2, top: c.y - (w - 1) / 2, right: c.x + (w - 1) / 2,
            bottom: c.y + (w - 1) / 2, angle: angle, size: size)
    }

    /// The image region `extract` reads for this placement (the rotated chip rectangle grown by the pre-shrink
    /// filter's reach, clipped to the image). A crop containing it yields exactly the same chip.
    public static func sourceRegion(_ placement: Placement, imageWidth: Int, imageHeight: Int) -> FaceBox {
        let rect = placement.rect
        var r = rect.down
        var grow = 2.0
        while r.area > Double(placement.size * placement.size) {
            r = r.down
            grow = 2 * grow + 2
        }
        let c = rect.center
        let ca = cos(placement.angle), sa = sin(placement.angle)
        let corners = [(rect.left, rect.top), (rect.right, rect.top), (rect.left, rect.bottom), (rect.right, rect.bottom)].map {
            (c.x + ca * ($0.0 - c.x) - sa * ($0.1 - c.y), c.y + sa * ($0.0 - c.x) + ca * ($0.1 - c.y))
        }
        return FaceBox(
            left: roundHalfAway(max(corners.map(\.0).min()! - grow, 0)),
            top: roundHalfAway(max(corners.map(\.1).min()! - grow, 0)),
            right: roundHalfAway(min(corners.map(\.0).max()! + grow, Double(imageWidth - 1))),
            bottom: roundHalfAway(min(corners.map(\.1).max()! + grow, Double(imageHeight - 1))))
    }

    /// Extracts the chip (`extract_image_chips`, bilinear): `size × size` interleaved RGB bytes.
    public static func extract(_ image: RGBImage, _ placement: Placement) -> [UInt8] {
        let size = placement.size
        let chipArea = Double(size * size)
        let rect = placement.rect
        // a, b) the working region: the rotated rect grown by the pre-shrink filter's reach, clipped to the image.
        let box = sourceRegion(placement, imageWidth: image.width, imageHeight: image.height)
        let ca = cos(placement.angle), sa = sin(placement.angle)
        func rotate(_ p: Point, about o: Point) -> Point {
            let dx = p.x - o.x, dy = p.y - o.y
            return Point(x: o.x + ca * dx - sa * dy, y: o.y + sa * dx + ca * dy)
        }
        // c) the working region and its pyramid.
        var source = image.cropped(to: box)
        var level = -1
        var rr = DRect(
            left: rect.left - Double(box.left), top: rect.top - Double(box.top),
            right: rect.right - Double(box.left), bottom: rect.bottom - Double(box.top))
        // d) level choice
        while rr.down.area > chipArea {
            level += 1
            rr = rr.down
        }
        if level >= 0 {
            for _ in 0...level { source = pyramidDown2(source) }
        }
        // e) affine map chip → source from three corners.
        let cr = rr.center
        let p0 = rotate(Point(x: rr.left, y: rr.top), about: cr)
        let p1 = rotate(Point(x: rr.right, y: rr.top), about: cr)
        let p2 = rotate(Point(x: rr.left, y: rr.bottom), about: cr)
        let n = Double(size - 1)
        let ax = (p1.x - p0.x) / n, ay = (p1.y - p0.y) / n
        let bx = (p2.x - p0.x) / n, by = (p2.y - p0.y) / n
        // f) bilinear sampling, truncated to bytes; black outside the working region.
        var out = [UInt8](repeating: 0, count: size * size * 3)
        let sw = source.width, sh = source.height
        source.pixels.withUnsafeBufferPointer { src in
            for y in 0..<size {
                for x in 0..<size {
                    let sx = p0.x + ax * Double(x) + bx * Double(y)
                    let sy = p0.y + ay * Double(x) + by * Double(y)
                    let fx0 = sx.rounded(.down), fy0 = sy.rounded(.down)
                    let x0 = Int(fx0), y0 = Int(fy0)
                    if x0 < 0 || y0 < 0 || x0 + 1 >= sw || y0 + 1 >= sh { continue }
                    let fx = sx - fx0, fy = sy - fy0
                    let o00 = (y0 * sw + x0) * 3, o10 = o00 + 3, o01 = o00 + sw * 3, o11 = o01 + 3
                    let d = (y * size + x) * 3
                    for k in 0..<3 {
                        let v =
                            (1 - fy) * ((1 - fx) * Double(src[o00 + k]) + fx * Double(src[o10 + k]))
                            + fy * ((1 - fx) * Double(src[o01 + k]) + fx * Double(src[o11 + k]))
                        out[d + k] = UInt8(max(0, min(255, v)))
                    }
                }
            }
        }
        return out
    }

    /// dlib's `pyramid_down<2>` on RGB bytes: 5-tap (1 4 6 4 1) filter, output `((rows−3)/2) × ((cols−3)/2)`,
    /// integer arithmetic with the vertical sum floor-divided by 256; output (d, c) is centred on input (2d+2, 2c+2).
    static func pyramidDown2(_ img: RGBImage) -> RGBImage {
        guard img.height > 8, img.width > 8 else { return RGBImage(width: 0, height: 0) }
        let oh = (img.height - 3) / 2, ow = (img.width - 3) / 2
        var tmp = [Int32](repeating: 0, count: img.height * ow * 3)
        img.pixels.withUnsafeBufferPointer { p in
            for y in 0..<img.height {
                let row = y * img.width * 3
                for c in 0..<ow {
                    let x = 2 * c
                    for k in 0..<3 {
                        let s =
                            Int32(p[row + x * 3 + k]) + 4 * Int32(p[row + (x + 1) * 3 + k]) + 6 * Int32(p[row + (x + 2) * 3 + k])
                            + 4 * Int32(p[row + (x + 3) * 3 + k]) + Int32(p[row + (x + 4) * 3 + k])
                        tmp[(y * ow + c) * 3 + k] = s
                    }
                }
            }
        }
        var out = [UInt8](repeating: 0, count: oh * ow * 3)
        for d in 0..<oh {
            let y = 2 * d
            for c in 0..<ow {
                for k in 0..<3 {
                    let i = c * 3 + k
                    let s =
                        tmp[y * ow * 3 + i] + 4 * tmp[(y + 1) * ow * 3 + i] + 6 * tmp[(y + 2) * ow * 3 + i]
                        + 4 * tmp[(y + 3) * ow * 3 + i] + tmp[(y + 4) * ow * 3 + i]
                    out[(d * ow + c) * 3 + k] = UInt8(s / 256)
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}

extension RGBImage {
    /// The pixels inside `box` (inclusive; assumed inside the image), or an empty image for an empty box.
    public func cropped(to box: FaceBox) -> RGBImage {
        let w = max(0, box.width), h = max(0, box.height)
        guard w > 0, h > 0 else { return RGBImage(width: 0, height: 0) }
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            let src = ((box.top + y) * width + box.left) * 3
            px.replaceSubrange((y * w * 3)..<((y + 1) * w * 3), with: pixels[src..<(src + w * 3)])
        }
        return RGBImage(width: w, height: h, pixels: px)
    }
}
