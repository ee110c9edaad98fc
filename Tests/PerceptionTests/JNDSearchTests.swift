import Perception
import Testing

@Suite struct JNDSearchTests {
    /// Runs the search on a tabulated curve and counts evaluations.
    private func run(_ curve: [Double], step: Int, tau: Double = 0.1) -> (jnd: Int, evaluations: Int) {
        var n = 0
        let jnd = JNDSearch.firstCrossing(range: 0...(curve.count - 1), step: step, tau: tau) { q in
            n += 1
            return curve[q]
        }
        return (jnd, n)
    }

    @Test func monotoneCurveGivesTheLastQPBeforeTheCrossing() {
        let curve = (0...51).map { Double($0) / 200 }  // crosses 0.1 after q = 20
        #expect(run(curve, step: 1).jnd == 20)
        let coarse = run(curve, step: 4)
        #expect(coarse.jnd == 20)
        #expect(coarse.evaluations < 12, "coarse search used \(coarse.evaluations) encodes")
    }

    @Test func aLaterDipBelowTauDoesNotRaiseTheJND() {
        var curve = (0...51).map { Double($0) / 200 }
        curve[21] = 0.2  // first crossing at 21
        curve[22] = 0.05  // noise dips back under τ: the JND stays at 20
        #expect(run(curve, step: 1).jnd == 20)
        #expect(run(curve, step: 4).jnd == 20)
    }

    @Test func crossingInsideACoarseGapIsFound() {
        var curve = [Double](repeating: 0.01, count: 52)
        for q in 13...51 { curve[q] = 0.5 }
        #expect(run(curve, step: 4).jnd == 12)
        #expect(run(curve, step: 8).jnd == 12)
    }

    @Test func edgeCases() {
        #expect(run([Double](repeating: 0.5, count: 52), step: 4).jnd == -1, "noticeable even at the lowest QP")
        #expect(run([Double](repeating: 0.0, count: 52), step: 4).jnd == 51, "never noticeable")
        #expect(run([Double](repeating: 0.0, count: 52), step: 4).evaluations == 14)
    }
}
