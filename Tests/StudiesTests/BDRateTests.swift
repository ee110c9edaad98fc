import Foundation
import Studies
import Testing

@Suite struct BDRateTests {
    @Test func bdRateOfAConstantRateRatioIsThatRatio() throws {
        let ref = [(100.0, 1.0), (200, 2), (400, 3), (800, 4)].map { (rate: $0.0, fidelity: $0.1) }
        let half = ref.map { (rate: $0.rate / 2, fidelity: $0.fidelity) }
        #expect(abs(try #require(BjontegaardDelta.ratePercent(reference: ref, test: half)) + 50) < 1e-9)
        #expect(abs(try #require(BjontegaardDelta.ratePercent(reference: ref, test: ref))) < 1e-9)
        // Disjoint fidelity ranges have no BD-rate.
        #expect(BjontegaardDelta.ratePercent(reference: ref, test: ref.map { (rate: $0.rate, fidelity: $0.fidelity + 10) }) == nil)
    }

    /// Curves of different shapes, against values worked out by hand. With log10(rate) linear in fidelity on both
    /// curves (reference a + b·f, test c + d·f), piecewise-linear interpolation is exact and the mean log-rate
    /// difference over the common range [lo, hi] is (c − a) + (d − b)·(lo + hi)/2.
    @Test func bdRateOfCurvesWithDifferentSlopesMatchesTheClosedForm() throws {
        func line(_ a: Double, _ b: Double, _ fs: [Double]) -> [(rate: Double, fidelity: Double)] {
            fs.map { (rate: pow(10, a + b * $0), fidelity: $0) }
        }
        // Reference over f ∈ [10, 40], test over [20, 50]: the common range is [20, 40], mid-point 30.
        let ref = line(1.0, 0.05, [10, 17, 26, 40])
        let test = line(0.5, 0.06, [50, 20, 33])  // unsorted on purpose
        let mean = (0.5 - 1.0) + (0.06 - 0.05) * 30
        let expected = (pow(10, mean) - 1) * 100  // mean −0.2 → −36.90%
        let bd = try #require(BjontegaardDelta.ratePercent(reference: ref, test: test))
        #expect(abs(bd - expected) < 1e-6, "\(bd) vs \(expected)")
        #expect(abs(expected + 36.904_265) < 1e-3)
        // A convex reference, by the trapezoid rule on its own knots: log10 r = 1, 2, 4 at f = 0, 1, 2 against a
        // test flat at log10 r = 2. Mean of (2 − ref) over [0, 2]: ((2 − 1) + (2 − 2))/2 · ½ + ((2 − 2) + (2 − 4))/2 · ½ = −0.25.
        let convex = [(rate: 10.0, fidelity: 0.0), (rate: 100, fidelity: 1), (rate: 10_000, fidelity: 2)]
        let flat = [(rate: 100.0, fidelity: 0.0), (rate: 100, fidelity: 2)]
        let bd2 = try #require(BjontegaardDelta.ratePercent(reference: convex, test: flat))
        #expect(abs(bd2 - (pow(10, -0.25) - 1) * 100) < 1e-6, "\(bd2)")
        // Points with no rate are dropped; one point left is no curve.
        #expect(BjontegaardDelta.ratePercent(reference: [(rate: 0, fidelity: 1), (rate: 10, fidelity: 2)], test: flat) == nil)
    }
}
