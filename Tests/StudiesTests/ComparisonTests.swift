import CompressionPipeline
import Foundation
import Studies
import Testing

/// `compare`'s arithmetic on a fake encoder: the matched-reference bisection and the savings figure.
@Suite struct ComparisonTests {
    /// A fake uniform encode at QP q: `within(q)` of 100 faces within τ, bytes halving every 6 QP.
    private func fake(_ within: @escaping (Int) -> Int, calls: inout [Int]) -> (Int) -> RatePoint {
        { q in
            let checks = (0..<100).map { FaceCheck(frame: $0, track: 0, distance: $0 < within(q) ? 0.05 : 0.2) }
            return RatePoint(
                label: "QP \(q)", qp: q, bytes: Int(1_000_000 * pow(2, -Double(q) / 6)), bitrateKbps: 0, fidelity: FaceFidelity(checks, tau: 0.12))
        }
    }

    @Test func bisectionFindsTheLargestQPThatKeepsTheTarget() {
        var calls: [Int] = []
        // 100% within τ up to QP 23, then 90%.
        let within = { (q: Int) in q <= 23 ? 100 : 90 }
        let f = fake(within, calls: &calls)
        var seen: [Int] = []
        let r = Comparison.bisect(range: 0...51, target: 1.0) { q in
            seen.append(q)
            return f(q)
        }
        #expect(r.best.qp == 23)
        #expect(Set(seen).count == seen.count, "a QP evaluated twice: \(seen)")
        #expect(seen.count <= 8, "\(seen.count) encodes for 52 QPs")
        #expect(r.evaluated.map(\.qp) == seen.sorted().map { Optional($0) })
        // A target every QP meets: the highest QP, after one encode.
        var once: [Int] = []
        #expect(
            Comparison.bisect(range: 0...51, target: 0.5) {
                once.append($0); return f($0)
            }.best.qp == 51 && once == [51])
        // A target no QP meets: the lowest QP (assumed to pass, as the lossless end of the range).
        #expect(Comparison.bisect(range: 10...40, target: 1.01, evaluate: f).best.qp == 10)
        // A step at the top end of the range.
        #expect(Comparison.bisect(range: 0...51, target: 1.0, evaluate: fake({ $0 <= 50 ? 100 : 0 }, calls: &calls)).best.qp == 50)
    }

    @Test func savingsAreTheShareOfTheReferenceBytesSaved() {
        #expect(Comparison.savingsPercent(ours: 193_441, reference: 1_111_848) == 100 * (1 - 193_441.0 / 1_111_848.0))
        #expect(abs(Comparison.savingsPercent(ours: 25, reference: 100) - 75) < 1e-12)
        #expect(Comparison.savingsPercent(ours: 150, reference: 100) == -50)
        #expect(Comparison.savingsPercent(ours: 0, reference: 0) == 100)
    }

    @Test func perTrackPoolingGivesTheWorstFrameAndTheWorstFivePercent() {
        // Track 3: 30 frames at 0.01 … 0.30; track 1: one frame.
        let checks = (1...30).map { FaceCheck(frame: $0, track: 3, distance: Double($0) / 100) } + [FaceCheck(frame: 0, track: 1, distance: 0.5)]
        let t = TrackFidelity.perTrack(checks.shuffled(), tau: 0.12)
        #expect(t.map(\.track) == [1, 3])
        #expect(t[0].faces == 1 && t[0].withinTau == 0 && t[0].worstDistance == 0.5 && t[0].worst5PercentDistance == 0.5)
        #expect(t[1].faces == 30 && t[1].withinTau == 12)
        #expect(t[1].worstDistance == 0.30)
        // Nearest rank: ⌈0.95 · 30⌉ = 29th smallest.
        #expect(t[1].worst5PercentDistance == 0.29)
        #expect(abs(t[1].meanDistance - 0.155) < 1e-12)
    }
}
