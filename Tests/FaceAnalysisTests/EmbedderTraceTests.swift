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
            let sum = t.data.reduce(0.0) { $0 + Double($1) }
            let mean = sum / Double(t.count)
            let std = (t.data.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(t.count)).squareRoot()
            #expect(abs(mean - (op["mean"] as! Double)) < 1e-5, "op \(i) \(op["op"]!): mean")
            // Sum and spread over the whole tensor: a wrong value anywhere in it moves them.
            #expect(abs(sum - (op["sum"] as! Double)) < 1e-5 * Double(t.count), "op \(i) \(op["op"]!): sum \(sum)")
            let refStd = op["std"] as! Double
            #expect(abs(std - refStd) < 1e-4 * max(1, refStd), "op \(i) \(op["op"]!): std \(std) vs \(refStd)")
        }
    }
}
