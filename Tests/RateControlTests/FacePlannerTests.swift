import RateControl
import TensorCore
import Testing

/// The planner, track policies and repair rules on plain values: no media, no models.
@Suite struct FacePlannerTests {
    private let region = FaceBox(left: 176, top: 48, right: 287, bottom: 175)

    private func input(frames: Int, jnds: [(frame: Int, jnd: Int)], tracks: [Int] = [0]) -> PlannerInput {
        PlannerInput(
            width: 640, height: 480,
            frames: (0..<frames).map { _ in tracks.map { PlannerFace(track: $0, region: region) } },
            jnd: Dictionary(uniqueKeysWithValues: tracks.map { ($0, jnds.map { JNDSample(frame: $0.frame, jndQP: $0.jnd) }) }))
    }

    @Test func faceQPIsTheJNDMinusTheMarginInsideTheFaceRegion() {
        let plan = FacePlanner(margin: 2, smoothingFrames: 0, floorQP: 10, backgroundQP: Array(repeating: 40, count: 10))
            .plan(input(frames: 10, jnds: [(0, 30)]))
        for f in plan {
            #expect(f.backgroundQP == 40)
            #expect(f.faces.map(\.qp) == [28])
            #expect(f.faces.first?.region == region && f.faces.first?.encodedRegion == region)
            #expect(f.frameQP == FrameQP(qp: 40, regions: [RegionQP(x: 176, y: 48, width: 112, height: 128, qp: 28)]))
        }
    }

    @Test func theLowerOfTheSurroundingSamplesWins() {
        let planner = FacePlanner(margin: 0, smoothingFrames: 0, floorQP: 10, backgroundQP: Array(repeating: 40, count: 30))
        let qps = planner.plan(input(frames: 30, jnds: [(0, 30), (10, 20), (20, 35)])).map { $0.faces.first?.qp }
        #expect(qps[0..<10].allSatisfy { $0 == 20 })  // min(30, 20)
        #expect(qps[10..<20].allSatisfy { $0 == 20 })  // min(20, 35)
        #expect(qps[20..<30].allSatisfy { $0 == 35 })  // the last sample only
    }

    @Test func smoothingStepsDownAheadOfAHarderStretchAndTheFloorHolds() {
        let t = input(frames: 40, jnds: [(0, 30), (20, 20)])
        let planner = FacePlanner(margin: 0, smoothingFrames: 5, floorQP: 10, backgroundQP: Array(repeating: 40, count: 40))
        #expect(planner.plan(t).allSatisfy { $0.faces.first?.qp == 20 })
        var repairs = FacePlanner.Repairs()
        repairs.lower(track: 0, frames: 30..<40, by: 15)
        let repaired = planner.plan(t, repairs: repairs).map { $0.faces.first?.qp }
        // 20 − 15 → the floor 10; smoothing reaches 5 frames back.
        #expect(repaired[24] == 20 && repaired[25] == 10 && repaired[39] == 10, "\(repaired)")
    }

    @Test func facesAtOrAboveTheBackgroundAndSkippedTracksFollowTheBackground() {
        let t = input(frames: 4, jnds: [(0, 45)])
        var planner = FacePlanner(margin: 2, smoothingFrames: 0, floorQP: 10, backgroundQP: [30, 30, 50, 50])
        let plan = planner.plan(t)
        #expect(plan.map(\.faces.count) == [0, 0, 1, 1])
        #expect(plan[2].faces.first?.qp == 43)
        #expect(plan[0].qp(track: 0) == 30 && plan[2].qp(track: 0) == 43)
        planner.skippedTracks = [0]
        #expect(planner.plan(t).allSatisfy { $0.faces.isEmpty })
    }

    @Test func occludedFacesProtectOnlyTheirUpperFace() throws {
        let t = input(frames: 2, jnds: [(0, 30)])
        var planner = FacePlanner(margin: 2, smoothingFrames: 0, floorQP: 10, backgroundQP: [40, 40])
        let full = try #require(planner.plan(t)[0].faces.first?.region)
        planner.upperOnlyTracks = [0]
        let upper = try #require(planner.plan(t)[0].faces.first?.region)
        #expect(upper.top == full.top && upper.left == full.left && upper.right == full.right)
        #expect(upper.height < full.height && upper.height >= full.height / 2 && upper.height % 16 == 0, "\(upper) vs \(full)")
    }

    @Test func theConstantPlanPutsEveryProtectedRegionAtOneQP() {
        // Three tracks whose JND varies over time; track 1 is upper-face-only, track 2 skipped.
        let t = input(frames: 6, jnds: [(0, 30), (3, 44)], tracks: [0, 1, 2])
        var planner = FacePlanner(margin: 2, smoothingFrames: 15, floorQP: 10, backgroundQP: [40, 40, 40, 40, 8, 40])
        planner.skippedTracks = [2]
        planner.upperOnlyTracks = [1]
        let constant = planner.constantPlan(t, faceQP: 6)
        let planned = planner.plan(t)
        for (k, frame) in constant.enumerated() {
            #expect(frame.backgroundQP == planned[k].backgroundQP)
            // No floor, margin or smoothing: exactly 6 (below the floor 10), the JND ignored.
            #expect(frame.faces.map(\.qp) == [6, 6], "frame \(k): \(frame.faces)")
            #expect(frame.faces.map(\.track) == [0, 1])
        }
        // The same regions the JND plan protects (the upper face only for track 1).
        #expect(constant[0].faces.map(\.region) == planned[0].faces.map(\.region))
        #expect(constant[0].faces[1].region.bottom < region.bottom)
        // At or above the background a frame is uniform.
        #expect(planner.constantPlan(t, faceQP: 40).allSatisfy { $0.faces.isEmpty })
        #expect(planner.constantPlan(t, faceQP: 20).map(\.faces.count) == [2, 2, 2, 2, 0, 2])
    }

