import FaceAnalysis
import Foundation
import RateControl
import TensorCore
import Testing
import _TestSupport

@testable import CompressionPipeline

/// The planner's input from a timeline, and report rendering, on synthetic data (no models, no encodes).
@Suite struct EncodeReportTests {
    /// A face of about 100 px whose landmarks sit at `x`.
    private func face(at x: Double, track: Int) -> TrackedFace {
        let pts = [Point(x: x + 60, y: 100), Point(x: x + 45, y: 100), Point(x: x, y: 100), Point(x: x + 15, y: 100), Point(x: x + 30, y: 140)]
        return TrackedFace(
            track: track,
            face: Face(
                box: FaceBox(left: Int(x) - 20, top: 60, right: Int(x) + 80, bottom: 160),
                confidence: 1, landmarks: pts, embedding: []), detected: true)
    }

    /// A d(q) curve crossing τ = 0.1 after `jnd`.
    private func curve(jnd: Int) -> [Int: Double] {
        Dictionary(uniqueKeysWithValues: (0...51).map { ($0, $0 <= jnd ? 0.05 : 0.2) })
    }

    private func timeline(frames: Int, jnds: [(frame: Int, jnd: Int)]) -> FaceTimeline {
        FaceTimeline(
            width: 640, height: 480, frames: (0..<frames).map { _ in [face(at: 200, track: 0)] },
            probes: jnds.map { JNDProbe(track: 0, frame: $0.frame, curve: curve(jnd: $0.jnd)) }, framesPerSecond: 25)
    }

    @Test func plannerInputHasBlockAlignedRegionsCoveringTheFaceAndTheProbesJND() throws {
        let input = try timeline(frames: 10, jnds: [(0, 30), (5, 24)]).plannerInput(tau: 0.1, chipSize: 150)
        #expect(input.frames.count == 10 && input.jnd[0] == [JNDSample(frame: 0, jndQP: 30), JNDSample(frame: 5, jndQP: 24)])
        for f in input.frames {
            let r = try #require(f.first?.region)
            #expect(r.left % 16 == 0 && r.top % 16 == 0, "block-aligned region \(r)")
            // The region covers every landmark of the face.
            #expect(r.left <= 200 && r.right >= 260 && r.top <= 100 && r.bottom >= 140)
        }
    }

    @Test func htmlChartIsSelfContainedSVG() {
        let html = HTMLReport.chart(
            id: "t", title: "a < b", xLabel: "x", yLabel: "y",
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
