import Foundation
import RateControl
import Testing

@Suite struct QPPlanTests {
    @Test func parsesRangesSingleFramesAndRegions() throws {
        let json = """
            {"version":1,"default_qp":24,"frames":[{"from":10,"to":19,"qp":38},
             {"frame":12,"regions":[{"x":1,"y":2,"width":3,"height":4,"qp":10}]}]}
            """
        let plan = try QPPlan.parse(Data(json.utf8))
        #expect(plan.frame(9).qp == 24)
        #expect(plan.frame(10).qp == 38)
        #expect(plan.frame(12).qp == 24, "a later entry without qp falls back to default_qp")
        #expect(plan.frame(12).regions == [RegionQP(x: 1, y: 2, width: 3, height: 4, qp: 10)])
        #expect(plan.frame(19).qp == 38)
        #expect(plan.frame(20).qp == 24)
        #expect(plan.lastFrameNamed == 19)
    }

    @Test func roundTripsThroughJSON() throws {
        let plan = QPPlan(
            defaultQP: 30,
            frames: [.init(from: 3, to: 3, qp: 20), .init(from: 5, to: 9, regions: [.init(x: 0, y: 0, width: 16, height: 16, qp: 12)])])
        let data = try JSONEncoder().encode(plan)
        #expect(try QPPlan.parse(data) == plan)
    }

    @Test(arguments: [
        (#"{"default_qp":60}"#, "outside 0…51"),
        (#"{"default_qp":24,"frames":[{"from":5,"to":2}]}"#, "empty or negative"),
        (#"{"default_qp":24,"frames":[{"frame":1,"qp":-1}]}"#, "outside 0…51"),
        (#"{"default_qp":24,"frames":[{"frame":1,"regions":[{"x":0,"y":0,"width":0,"height":4,"qp":3}]}]}"#, "width, height > 0"),
        (#"{"frames":[]}"#, "missing \"default_qp\""),
        (#"{"default_qp":24,"frames":[{"qp":3}]}"#, "missing \"from\" at .frames[0]"),
        ("not json", "not valid JSON"),
        (#"{"version":2,"default_qp":24}"#, "version 2"),
    ])
    func rejectsBadPlansWithAReason(json: String, reason: String) {
        #expect {
            _ = try QPPlan.parse(Data(json.utf8))
        } throws: { error in
            String(describing: error).contains(reason)
        }
    }

    @Test func checksFrameCount() throws {
        let plan = QPPlan(defaultQP: 24, frames: [.init(from: 0, to: 9, qp: 30)])
        try plan.check(frameCount: 10)
        #expect(throws: QPPlanError.framesPastEnd(lastNamed: 9, frameCount: 9)) { try plan.check(frameCount: 9) }
    }
}
