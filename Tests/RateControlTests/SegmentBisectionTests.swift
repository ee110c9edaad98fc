import RateControl
import TensorCore
import Testing

/// The in-video JND's search on plain values: segments cut from tracks and GOPs, and every segment bisected at once.
@Suite struct SegmentBisectionTests {
    private let box = FaceBox(left: 0, top: 0, right: 15, bottom: 15)

    @Test func segmentsFollowTheGOPsAndTheirPiecesWhereTheTrackHasFaces() {
        // Track 0 in frames 0–9, track 1 in frames 6–13.
        let frames: [[PlannerFace]] = (0..<14).map { t in
            (t < 10 ? [PlannerFace(track: 0, region: box)] : []) + (t >= 6 ? [PlannerFace(track: 1, region: box)] : [])
        }
        let stretches = TrackSegment.stretches(gops: [0..<8, 8..<14], length: 5)
        #expect(stretches == [0..<5, 5..<8, 8..<13, 13..<14])
        #expect(TrackSegment.stretches(gops: [0..<8, 8..<14], length: nil) == [0..<8, 8..<14])
        let segments = TrackSegment.cut(frames, at: stretches)
        #expect(
            segments == [
                .init(track: 0, frames: 0..<5), .init(track: 0, frames: 5..<8), .init(track: 0, frames: 8..<13),
                .init(track: 1, frames: 5..<8), .init(track: 1, frames: 8..<13), .init(track: 1, frames: 13..<14),
            ])
    }

    /// Runs the search against fixed thresholds: a segment passes at q when q ≤ threshold.
    private func run(_ thresholds: [TrackSegment: Int], range: ClosedRange<Int>) -> (jnd: [TrackSegment: Int], rounds: Int) {
        var search = SegmentBisection(segments: Array(thresholds.keys), range: range)
        var rounds = 0
        while !search.isFinished {
            let qp = search.proposal()
            search.record(qp: qp, passed: Dictionary(uniqueKeysWithValues: qp.map { ($0.key, $0.value <= thresholds[$0.key]!) }))
            rounds += 1
        }
        return (search.jnd, rounds)
    }

    @Test func everySegmentGetsItsLargestPassingQPInLogarithmicRounds() {
        let s = (0..<6).map { TrackSegment(track: $0, frames: 0..<10) }
        let thresholds = [s[0]: 12, s[1]: 0, s[2]: 40, s[3]: 27, s[4]: 39, s[5]: 7]
        let (jnd, rounds) = run(thresholds, range: 0...40)
        #expect(jnd == thresholds)
        // The top first, then ⌈log2 41⌉ halvings at most.
        #expect(rounds <= 7, "\(rounds) rounds")
    }

    @Test func aFailureAtTheJNDLowersItAndNothingInTheRangeIsMinusOne() {
        let a = TrackSegment(track: 0, frames: 0..<10), b = TrackSegment(track: 0, frames: 10..<20)
        var search = SegmentBisection(segments: [a, b], range: 0...40)
        search.record(qp: [a: 40, b: 40], passed: [a: false, b: false])
        search.record(qp: [a: 20, b: 20], passed: [a: true, b: false])
        search.record(qp: [a: 21, b: 0], passed: [a: false, b: false])
        #expect(search.isFinished)
        #expect(search.jnd == [a: 20, b: -1])
        #expect(search.proposal() == [a: 20, b: -1])
        // A confirmation round in which a, at its JND, fails (another segment moved): a drops one QP.
        search.record(qp: search.proposal(), passed: [a: false, b: false])
        #expect(search.jnd == [a: 19, b: -1])
        #expect(search.proposal() == [a: 19, b: -1])
        // Far over τ: straight down by the step the distance calls for, never up, never below the range.
        search.lower(a, to: 15)
        #expect(search.jnd[a] == 15 && search.proposal()[a] == 15 && search.isFinished)
        search.lower(a, to: 17)
        #expect(search.jnd[a] == 15)
        search.lower(a, to: -9)
        #expect(search.jnd[a] == -1)
    }
}
