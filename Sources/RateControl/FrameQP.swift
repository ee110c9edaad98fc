// The vocabulary of a QP plan as the encoder takes it, frame by frame. MediaIO's encoder consumes these values;
// the planner and QP plan files produce them.

/// One rectangle of a frame with its own QP. Coordinates are luma pixels; the encoder rounds the rectangle
/// outward to its block grid (16×16 for x264 and x265).
public struct RegionQP: Sendable, Equatable, Codable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int
    /// QP inside the rectangle, 0…51.
    public var qp: Int

    public init(x: Int, y: Int, width: Int, height: Int, qp: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
        self.qp = qp
    }
}

/// The QP of one frame: a base QP for the whole frame and any number of rectangles with their own QP.
/// Where rectangles overlap, the first one listed wins.
public struct FrameQP: Sendable, Equatable {
    public var qp: Int
    public var regions: [RegionQP]

    public init(qp: Int, regions: [RegionQP] = []) {
        self.qp = qp
        self.regions = regions
    }
}
