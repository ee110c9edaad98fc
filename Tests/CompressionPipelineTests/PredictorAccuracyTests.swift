import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Perception
import TensorCore
import Testing
import _TestSupport

/// The shipped predictors against the oracle on the committed frames' faces. The encode tests cannot see a bad
/// predictor (the repair loop hides it), so this is where a predictor that ignores its input fails: on these faces
/// the oracle's JND QPs are 21, 22 and 26 (libx264) and 20, 15 and 27 (libx265), which a constant 30 misses by 7 QP
/// on average.
@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct PredictorAccuracyTests {
    @Test(arguments: ["libx264", "libx265"])
    func theShippedPredictorLandsWithinAFewQPOfTheOracle(codec: String) throws {
        let analyzer = try #require(sharedAnalyzer)
        let model = try JNDModel.bundled(codec: codec)
        let oracle = JNDOracle(analyzer: analyzer, codec: codec, tau: model.header.tau)
        var errors: [Int] = []
        for name in ["openmpf_group_video_01_01.png", "openmpf_hikers_video_02_03.png"] {
            let image = try ImageFile.loadRGB(path: fixtures.appendingPathComponent(name).path)
            for face in try analyzer.analyze(image, upsample: 1) {
                let measured = try oracle.measure(image, face: face).jndQP
                let predicted = model.predict(image, face: face).prediction.qp
                errors.append(abs(predicted - measured))
            }
        }
        #expect(errors.count == 3)
        // Held-out LFW: MAE 1.3 raw, 2.9 after the safety shift (docs/jnd-predictor.md); a few faces are noisier.
        let mean = Double(errors.reduce(0, +)) / Double(max(1, errors.count))
        #expect(mean <= 3.5 && errors.allSatisfy { $0 <= 6 }, "\(codec): |predicted − oracle| = \(errors)")
    }
}
