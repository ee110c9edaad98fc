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
}
