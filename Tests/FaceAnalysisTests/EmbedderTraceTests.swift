import FaceAnalysis
import Foundation
import MediaIO
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct EmbedderTraceTests {
    @Test func resnetMatchesDlibLayerByLayer() throws {
        let embedder = try FaceEmbedder()
        let chip = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("chip150.png").path)
        #expect(chip.width == 150 && chip.height == 150)
        let trace = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("resnet_trace.json"))) as! [String: Any]
        let ops = trace["ops"] as! [[String: Any]]
        let outputs = embedder._trace(chip: chip.pixels)
        #expect(outputs.count == ops.count)
        for (i, (t, op)) in zip(outputs, ops).enumerated() {
            let shape = op["shape"] as! [Int]
            #expect([t.channels, t.height, t.width] == shape, "op \(i) \(op["op"]!): shape")
            let first = op["first"] as! [Double]
            for (k, v) in first.enumerated() {
                #expect(abs(Double(t.data[k]) - v) < 2e-5 * max(1, abs(v)), "op \(i) \(op["op"]!): value \(k) \(t.data[k]) vs \(v)")
            }
            let mean = t.data.reduce(0.0) { $0 + Double($1) } / Double(t.count)
            #expect(abs(mean - (op["mean"] as! Double)) < 1e-5, "op \(i) \(op["op"]!): mean")
        }
    }
}
