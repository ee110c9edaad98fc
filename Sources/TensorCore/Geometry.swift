// Pixel geometry shared by every layer: points, rectangles in both conventions in use.

/// A point in image coordinates (pixels, x to the right, y down).
public struct Point: Sendable, Equatable, Codable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// An integer rectangle in dlib's inclusive convention: it covers columns `left...right` and rows `top...bottom`.
public struct FaceBox: Sendable, Equatable, Codable {
    public var left: Int
    public var top: Int
    public var right: Int
    public var bottom: Int

    public init(left: Int, top: Int, right: Int, bottom: Int) {
        self.left = left
        self.top = top
        self.right = right
        self.bottom = bottom
    }

    public var width: Int { right - left + 1 }
    public var height: Int { bottom - top + 1 }
    public var area: Int { (right < left || bottom < top) ? 0 : width * height }
    public var center: Point { Point(x: Double(left + right) / 2, y: Double(top + bottom) / 2) }

    public func intersection(_ o: FaceBox) -> FaceBox {
        FaceBox(left: max(left, o.left), top: max(top, o.top), right: min(right, o.right), bottom: min(bottom, o.bottom))
    }

    /// Intersection over union (inclusive areas).
    public func iou(_ o: FaceBox) -> Double {
        let i = Double(intersection(o).area)
        let u = Double(area + o.area) - i
        return u > 0 ? i / u : 0
    }
}

/// A rectangle in luma pixels.
public struct PixelRect: Sendable, Equatable, Codable, Hashable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public func contains(x px: Double, y py: Double) -> Bool {
        px >= Double(x) && px < Double(x + width) && py >= Double(y) && py < Double(y + height)
    }
}
