import Foundation
import Perception
import TensorCore
import Testing

@Suite struct FaceDenoiseTests {
    private func noisy(width: Int = 24, height: Int = 20, seed: UInt64 = 7) -> RGBImage {
        var rng = SplitMix(seed: seed)
        return RGBImage(width: width, height: height, pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 256) })
    }

    /// The bilateral sum written out for one pixel, in Double, from the formula (the naive twin).
    private func reference(_ img: RGBImage, x: Int, y: Int, rangeSigma: Double) -> [Double] {
        let r = FaceDenoise.radius, s = Double(FaceDenoise.spatialSigma)
        func at(_ x: Int, _ y: Int, _ c: Int) -> Double {
            Double(img.pixels[3 * (min(img.height - 1, max(0, y)) * img.width + min(img.width - 1, max(0, x))) + c])
        }
        var sum = [0.0, 0.0, 0.0], total = 0.0
        for dy in -r...r {
            for dx in -r...r {
                let d2 = (0..<3).map { pow(at(x + dx, y + dy, $0) - at(x, y, $0), 2) }.reduce(0, +)
                let w = exp(-Double(dx * dx + dy * dy) / (2 * s * s)) * exp(-d2 / (2 * rangeSigma * rangeSigma))
                for c in 0..<3 { sum[c] += w * at(x + dx, y + dy, c) }
                total += w
            }
        }
        return sum.map { $0 / total }
    }

    @Test func filterMatchesTheFormulaEverywhereIncludingTheBorder() {
        let img = noisy()
        for sigma: Float in [3, 20, 200] {
            let out = FaceDenoise.filter(img, rangeSigma: sigma)
            var worst = 0.0
            for y in 0..<img.height {
                for x in 0..<img.width {
                    let want = reference(img, x: x, y: y, rangeSigma: Double(sigma))
                    for c in 0..<3 { worst = max(worst, abs(Double(out.pixels[3 * (y * img.width + x) + c]) - want[c])) }
                }
            }
            #expect(worst <= 0.5 + 1e-3, "σr \(sigma): \(worst)")
        }
    }

    @Test func flatNoiseIsSmoothedWhileAStrongEdgeIsKept() {
        var rng = SplitMix(seed: 3)
        let w = 32, h = 16
        var img = RGBImage(width: w, height: h, pixels: [UInt8](repeating: 0, count: w * h * 3))
        for y in 0..<h {
            for x in 0..<w {
                let base = x < w / 2 ? 60 : 200
                let v = UInt8(base + Int(rng.next() % 9) - 4)
                for c in 0..<3 { img.pixels[3 * (y * w + x) + c] = v }
            }
        }
        let out = FaceDenoise.filter(img, rangeSigma: 15)
        func spread(_ i: RGBImage, _ xs: Range<Int>) -> Double {
            let v = (0..<h).flatMap { y in xs.map { Double(i.pixels[3 * (y * w + $0)]) } }
            let m = v.reduce(0, +) / Double(v.count)
            return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        #expect(spread(out, 0..<12) < 0.5 * spread(img, 0..<12), "the noise on the flat side falls")
        // Both sides of the 140-level step keep their level right up to the edge.
        for y in 0..<h {
            #expect(abs(Int(out.pixels[3 * (y * w + w / 2 - 1)]) - 60) <= 5)
            #expect(abs(Int(out.pixels[3 * (y * w + w / 2)]) - 200) <= 5)
        }
        #expect(FaceDenoise.filter(img, rangeSigma: 0) == img, "strength 0 is no filter")
    }

    @Test func strongestFindsTheLastPassingStrengthInFewCalls() {
        for threshold in 0...FaceDenoise.ladder.count {
            var calls = 0
            let s = FaceDenoise.strongest { sigma in
                calls += 1
                return FaceDenoise.ladder.firstIndex(of: sigma)! < threshold
            }
            #expect(s == threshold)
            #expect(calls <= 4)
            #expect(FaceDenoise.rangeSigma(strength: s) == (s == 0 ? 0 : FaceDenoise.ladder[s - 1]))
        }
    }

    @Test func featherIsOneOnTheFaceAndZeroHalfABoxBeyond() {
        let box = FaceBox(left: 20, top: 20, right: 39, bottom: 39)
        let f = FaceDenoise.feather(box: box, width: 60, height: 60)
        #expect(f[30 * 60 + 30] == 1 && f[20 * 60 + 20] == 1 && f[39 * 60 + 39] == 1)
        #expect(f[30 * 60 + 55] == 0 && f[2 * 60 + 30] == 0)
        // Monotone outwards along a row.
        let row = (40..<60).map { f[30 * 60 + $0] }
        #expect(zip(row, row.dropFirst()).allSatisfy { $0 >= $1 } && row.first! > 0.9 && row.last! == 0)
        // Smooth, not a hard edge: 4.5 px beyond the 20-px box (t = 0.45) the smoothstep gives 1 − t²(3 − 2t).
        let t: Float = 0.45
        let smooth: Float = 1 - t * t * (3 - 2 * t)
        #expect(abs(f[30 * 60 + 44] - smooth) < 1e-5)
    }
}
