import RateControl
import TensorCore
import Testing

@Suite struct CarriedCorrectionTests {
    let tau = 0.12

    @Test func aFailedTrackCarriesWhatItsRepairsNeededAndNewTracksTakeTheMedian() {
        var c = CarriedCorrection()
        #expect(c.offset(track: 3) == 0)
        c.learn(
            [
                .init(track: 1, startOffset: 0, repaired: 5, firstEncodeWorst: 0.2),
                .init(track: 2, startOffset: 0, repaired: 0, firstEncodeWorst: 0.11),
                .init(track: 3, startOffset: 0, repaired: 3, firstEncodeWorst: 0.14),
            ], tau: tau)
        #expect(c.offset(track: 1) == 5)
        #expect(c.offset(track: 2) == 0, "0.11 leaves under one QP of headroom: no raise")
        #expect(c.offset(track: 3) == 3)
        // A track not seen yet starts from the median of 0, 3 and 5.
        #expect(c.offset(track: 9) == 3)
        // The next chunk starts track 1 at 5; a further repair of 2 adds to it.
        c.learn([.init(track: 1, startOffset: 5, repaired: 2, firstEncodeWorst: 0.13)], tau: tau)
        #expect(c.offset(track: 1) == 7)
    }

    @Test func aTrackWellInsideTauIsRaisedByItsHeadroomLessOneQP() {
        let c = CarriedCorrection(qpPerDoubling: 2.5, maxRaise: 8)
        // τ/d = 4: two doublings, 5 QP of headroom, 4 used.
        #expect(c.headroom(worst: 0.03, tau: tau) == 4)
        // τ/d = 2: 2.5 QP, 1 used.
        #expect(c.headroom(worst: 0.06, tau: tau) == 1)
        #expect(c.headroom(worst: 0.09, tau: tau) == 0)
        #expect(c.headroom(worst: 0.2, tau: tau) == 0)
        var d = c
        d.learn([.init(track: 1, startOffset: 2, repaired: 0, firstEncodeWorst: 0.03)], tau: tau)
        #expect(d.offset(track: 1) == -2, "from 2 down by 4: coded 2 QP above its plan")
        d.learn([.init(track: 1, startOffset: -2, repaired: 0, firstEncodeWorst: 0.001)], tau: tau)
        #expect(d.offset(track: 1) == -8, "never more than maxRaise above the plan")
    }

    /// The staircase: a pass under 0.9 τ raises by at least `raiseStep` (the distance alone shows no headroom there),
    /// a pass near τ does not, a failure lowers by the repair; the clip's offset for new tracks follows.
    @Test func aTrackPassingUnderNineTenthsOfTauClimbsByTheRaiseStep() {
        var c = CarriedCorrection(raiseStep: 2)
        #expect(c.headroom(worst: 0.09, tau: tau) == 2, "the distance shows none; the step gives 2")
        #expect(c.headroom(worst: 0.03, tau: tau) == 4, "the distance shows more than the step")
        #expect(c.headroom(worst: 0.11, tau: tau) == 0, "over 0.9 τ: stay")
        #expect(c.headroom(worst: 0.13, tau: tau) == 0)
        c.learn(
            [
                .init(track: 1, startOffset: 0, repaired: 0, firstEncodeWorst: 0.08),
                .init(track: 2, startOffset: 0, repaired: 0, firstEncodeWorst: 0.115),
                .init(track: 3, startOffset: 0, repaired: 0, firstEncodeWorst: 0.085),
            ], tau: tau)
        #expect([c.offset(track: 1), c.offset(track: 2), c.offset(track: 3)] == [-2, 0, -2])
        #expect(c.offset(track: 7) == -2, "a new track starts from the median")
        // Climbing stops at maxRaise; a failure sends the track back down by its repair.
        for _ in 0..<6 { c.learn([.init(track: 1, startOffset: c.offset(track: 1), repaired: 0, firstEncodeWorst: 0.08)], tau: tau) }
        #expect(c.offset(track: 1) == -8)
        c.learn([.init(track: 1, startOffset: -8, repaired: 4, firstEncodeWorst: 0.15)], tau: tau)
        #expect(c.offset(track: 1) == -4)
    }

    @Test func theMedianOfAnEvenCountIsTheUpperMiddle() {
        var c = CarriedCorrection()
        c.learn(
            [
                .init(track: 1, startOffset: 0, repaired: 2, firstEncodeWorst: 0.2),
                .init(track: 2, startOffset: 0, repaired: 6, firstEncodeWorst: 0.3),
            ],
            tau: tau)
        #expect(c.clipOffset == 6)
    }
}

@Suite struct SegmentRepairTests {
    @Test func aRepairLowersOnlyTheFailingSegment() {
        let rules = RepairRules(tau: 0.12, floorQP: 10)
        let plan = (0..<60).map { _ in
            PlannedFrame(backgroundQP: 40, faces: [PlannedFace(track: 1, region: FaceBox(left: 0, top: 0, right: 31, bottom: 31), qp: 20)])
        }
        let segments = TrackSegment.stretches(gops: [0..<60], length: 10)
        let actions = rules.actions(failing: [FaceFailure(frame: 23, track: 1, distance: 0.24)], plan: plan, gops: segments)
        #expect(actions == [.lower(track: 1, frames: 20..<30, step: 7)])
        // Over the whole GOP, the same failure lowers all 60 frames.
        #expect(
            rules.actions(failing: [FaceFailure(frame: 23, track: 1, distance: 0.24)], plan: plan, gops: [0..<60]) == [
                .lower(track: 1, frames: 0..<60, step: 7)
            ])
    }
}
