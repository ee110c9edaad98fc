/// A single-sample feature map in CHW layout (channels, rows, columns), row-major `Float` storage:
/// `index = (c · height + y) · width + x`. This is dlib's NCHW layout with N = 1.
public struct Tensor: Sendable, Equatable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var data: [Float]

    public init(channels: Int, height: Int, width: Int, data: [Float]) {
        precondition(data.count == channels * height * width, "Tensor: data count does not match shape")
        self.channels = channels
        self.height = height
        self.width = width
        self.data = data
    }

    public init(channels: Int, height: Int, width: Int, repeating value: Float = 0) {
        self.init(
            channels: channels, height: height, width: width,
            data: [Float](repeating: value, count: channels * height * width))
    }

    public var count: Int { channels * height * width }
    public var planeSize: Int { height * width }

    public subscript(c: Int, y: Int, x: Int) -> Float {
        get { data[(c * height + y) * width + x] }
        set { data[(c * height + y) * width + x] = newValue }
    }
}

/// Output size of a convolution or pooling window along one axis: `1 + (input + 2·padding − kernel) / stride`
/// (floor division; a trailing part that does not fit a full window is dropped). 0 if nothing fits.
@inlinable
public func outputSize(input: Int, kernel: Int, stride: Int, padding: Int) -> Int {
    let span = input + 2 * padding - kernel
    return span < 0 ? 0 : 1 + span / stride
}
