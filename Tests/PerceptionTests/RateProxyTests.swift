import Foundation
import Perception
import TensorCore
import Testing

@Suite struct RateProxyTests {
    private func random(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(seed: seed)
        return (0..<count).map { _ in Float(rng.next() % 256) }
    }

    /// The rate written from the formula with a brute-force DCT in Double (the naive twin).
    private func reference(_ rgb: [Float], width w: Int, height h: Int, epsilon: Double) -> Double {
        let kr = 0.299, kb = 0.114, kg = 1 - kr - kb
        var y = [Double](repeating: 0, count: w * h), cb = y, cr = y
        for i in 0..<(w * h) {
            let r = Double(rgb[3 * i]), g = Double(rgb[3 * i + 1]), b = Double(rgb[3 * i + 2])
            let l = kr * r + kg * g + kb * b
            y[i] = 219.0 / 255 * l
            cb[i] = 224.0 / 255 * (b - l) / (2 * (1 - kb))
            cr[i] = 224.0 / 255 * (r - l) / (2 * (1 - kr))
        }
        func half(_ p: [Double]) -> [Double] {
            (0..<(h / 2)).flatMap { j in
                (0..<(w / 2)).map { i in
                    (p[2 * j * w + 2 * i] + p[2 * j * w + 2 * i + 1] + p[(2 * j + 1) * w + 2 * i] + p[(2 * j + 1) * w + 2 * i + 1]) / 4
                }
            }
        }
        func rate(_ p: [Double], _ pw: Int, _ ph: Int, _ n: Int) -> Double {
            var total = 0.0
            for by in 0..<(ph / n) {
                for bx in 0..<(pw / n) {
                    for u in 0..<n {
                        for v in 0..<n where u + v > 0 {
                            var c = 0.0
                            for yy in 0..<n {
                                for xx in 0..<n {
                                    c +=
                                        p[(by * n + yy) * pw + bx * n + xx] * cos(Double(2 * yy + 1) * Double(u) * .pi / Double(2 * n))
                                        * cos(Double(2 * xx + 1) * Double(v) * .pi / Double(2 * n))
                                }
                            }
                            c *= (u == 0 ? (1 / Double(n)).squareRoot() : (2 / Double(n)).squareRoot())
                            c *= (v == 0 ? (1 / Double(n)).squareRoot() : (2 / Double(n)).squareRoot())
                            total += (c * c + epsilon * epsilon).squareRoot() - epsilon
                        }
                    }
                }
            }
            return total
        }
        let planes = [(y, w, h), (half(cb), w / 2, h / 2), (half(cr), w / 2, h / 2)]
        return planes.map { p in 0.5 * (rate(p.0, p.1, p.2, 4) + rate(p.0, p.1, p.2, 8)) }.reduce(0, +)
    }

    @Test func rateMatchesABruteForceDCT() {
        // 19×17: partial blocks at the right and bottom are left out in every plane.
        let (w, h) = (19, 17)
        let rgb = random(w * h * 3, seed: 5)
        for epsilon: Float in [1, 0.01] {
            let got = Double(RateProxy.evaluate(rgb, width: w, height: h, epsilon: epsilon).rate)
            let want = reference(rgb, width: w, height: h, epsilon: Double(epsilon))
            #expect(abs(got - want) <= 1e-4 * want, "ε \(epsilon): \(got) vs \(want)")
        }
    }

    @Test func gradientMatchesCentralDifferences() {
        let (w, h) = (18, 10)
        let rgb = random(w * h * 3, seed: 9)
        let g = RateProxy.evaluate(rgb, width: w, height: h, epsilon: 4).gradient
        var rng = SplitMix(seed: 1)
        var worst: Float = 0
        for _ in 0..<60 {
            let k = Int(rng.next() % UInt64(rgb.count))
            var plus = rgb, minus = rgb
            plus[k] += 0.5
            minus[k] -= 0.5
            let numeric =
                (Double(RateProxy.evaluate(plus, width: w, height: h, epsilon: 4).rate)
                    - Double(RateProxy.evaluate(minus, width: w, height: h, epsilon: 4).rate))
            worst = max(worst, abs(Float(numeric) - g[k]))
        }
        #expect(worst < 0.02, "worst |analytic − numeric| \(worst)")
        // Column 17 is outside every block: luma blocks cover columns 0–15, chroma (9 wide) blocks 0–7, i.e. 0–15.
        #expect((0..<h).allSatisfy { y in (0..<3).allSatisfy { g[3 * (y * w + 17) + $0] == 0 } })
    }

    @Test func flatPicturesCostNothingAndNoiseCostsMoreThanItsSmoothedSelf() {
        let (w, h) = (32, 32)
        let flat = [Float](repeating: 117, count: w * h * 3)
        #expect(RateProxy.evaluate(flat, width: w, height: h).rate == 0)
        let noisy = random(w * h * 3, seed: 3).map { 100 + $0 / 16 }
        var smooth = noisy
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                for c in 0..<3 {
                    var s: Float = 0
                    for dy in -1...1 { for dx in -1...1 { s += noisy[3 * ((y + dy) * w + x + dx) + c] } }
                    smooth[3 * (y * w + x) + c] = s / 9
                }
            }
        }
        #expect(RateProxy.evaluate(smooth, width: w, height: h).rate < 0.6 * RateProxy.evaluate(noisy, width: w, height: h).rate)
    }
}
