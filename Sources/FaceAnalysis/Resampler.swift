import TensorCore

/// Antialiased resizing for detector inputs: a triangle (tent) filter whose support widens with the reduction,
/// so that shrinking a frame averages the pixels it drops instead of skipping them (aliasing would invent edges).
public enum Resampler {
    /// `image` resized to `width × height`, top-left of a black canvas whose sides are rounded up to `multiple`.
    public static func resize(_ image: RGBImage, width: Int, height: Int, paddedTo multiple: Int = 1) -> RGBImage {
        let cw = (width + multiple - 1) / multiple * multiple, ch = (height + multiple - 1) / multiple * multiple
        var out = RGBImage(width: cw, height: ch)
        if width == image.width && height == image.height {
            for y in 0..<height {
                out.pixels.replaceSubrange(
                    (y * cw * 3)..<(y * cw * 3 + width * 3), with: image.pixels[(y * width * 3)..<((y + 1) * width * 3)])
            }
            return out
        }
        let xTaps = taps(source: image.width, target: width), yTaps = taps(source: image.height, target: height)
        // Horizontal pass into floats, then vertical pass into the canvas, one output row at a time: the rows a
        // target row needs are summed along contiguous memory (the detector resizes every frame it scans).
        let rowLength = width * 3
        var rows = [Float](repeating: 0, count: image.height * rowLength)
        let sourceWidth = image.width
        // Both passes are split by rows over the kernel threads (bit-identical: each row is computed alone).
        let threads = BLAS.threads > 1 && width * height >= 1 << 16 ? BLAS.threads : 1
        image.pixels.withUnsafeBufferPointer { src in
            rows.withUnsafeMutableBufferPointer { dst in
                nonisolated(unsafe) let (src, dst) = (src.baseAddress!, dst.baseAddress!)
                forEachPart(of: image.height, parts: threads) { _, range in
                    for y in range {
                        let line = src + y * sourceWidth * 3, into = dst + y * rowLength
                        for x in 0..<width {
                            var r: Float = 0, g: Float = 0, b: Float = 0
                            for (i, w) in xTaps[x] {
                                let o = i * 3
                                r += w * Float(line[o]); g += w * Float(line[o + 1]); b += w * Float(line[o + 2])
                            }
                            into[x * 3] = r; into[x * 3 + 1] = g; into[x * 3 + 2] = b
                        }
                    }
                }
            }
        }
        rows.withUnsafeBufferPointer { rows in
            out.pixels.withUnsafeMutableBufferPointer { canvas in
                nonisolated(unsafe) let (rows, canvas) = (rows.baseAddress!, canvas.baseAddress!)
                forEachPart(of: height, parts: threads) { _, range in
                    var sum = [Float](repeating: 0, count: rowLength)
                    sum.withUnsafeMutableBufferPointer { acc in
                        for y in range {
                            for i in 0..<rowLength { acc[i] = 0 }
                            for (j, w) in yTaps[y] {
                                let from = rows + j * rowLength
                                for i in 0..<rowLength { acc[i] += w * from[i] }
                            }
                            let target = canvas + y * cw * 3
                            for i in 0..<rowLength { target[i] = UInt8(max(0, min(255, acc[i].rounded()))) }
                        }
                    }
                }
            }
        }
        return out
    }

    /// For each target index, the source indices and normalised tent weights (pixel centres aligned).
    static func taps(source: Int, target: Int) -> [[(Int, Float)]] {
        let scale = Double(source) / Double(target)
        let support = max(1, scale)
        return (0..<target).map { t in
            let centre = (Double(t) + 0.5) * scale - 0.5
            let lo = max(0, Int((centre - support).rounded(.up))), hi = min(source - 1, Int((centre + support).rounded(.down)))
            var taps: [(Int, Float)] = []
            var total = 0.0
            if lo <= hi {
                for i in lo...hi {
                    let w = max(0, 1 - abs(Double(i) - centre) / support)
                    if w > 0 { taps.append((i, Float(w))); total += w }
                }
            }
            if taps.isEmpty { return [(min(source - 1, max(0, Int(centre.rounded()))), 1)] }
            return taps.map { ($0.0, Float(Double($0.1) / total)) }
        }
    }
}
