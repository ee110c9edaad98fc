@testable import CompressionPipeline
import FaceAnalysis
import Foundation
import TensorCore
import Testing
import _TestSupport

/// Planner, repair arithmetic, BD-rate and report rendering on synthetic data (no models, no encodes).
@Suite struct EncodePlanTests {
    /// A face of about 100 px whose landmarks sit at `x`.
    private func face(at x: Double, track: Int) -> TrackedFace {
        let pts = [Point(x: x + 60, y: 100), Point(x: x + 45, y: 100), Point(x: x, y: 100), Point(x: x + 15, y: 100), Point(x: x + 30, y: 140)]
        return TrackedFace(track: track, face: Face(box: FaceBox(left: Int(x) - 20, top: 60, right: Int(x) + 80, bottom: 160),
                                                    confidence: 1, landmarks: pts, embedding: []), detected: true)
    }

    /// A d(q) curve crossing τ = 0.1 after `jnd`.
    private func curve(jnd: Int) -> [Int: Double] {
        Dictionary(uniqueKeysWithValues: (0...51).map { ($0, $0 <= jnd ? 0.05 : 0.2) })
    }

    private func timeline(frames: Int, jnds: [(frame: Int, jnd: Int)]) -> FaceTimeline {
        FaceTimeline(width: 640, height: 480, frames: (0..<frames).map { _ in [face(at: 200, track: 0)] },
                     probes: jnds.map { JNDProbe(track: 0, frame: $0.frame, curve: curve(jnd: $0.jnd)) }, framesPerSecond: 25)
    }

    @Test func faceQPIsTheJNDMinusTheMarginInsideTheFaceRegion() throws {
        let t = timeline(frames: 10, jnds: [(0, 30)])
        let plan = try FacePlanner(tau: 0.1, margin: 2, smoothingFrames: 0, floorQP: 10, backgroundQP: Array(repeating: 40, count: 10)).plan(t)
        for f in plan {
            #expect(f.backgroundQP == 40)
            #expect(f.faces.map(\.qp) == [28])
            let r = try #require(f.faces.first?.region)
            #expect(r.left % 16 == 0 && r.top % 16 == 0, "block-aligned region \(r)")
            // The region covers every landmark of the face.
            #expect(r.left <= 200 && r.right >= 260 && r.top <= 100 && r.bottom >= 140)
            #expect(f.frameQP.qp == 40 && f.frameQP.regions.first?.qp == 28)
        }
    }

    @Test func smoothingStepsDownAheadOfAHarderStretchAndTheFloorHolds() throws {
        let t = timeline(frames: 40, jnds: [(0, 30), (20, 20)])
        let planner = FacePlanner(tau: 0.1, margin: 0, smoothingFrames: 5, floorQP: 10, backgroundQP: Array(repeating: 40, count: 40))
        let qps = try planner.plan(t).map { $0.faces.first?.qp }
        // Frames 0-19 use min(JND before, JND after) = 20 already (the next probe is harder), frames 20+ use 20.
        #expect(qps.allSatisfy { $0 == 20 })
        var repairs = FacePlanner.Repairs()
        repairs.lower(track: 0, frames: 30..<40, by: 15)
        let repaired = try planner.plan(t, repairs: repairs).map { $0.faces.first?.qp }
        #expect(repaired[24] == 20 && repaired[25] == 10 && repaired[39] == 10, "\(repaired)")   // 20-15 → floor 10; smoothing reaches 5 frames back
    }

    @Test func facesAtOrAboveTheBackgroundAndSkippedTracksFollowTheBackground() throws {
        let t = timeline(frames: 4, jnds: [(0, 45)])
        var planner = FacePlanner(tau: 0.1, margin: 2, smoothingFrames: 0, floorQP: 10, backgroundQP: [30, 30, 50, 50])
        let plan = try planner.plan(t)
        #expect(plan.map(\.faces.count) == [0, 0, 1, 1])
        #expect(plan[2].faces.first?.qp == 43)
        planner.skippedTracks = [0]
        #expect(try planner.plan(t).allSatisfy { $0.faces.isEmpty })
    }

    @Test func occludedFacesProtectOnlyTheirUpperFace() throws {
        let t = timeline(frames: 2, jnds: [(0, 30)])
        var planner = FacePlanner(tau: 0.1, margin: 2, smoothingFrames: 0, floorQP: 10, backgroundQP: [40, 40])
        let full = try #require(try planner.plan(t)[0].faces.first?.region)
        planner.upperOnlyTracks = [0]
        let upper = try #require(try planner.plan(t)[0].faces.first?.region)
        #expect(upper.top == full.top && upper.left == full.left && upper.right == full.right)
        #expect(upper.height < full.height && upper.height >= full.height / 2 && upper.height % 16 == 0, "\(upper) vs \(full)")
    }