    @Test func rotatedVideoGetsRegionsOnTheCodedBlockGrid() throws {
        // Upright 480×640 from a coded 640×480 picture turned a quarter clockwise.
        let t = PlannerInput(
            width: 480, height: 640, orientation: Orientation(quarterTurns: 1),
            frames: [[PlannerFace(track: 0, region: FaceBox(left: 16, top: 32, right: 127, bottom: 159))]],
            jnd: [0: [JNDSample(frame: 0, jndQP: 30)]])
        let f = try #require(FacePlanner(margin: 0, smoothingFrames: 0, floorQP: 10, backgroundQP: [40]).plan(t)[0].faces.first)
        let c = f.encodedRegion
        #expect(c.left % 16 == 0 && c.top % 16 == 0 && (c.right + 1) % 16 == 0 && (c.bottom + 1) % 16 == 0, "\(c)")
        #expect(c.width >= f.region.height && c.height >= f.region.width)  // the box turned with the picture
        #expect(c.right < 640 && c.bottom < 480)
    }

    @Test func overlappingRegionsListTheLowestQPFirst() {
        let f = PlannedFrame(
            backgroundQP: 40,
            faces: [
                PlannedFace(track: 0, region: FaceBox(left: 0, top: 0, right: 31, bottom: 31), qp: 30),
                PlannedFace(track: 1, region: FaceBox(left: 16, top: 16, right: 47, bottom: 47), qp: 22),
            ])
        #expect(f.frameQP.regions.map(\.qp) == [22, 30])
    }

    @Test func trackPoliciesFollowQuality() {
        func decide(_ score: Double?, _ consistency: Double?, _ policy: UnrecognizablePolicy) -> TrackPolicy {
            TrackPolicy.decide(score: score, consistency: consistency, qualityFloor: 0.15, unrecognizable: policy, occlusionConsistency: 0.3)
        }
        #expect(decide(nil, nil, .skip) == .protect)
        #expect(decide(0.1, 0.9, .skip) == .skip)
        #expect(decide(0.1, 0.9, .protect) == .protect)
        #expect(decide(0.5, 0.2, .skip) == .upper)
        #expect(decide(0.5, 0.9, .skip) == .protect)
    }

    @Test func repairStepGrowsWithTheOvershoot() {
        let rules = RepairRules(tau: 0.1, floorQP: 10, minimumStep: 3)
        #expect(rules.step(distance: 0.101) == 3)
        #expect(rules.step(distance: 0.2) == 7)
        #expect(rules.step(distance: 0.4) == 14)
    }

    @Test func gopsSplitAtKeyframes() {
        #expect(RepairRules.gops(["I", "P", "B", "I", "P"], count: 5) == [0..<3, 3..<5])
        #expect(RepairRules.gops(["P", "P", "I"], count: 3) == [0..<2, 2..<3])
    }

    @Test func aRepairTouchesOnlyTheFailingGOPAndTrackByTheWorstOvershoot() {
        let plan = (0..<20).map { _ in
            PlannedFrame(
                backgroundQP: 40,
                faces: [
                    PlannedFace(track: 0, region: region, qp: 26), PlannedFace(track: 1, region: region, qp: 26),
                ])
        }
        let gops = [0..<10, 10..<20]
        let rules = RepairRules(tau: 0.1, floorQP: 10)
        let actions = rules.actions(
            failing: [FaceFailure(frame: 12, track: 1, distance: 0.15), FaceFailure(frame: 15, track: 1, distance: 0.4)],
            plan: plan, gops: gops)
        #expect(actions == [.lower(track: 1, frames: 10..<20, step: 14)])
        var repairs = FacePlanner.Repairs()
        for case .lower(let t, let f, let s) in actions { repairs.lower(track: t, frames: f, by: s) }
        let input = input(frames: 20, jnds: [(0, 28)], tracks: [0, 1])
        let replanned = FacePlanner(margin: 2, smoothingFrames: 0, floorQP: 10, backgroundQP: Array(repeating: 40, count: 20)).plan(
            input, repairs: repairs)
        #expect(replanned[0..<10].allSatisfy { $0.qp(track: 1) == 26 } && replanned.allSatisfy { $0.qp(track: 0) == 26 })
        #expect(replanned[10..<20].allSatisfy { $0.qp(track: 1) == 12 })
    }

    @Test func facesAtTheFloorAreNotRepairedAndCheaperRepairsComeFirst() {
        let plan = (0..<10).map { _ in
            PlannedFrame(
                backgroundQP: 40,
                faces: [
                    PlannedFace(track: 0, region: region, qp: 10),
                    PlannedFace(track: 1, region: region, qp: 30),
                ])
        }
        let rules = RepairRules(tau: 0.1, floorQP: 10)
        let failing = [FaceFailure(frame: 3, track: 0, distance: 0.3), FaceFailure(frame: 4, track: 1, distance: 0.3)]
        #expect(rules.actions(failing: failing, plan: plan, gops: [0..<10]) == [.lower(track: 1, frames: 0..<10, step: 12)])
        // A prefiltered face at the floor can still be encoded unfiltered; an upper-face-only track is widened first.
        #expect(
            rules.actions(failing: failing, plan: plan, gops: [0..<10], prefiltered: [0], upperOnly: [1])
                == [.unfilter(track: 0, frames: 0..<10), .widen(track: 1, frames: 0..<10)])
    }
}
