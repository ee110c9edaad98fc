import FaceAnalysis
import TensorCore
import Testing
import _TestSupport

/// The detector's resize (a separable tent filter, pixel centres aligned, onto a zero-padded canvas) against a
/// direct 2-D evaluation of the same filter in Double.
@Suite struct ResamplerTests {
    /// Tent weights of target index t over source indices, normalised, support max(1, scale) source pixels.
    private func weights(_ t: Int, source: Int, target: Int) -> [(Int, Double)] {
        let scale = Double(source) / Double(target), support = max(1, scale)
        let centre = (Double(t) + 0.5) * scale - 0.5
        var w: [(Int, Double)] = []
        for i in 0..<source {
            let v = 1 - abs(Double(i) - centre) / support
            if v > 0 { w.append((i, v)) }
        }
        if w.isEmpty { return [(min(source - 1, max(0, Int(centre.rounded()))), 1)] }
        let total = w.reduce(0) { $0 + $1.1 }
        return w.map { ($0.0, $0.1 / total) }
    }

    /// The last case is large enough for the resize to split its rows over the kernel threads.
    @Test(arguments: [
        (23, 17, 11, 9, 1), (16, 12, 40, 29, 1), (30, 20, 24, 15, 32), (7, 5, 7, 5, 8), (9, 9, 3, 4, 1), (640, 480, 300, 230, 32),
    ])
    func resizeMatchesTheDirectTentFilter(sw: Int, sh: Int, tw: Int, th: Int, multiple: Int) {
        var rng = SeededGenerator(seed: 7)
        let image = RGBImage(width: sw, height: sh, pixels: (0..<(sw * sh * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        let out = Resampler.resize(image, width: tw, height: th, paddedTo: multiple)
        let cw = (tw + multiple - 1) / multiple * multiple, ch = (th + multiple - 1) / multiple * multiple
        #expect(out.width == cw && out.height == ch)
        let xWeights = (0..<tw).map { weights($0, source: sw, target: tw) }
        let yWeights = (0..<th).map { weights($0, source: sh, target: th) }
        var worst = 0
        for y in 0..<ch {
            for x in 0..<cw {
                for c in 0..<3 {
                    var expected = 0
                    if x < tw && y < th {
                        var v = 0.0
                        for (j, wy) in yWeights[y] {
                            for (i, wx) in xWeights[x] { v += wy * wx * Double(image.pixels[(j * sw + i) * 3 + c]) }
                        }
                        expected = Int(max(0, min(255, v.rounded())))
                    }
                    worst = max(worst, abs(Int(out.pixels[(y * cw + x) * 3 + c]) - expected))
                }
            }
        }
        // Float against Double: a value within rounding error of a half level may round the other way.
        #expect(worst <= 1)
    }
}