    @Test func orientationTurnsPicturesAndMapsRectanglesBack() {
        // A 3x2 coded picture whose pixels are numbered 0...5.
        let coded = ColorImage(width: 3, height: 2, pixels: (0..<6).flatMap { [UInt8($0), 0, 0] })
        let quarter = Orientation(displayRotationDegrees: -90)   // shown turned a quarter clockwise
        #expect(quarter.quarterTurns == 1)
        let up = quarter.upright(coded)
        #expect(up.width == 2 && up.height == 3)
        #expect(stride(from: 0, to: up.pixels.count, by: 3).map { up.pixels[$0] } == [3, 0, 4, 1, 5, 2])
        #expect(Orientation(displayRotationDegrees: 180).upright(coded).pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element) == [5, 4, 3, 2, 1, 0])
        for turns in 0..<4 {
            let o = Orientation(quarterTurns: turns)
            let u = o.upright(coded)
            // Every upright pixel comes from the coded pixel codedPoint names, and a box maps onto the same pixels.
            for y in 0..<u.height { for x in 0..<u.width {
                let c = o.codedPoint(x: x, y: y, codedWidth: 3, codedHeight: 2)
                let shown: UInt8 = u.pixels[(y * u.width + x) * 3]
                let stored: UInt8 = coded.pixels[(c.y * 3 + c.x) * 3]
                #expect(shown == stored)
            } }
            let b = o.codedBox(FaceBox(left: 0, top: 0, right: u.width - 1, bottom: 0), codedWidth: 3, codedHeight: 2)
            #expect(b.area == u.width, "turns \(turns): \(b)")
        }
    }

    @Test func overlappingRegionsListTheLowestQPFirst() {
        let f = PlannedFrame(backgroundQP: 40, faces: [
            PlannedFace(track: 0, region: FaceBox(left: 0, top: 0, right: 31, bottom: 31), qp: 30),
            PlannedFace(track: 1, region: FaceBox(left: 16, top: 16, right: 47, bottom: 47), qp: 22),
        ])
        #expect(f.frameQP.regions.map(\.qp) == [22, 30])
    }

    @Test func repairStepGrowsWithTheOvershoot() {
        #expect(EncodeJob.repairStep(distance: 0.101, tau: 0.1, minimum: 3) == 3)
        #expect(EncodeJob.repairStep(distance: 0.2, tau: 0.1, minimum: 3) == 7)
        #expect(EncodeJob.repairStep(distance: 0.4, tau: 0.1, minimum: 3) == 14)
    }

    @Test func gopsSplitAtKeyframes() {
        #expect(EncodeJob.gops(["I", "P", "B", "I", "P"], count: 5) == [0..<3, 3..<5])
        #expect(EncodeJob.gops(["P", "P", "I"], count: 3) == [0..<2, 2..<3])
    }

    @Test func bdRateOfAConstantRateRatioIsThatRatio() throws {
        let ref = [(100.0, 1.0), (200, 2), (400, 3), (800, 4)].map { (rate: $0.0, fidelity: $0.1) }
        let half = ref.map { (rate: $0.rate / 2, fidelity: $0.fidelity) }
        #expect(abs(try #require(BjontegaardDelta.ratePercent(reference: ref, test: half)) + 50) < 1e-9)
        #expect(abs(try #require(BjontegaardDelta.ratePercent(reference: ref, test: ref))) < 1e-9)
        // Disjoint fidelity ranges have no BD-rate.
        #expect(BjontegaardDelta.ratePercent(reference: ref, test: ref.map { (rate: $0.rate, fidelity: $0.fidelity + 10) }) == nil)
    }

    @Test func htmlChartIsSelfContainedSVG() {
        let html = HTMLReport.chart(id: "t", title: "a < b", xLabel: "x", yLabel: "y",
                                    series: [.init(name: "s", color: "#123456", points: [(0, 1), (1, 3), (2, 2)])])
        #expect(html.contains("<svg") && html.contains("<polyline") && html.contains("a &lt; b"))
        #expect(!html.contains("<script") && !html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
    }

    @Test func schemaCheckFindsViolations() throws {
        let schema = try JSONSchemaCheck(schemaFile: Fixtures.repositoryRoot.appendingPathComponent("docs/encode-report.schema.json"))
        #expect(!(try schema.violations(of: Data(#"{"schema":"facejnd-encode-report/1"}"#.utf8))).isEmpty)
        #expect(try schema.violations(of: Data(#"{"schema":"other"}"#.utf8)).contains { $0.contains("schema") })
    }
}
