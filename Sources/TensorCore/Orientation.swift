/// How a video's coded pictures turn into upright ones: a multiple of 90° clockwise, from the container's display
/// matrix. Faces are found in the upright picture (the detector and the shape predictor expect upright faces); the
/// encoder works on coded pictures, so rectangles are mapped back.
public struct Orientation: Sendable, Equatable {
    /// Clockwise quarter turns from coded to upright (0…3).
    public var quarterTurns: Int

    public init(quarterTurns: Int) { self.quarterTurns = ((quarterTurns % 4) + 4) % 4 }

    /// From FFmpeg's display-matrix rotation (counter-clockwise degrees, e.g. −90 for a phone held upright).
    /// Angles that are not multiples of 90° are rounded to the nearest one.
    public init(displayRotationDegrees degrees: Double) {
        self.init(quarterTurns: Int((-degrees / 90).rounded()))
    }

    public static let upright = Orientation(quarterTurns: 0)

    /// Size of the upright picture for a coded picture of `width`×`height`.
    public func uprightSize(width: Int, height: Int) -> (width: Int, height: Int) {
        quarterTurns % 2 == 0 ? (width, height) : (height, width)
    }

    /// The upright picture.
    public func upright(_ image: RGBImage) -> RGBImage {
        guard quarterTurns != 0 else { return image }
        let (w, h) = (image.width, image.height)
        let (ow, oh) = uprightSize(width: w, height: h)
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<oh {
                    for x in 0..<ow {
                        let (cx, cy) = codedPoint(x: x, y: y, codedWidth: w, codedHeight: h)
                        let s = (cy * w + cx) * 3, d = (y * ow + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }

    /// The coded pixel shown at upright pixel (x, y).
    public func codedPoint(x: Int, y: Int, codedWidth w: Int, codedHeight h: Int) -> (x: Int, y: Int) {
        switch quarterTurns {
        case 1: return (y, h - 1 - x)
        case 2: return (w - 1 - x, h - 1 - y)
        case 3: return (w - 1 - y, x)
        default: return (x, y)
        }
    }

    /// The coded-picture rectangle covering an upright rectangle.
    public func codedBox(_ b: FaceBox, codedWidth w: Int, codedHeight h: Int) -> FaceBox {
        let a = codedPoint(x: b.left, y: b.top, codedWidth: w, codedHeight: h)
        let c = codedPoint(x: b.right, y: b.bottom, codedWidth: w, codedHeight: h)
        return FaceBox(left: min(a.x, c.x), top: min(a.y, c.y), right: max(a.x, c.x), bottom: max(a.y, c.y))
    }
}
