import TensorCore

/// Where a static camera's picture changed since the previous frame, so that the detector can look only there
/// between full scans: a face walking into a corridor is found on the frame it appears, at the cost of detecting
/// on a few small crops instead of the whole frame.
///
/// The picture is compared as luma in `block`×`block` cells (mean absolute difference of every second pixel);
/// changed cells grow by `margin` pixels and merge into rectangles. When more than `maxChangedShare` of the
/// picture changed (the camera moved, the light changed) there is nothing to gain and `regions` returns nil.
///
/// Changes inside live faces' boxes (with the margin) are left out: those faces are followed by the tracker's
/// landmark refits every frame, and re-detecting them would cost a detection per face per frame.
public struct MotionGate: Sendable {
    public var block = 16
    /// Mean absolute luma difference (0–255) above which a cell counts as changed; sensor noise stays under ~4.
    public var threshold = 10.0
    /// Pixels added around changed cells and live faces, so that a face partly inside a changed cell is whole.
    public var margin = 32
    /// Beyond this share of changed cells, or of the picture covered by the grown regions, gating costs about a full
    /// scan per frame (measured on the handheld bundled sample: analysis 5x slower with gating at 0.5), so the gate
    /// stands aside and the full scans every `--detect-every` frames do the work.
    public var maxChangedShare = 0.1
    public var maxScannedShare = 0.3

    private var previous: [UInt8] = []
    private var width = 0, height = 0

    public init() {}

    /// The rectangles to scan in `image` (changed areas away from the `live` face boxes, with margins), or nil
    /// when a full scan is the better choice (first frame, size change, most of the picture changed).
    public mutating func regions(_ image: RGBImage, excluding live: [FaceBox] = []) -> [FaceBox]? {
        let luma = MotionGate.luma(image)
        defer { (previous, width, height) = (luma, image.width, image.height) }
        guard image.width == width, image.height == height, !previous.isEmpty else { return nil }
        let cols = (width + block - 1) / block, rows = (height + block - 1) / block
        var changed = [Bool](repeating: false, count: cols * rows)
        var changedCount = 0
        for r in 0..<rows {
            for c in 0..<cols {
                var sum = 0, n = 0
                var y = r * block
                while y < min(height, (r + 1) * block) {
                    var x = c * block
                    while x < min(width, (c + 1) * block) {
                        let i = y * width + x
                        sum += abs(Int(luma[i]) - Int(previous[i]))
                        n += 1
                        x += 2
                    }
                    y += 2
                }
                if n > 0 && Double(sum) / Double(n) > threshold {
                    changed[r * cols + c] = true
                    changedCount += 1
                }
            }
        }
        guard Double(changedCount) <= maxChangedShare * Double(cols * rows) else { return nil }
        for b in live {
            let c0 = max(0, (b.left - margin) / block), c1 = min(cols - 1, (b.right + margin) / block)
            let r0 = max(0, (b.top - margin) / block), r1 = min(rows - 1, (b.bottom + margin) / block)
            if c0 <= c1 && r0 <= r1 { for r in r0...r1 { for c in c0...c1 { changed[r * cols + c] = false } } }
        }
        // Connected changed cells (4-neighbours) become one rectangle each.
        var rects: [FaceBox] = []
        var seen = [Bool](repeating: false, count: cols * rows)
        for start in changed.indices where changed[start] && !seen[start] {
            var stack = [start]
            seen[start] = true
            var c0 = cols, c1 = -1, r0 = rows, r1 = -1
            while let k = stack.popLast() {
                let r = k / cols, c = k % cols
                c0 = min(c0, c); c1 = max(c1, c); r0 = min(r0, r); r1 = max(r1, r)
                for (nr, nc) in [(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)] where nr >= 0 && nr < rows && nc >= 0 && nc < cols {
                    let j = nr * cols + nc
                    if changed[j] && !seen[j] {
                        seen[j] = true
                        stack.append(j)
                    }
                }
            }
            rects.append(FaceBox(left: c0 * block, top: r0 * block, right: (c1 + 1) * block - 1, bottom: (r1 + 1) * block - 1))
        }
        let frame = FaceBox(left: 0, top: 0, right: width - 1, bottom: height - 1)
        let grown = rects.map {
            FaceBox(left: $0.left - margin, top: $0.top - margin, right: $0.right + margin, bottom: $0.bottom + margin).intersection(frame)
        }
        let regions = MotionGate.merged(grown)
        let scanned = regions.reduce(0) { $0 + $1.area }
        return Double(scanned) <= maxScannedShare * Double(width * height) ? regions : nil
    }

    /// Rectangles with every overlapping pair replaced by their bounding box, until none overlap.
    static func merged(_ boxes: [FaceBox]) -> [FaceBox] {
        var out = boxes.filter { $0.area > 0 }
        var changed = true
        while changed {
            changed = false
            outer: for i in out.indices {
                for j in out.indices where j > i && out[i].intersection(out[j]).area > 0 {
                    let a = out[i], b = out[j]
                    out[i] = FaceBox(
                        left: min(a.left, b.left), top: min(a.top, b.top), right: max(a.right, b.right), bottom: max(a.bottom, b.bottom))
                    out.remove(at: j)
                    changed = true
                    break outer
                }
            }
        }
        return out
    }

    static func luma(_ image: RGBImage) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { p in
            for i in out.indices {
                // BT.601 weights in fixed point: (77 R + 150 G + 29 B) / 256.
                let r = 77 * Int(p[3 * i]), g = 150 * Int(p[3 * i + 1]), b = 29 * Int(p[3 * i + 2])
                out[i] = UInt8((r + g + b) >> 8)
            }
        }
        return out
    }
}
