import TensorCore

/// Finds the frames where the picture changes all at once — a cut between shots — so that the chunked encode can
/// start its chunks there: a chunk's IDR picture at a cut is a picture the encoder would have had to code as intra
/// anyway, while a boundary a few frames before a cut pays for an IDR picture and then for the cut's intra blocks.
///
/// Each frame is reduced to a `columns`×`rows` luma thumbnail (cell means of sampled pixels, BT.601 weights).
/// A frame is a cut when the mean absolute difference of its thumbnail from the previous frame's is above
/// `threshold` levels *and* above `ratio` times the median difference of the `window` frames before it: a pan or a
/// crowd changes every frame a lot and is not a cut; one abrupt change is. A fade changes each frame a little and
/// is not cut either (its frames are still predictable from each other).
public struct SceneCutDetector: Sendable {
    public var columns = 32
    public var rows = 18
    public var threshold = 20.0
    public var ratio = 3.0
    public var window = 8

    private var previous: [Double] = []
    private var previousSize = (width: 0, height: 0)
    private var recent: [Double] = []
    /// The cuts found so far, by frame index.
    public private(set) var cuts: [Int] = []

    public init() {}

    /// Looks at the next frame; returns whether it starts a new shot. Frames must come in order; a change of picture
    /// size restarts the comparison (it is not a cut by itself).
    @discardableResult
    public mutating func add(_ image: RGBImage, index: Int) -> Bool {
        let thumb = thumbnail(image)
        defer { (previous, previousSize) = (thumb, (image.width, image.height)) }
        guard !previous.isEmpty, previousSize.width == image.width, previousSize.height == image.height else {
            recent.removeAll()
            return false
        }
        var difference = 0.0
        for i in thumb.indices { difference += abs(thumb[i] - previous[i]) }
        difference /= Double(thumb.count)
        // Two differences at least before judging: the first frames of a pan are not cuts.
        let typical = recent.isEmpty ? 0 : recent.sorted()[recent.count / 2], judged = recent.count >= 2
        recent.append(difference)
        if recent.count > window { recent.removeFirst() }
        guard judged, difference > threshold, difference > ratio * typical else { return false }
        cuts.append(index)
        // The new shot's own motion is the reference from here on, not the jump into it.
        recent = [typical]
        return true
    }

    /// Cell means of luma over a grid of samples: every second pixel of every second row, sparser on pictures wider
    /// than 640 so that a 1080p frame costs what a 640-wide one does.
    func thumbnail(_ image: RGBImage) -> [Double] {
        let step = max(2, image.width / 320)
        var sums = [Double](repeating: 0, count: columns * rows), counts = [Int](repeating: 0, count: columns * rows)
        guard image.width > 0, image.height > 0 else { return sums }
        image.pixels.withUnsafeBufferPointer { px in
            var y = 0
            while y < image.height {
                let r = y * rows / image.height
                var x = 0
                while x < image.width {
                    let o = (y * image.width + x) * 3
                    let luma = 0.299 * Double(px[o]) + 0.587 * Double(px[o + 1]) + 0.114 * Double(px[o + 2])
                    let cell = r * columns + x * columns / image.width
                    sums[cell] += luma
                    counts[cell] += 1
                    x += step
                }
                y += step
            }
        }
        for i in sums.indices where counts[i] > 0 { sums[i] /= Double(counts[i]) }
        return sums
    }
}
