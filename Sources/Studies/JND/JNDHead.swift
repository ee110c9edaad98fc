import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Synchronization
import TensorCore

/// A first learned JND-QP predictor: an MLP on what the face-recognition ResNet sees (its pooled penultimate
/// features) plus face width, sharpness and the pixel-domain JND amplitude. One ResNet pass per face instead of the
/// oracle's ~10 trial encodes. It is the JND-QP head the full predictor (identity/residual decomposition with a
/// residual-map decoder) will carry; measured here on its own against the oracle and the baselines.
public enum JNDHead {
    /// Per-face inputs.
    public struct Sample: Sendable {
        public var features: [Float]
        public var jndQP: Int
        public var index: Int
    }

    /// Input features of one dataset face: recomputes the landmarks on the stored original crop (the face box moved
    /// into crop coordinates), takes the chip and runs the ResNet.
    public static func features(_ e: JNDDatasetEntry, dataset: String, analyzer: FaceAnalyzer, workspace: Workspace) throws -> [Float] {
        let img = try ImageFile.loadRGB(path: (dataset as NSString).appendingPathComponent(e.original))
        let chip = JNDPredictorTraining.chip(e, crop: img, analyzer: analyzer)
        let a = analyzer.embedder.analyze(chip: chip, workspace: workspace)
        return a.pooled + [Float(log2(Double(max(1, e.faceWidth)))), Float(log2(max(1, e.sharpness))), Float(log2(PixelJND.mean(img)))]
    }

    public static func samples(
        _ entries: [JNDDatasetEntry], dataset: String, analyzer: FaceAnalyzer, threads: Int,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> [Sample] {
        let out = Mutex<[Int: [Float]]>([:])
        try ParallelWork.forEach(count: entries.count, threads: threads, progress: progress) { i, ws in
            let f = try features(entries[i], dataset: dataset, analyzer: analyzer, workspace: ws)
            out.withLock { $0[i] = f }
        }
        let f = out.withLock { $0 }
        return entries.indices.map { Sample(features: f[$0]!, jndQP: entries[$0].jndQP, index: $0) }
    }

    /// A trained head: standardisation and the MLP.
    public struct Model: Sendable {
        public var mean: [Float]
        public var scale: [Float]
        public var mlp: MLPRegressor
        /// Subtracted from the prediction so that at most 3% of training faces are predicted above their JND.
        public var safetyShift: Int

        public func predict(_ features: [Float]) -> Double {
            Double(mlp.predict(QualityMeasures.standardize(features, mean: mean, scale: scale), batch: 1)[0])
        }
    }

    /// Trains on `train` (identity-disjoint validation share held out for early stopping); returns the model and the
    /// per-epoch (train, validation) MSE in QP².
    public static func train(_ train: [Sample], identities: [String], epochs: Int = 80, hidden: Int = 32, seed: UInt64 = 2026)
        -> (Model, [(Double, Double)])
    {
        var rng = SplitMix(seed: seed)
        let names = Array(Set(identities)).sorted().shuffled(using: &rng)
        let validation = Set(names.prefix(names.count / 7))
        let fit = train.indices.filter { !validation.contains(identities[$0]) }
        let val = train.indices.filter { validation.contains(identities[$0]) }
        let dim = train[0].features.count
        let (mean, scale) = QualityMeasures.standardization(of: fit.map { train[$0].features })
        let z = train.map { QualityMeasures.standardize($0.features, mean: mean, scale: scale) }
        // Targets centred on the training mean: the network learns the deviation.
        let centre = Float(fit.map { train[$0].jndQP }.reduce(0, +)) / Float(max(1, fit.count))
        let y = train.map { Float($0.jndQP) - centre }
        var mlp = MLPRegressor(inputs: dim, hiddenUnits: hidden, using: &rng)
        mlp.output.bias = [0]
        var adam = Adam(learningRate: 1e-3, weightDecay: 1e-3)
        let curve = mlp.fit(z, y, training: fit, validation: val, epochs: epochs, batch: 64, optimizer: &adam, using: &rng)
        var final = mlp
        final.output.bias[0] += centre
        var model = Model(mean: mean, scale: scale, mlp: final, safetyShift: 0)
        // Safety shift on the validation faces (not seen by the weights).
        let pool = val.isEmpty ? fit : val
        while model.safetyShift < 51 {
            let over = pool.filter { Int(model.predict(train[$0].features).rounded()) - model.safetyShift > train[$0].jndQP }.count
            if Double(over) <= 0.03 * Double(pool.count) { break }
            model.safetyShift += 1
        }
        return (model, curve.map { ($0.train, $0.validation) })
    }
}
