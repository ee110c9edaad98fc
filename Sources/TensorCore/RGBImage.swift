/// An interleaved 8-bit RGB image (R, G, B per pixel, rows of `width * 3` bytes, no padding): what decoding
/// produces and what face analysis, the JND models and the encoder's prefilter work on. The one RGB image type.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: pixel count does not match size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }
}

/// An 8-bit single-channel (luma) image.
public struct GrayImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height, "GrayImage: pixel count does not match size")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
