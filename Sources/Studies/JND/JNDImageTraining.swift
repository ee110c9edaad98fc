import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Synchronization
import TensorCore

/// Self-supervised training of the JND predictor's residual-map decoder (issue 17, docs/jnd-image.md): the JND
/// image J = crop − residual should cost the codec less (rate term) while the frozen face model still sees the
/// same person (identity hinge). Only the decoder's parameters move; the decomposition encoder, the identity branch
/// and the JND-QP head stay as shipped, so the predicted JND QP is unchanged.
///
/// ```
/// L = w_rate · rate(J) / rate(crop)  +  w_id · max(0, ‖e(J) − e(crop)‖ − margin·τ) / τ
/// ```
/// rate: `Perception.RateProxy`; e: the dlib descriptor of the chip cut from J (`ChipSampling`, gradients through
/// `FaceEmbedder.descriptorGradient`).
public enum JNDImageTraining {
    /// One face, ready to train on.
    public struct Sample: Sendable {
        public var source: String
        public var crop: RGBImage
        var values: [Float]
        var input: [Float]
        var scalars: [Float]
        var sampling: ChipSampling
        var e0: [Float]
        var rate0: Float
        /// The crop's detail (`JNDModel.detail(of:)`), for detail-mask models.
        var detail: [Float]
    }

    public struct Options: Sendable {
        public var epochs = 4
        public var batch = 16
        public var learningRate: Float = 3e-4
        public var rateWeight: Float = 1
        public var identityWeight: Float = 4
        /// The identity hinge starts at this fraction of τ.
        public var margin: Float = 0.25
        public var seed: UInt64 = 2026
        public var threads = 2
        public init() {}
    }

    /// Mean losses of one epoch.
    public struct EpochLog: Sendable, Codable {
        public var epoch: Int
        public var trainRate: Double
        public var trainHinge: Double
        public var validationRate: Double
        public var validationHinge: Double
        /// Share of validation faces whose JND image keeps the descriptor within margin · τ.
        public var validationWithinMargin: Double

        public static let csvHeader = "epoch,train_rate,train_hinge,validation_rate,validation_hinge,validation_within_margin"
        public var csvLine: String {
            String(format: "%d,%.5f,%.5f,%.5f,%.5f,%.4f", epoch, trainRate, trainHinge, validationRate, validationHinge, validationWithinMargin)
        }

        enum CodingKeys: String, CodingKey {
            case epoch
            case trainRate = "train_rate"
            case trainHinge = "train_hinge"
            case validationRate = "validation_rate"
            case validationHinge = "validation_hinge"
            case validationWithinMargin = "validation_within_margin"
        }
    }

    /// The faces of `images` (MMOD, upsample 1), each as the crop the oracle encodes; faces whose chip needs dlib's
    /// pre-shrink pyramid (over ~200 px) are left out.
    public static func prepare(
        images: [String], analyzer: FaceAnalyzer, model: JNDModel, threads: Int = 2, progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> [Sample] {
        let found = Mutex<[Int: [Sample]]>([:])
        let chipSize = analyzer.embedder.chipSize, inputSize = model.header.network.inputSize
        try ParallelWork.forEach(count: images.count, threads: threads, progress: progress) { i, ws in
            let image = try ImageFile.loadRGB(path: images[i])
            var samples: [Sample] = []
            for face in try analyzer.analyze(image, upsample: 1, workspace: ws) {
                let region = JNDOracle.cropRegion(for: face, imageWidth: image.width, imageHeight: image.height, chipSize: chipSize)
                let crop = image.cropped(to: region)
                let landmarks = face.landmarks.map { Point(x: $0.x - Double(region.left), y: $0.y - Double(region.top)) }
                guard let sampling = ChipSampling(FaceChip.placement(landmarks: landmarks, size: chipSize), width: crop.width, height: crop.height)
                else { continue }
                let values = crop.pixels.map(Float.init)
                samples.append(
                    Sample(
                        source: images[i], crop: crop, values: values,
                        input: JNDInput.networkInput(crop, size: inputSize, channels: model.header.network.inputChannels),
                        scalars: model.scalars(faceWidth: face.box.width, sharpness: JNDInput.sharpness(crop)), sampling: sampling,
                        e0: analyzer.embedder.embed(values: sampling.apply(values), workspace: ws),
                        rate0: max(1, RateProxy.evaluate(values, width: crop.width, height: crop.height).rate),
                        detail: model.detail(of: crop)))
            }
            found.withLock { $0[i] = samples }
        }
        return found.withLock { f in images.indices.flatMap { f[$0] ?? [] } }
    }

    /// The JND image of a sample under `parameters` (real-valued, before rounding).
    static func jndImage(_ s: Sample, model: JNDModel, parameters: UnsafePointer<Float>) -> (DecompositionNetwork.Activations, [Float]) {
        let act = model.network.forward(s.input, scalars: s.scalars, parameters: parameters, decoder: true)
        let r = model.residual(decoderOutput: act.residual, crop: s.crop, detail: s.detail)
        return (act, zip(s.values, r).map { $0 - $1 })
    }

    /// One sample's loss terms and, when `gradients` is given, the loss's gradient with respect to the decoder's
    /// parameters added to it (every other parameter's gradient is left alone).
    static func loss(
        _ s: Sample, model: JNDModel, parameters: UnsafePointer<Float>, embedder: FaceEmbedder, tau: Float, options: Options,
        gradients: UnsafeMutablePointer<Float>?
    ) -> (rate: Float, hinge: Float, withinMargin: Bool) {
        let (act, j) = jndImage(s, model: model, parameters: parameters)
        let (rate, dRate) = RateProxy.evaluate(j, width: s.crop.width, height: s.crop.height)
        let chip = s.sampling.apply(j)
        let limit = options.margin * tau
        // The cheap forward pass first: most faces are inside the margin, where the hinge has no gradient.
        let e = embedder.embed(values: chip)
        let d = descriptorDistance(e, s.e0)
        let hinge = max(0, d - limit) / tau
        guard let gradients else { return (rate / s.rate0, hinge, d <= limit) }
        var dJ = dRate.map { options.rateWeight * $0 / s.rate0 }
        if hinge > 0 {
            let (_, dChip) = embedder.descriptorGradient(chip: chip) { e in
                let d = max(1e-12, descriptorDistance(e, s.e0))
                return zip(e, s.e0).map { options.identityWeight * ($0 - $1) / (d * tau) }
            }
            for (k, g) in s.sampling.transpose(dChip).enumerated() { dJ[k] += g }
        }
        // J = crop − R: the gradient on R is −dJ; then back to the decoder's output.
        let size = model.header.network.inputSize
        let dR: [Float]
        switch model.header.residualMode ?? .map {
        case .map:
            dR = JNDInput.upsampleResidualTranspose(
                dJ.map { -$0 }, size: size, width: s.crop.width, height: s.crop.height, scale: model.header.residualScale)
        case .detailMask:
            // R = U(σ(o)) ⊙ detail.
            let dMask = JNDInput.upsampleResidualTranspose(
                zip(dJ, s.detail).map { -$0 * $1 }, size: size, width: s.crop.width, height: s.crop.height, scale: 1)
            dR = zip(dMask, act.residual).map { g, o in
                let m = 1 / (1 + exp(-o))
                return g * m * (1 - m)
            }
        }
        model.network.backward(
            act, dEmbedding: [Float](repeating: 0, count: act.embedding.count), dResidual: dR, dQP: 0, dPooledIdentity: [],
            dPooledResidual: [], parameters: parameters, gradients: gradients)
        return (rate / s.rate0, hinge, d <= limit)
    }

    /// `model` turned into a detail-mask model whose mask starts almost closed (σ(−3) ≈ 0.05 everywhere): the
    /// output convolution's weights zeroed, its biases −3; everything else as it was. The mask acts on the detail
    /// under `passes` binomial passes.
    public static func detailMaskStart(_ model: JNDModel, passes: Int = 1) -> JNDModel {
        var header = model.header
        header.residualMode = .detailMask
        header.detailPasses = passes == 1 ? nil : passes
        var p = model.parameters
        let out = model.network.parameterLayout.first { $0.name == "output conv" }!.range
        for i in out { p[i] = 0 }
        for i in (out.upperBound - 3)..<out.upperBound { p[i] = -3 }
        return JNDModel(header: header, parameters: p)
    }

    /// The parameter ranges that train: the decoder convolutions and the output convolution.
    static func decoderRanges(_ network: DecompositionNetwork) -> [Range<Int>] {
        network.parameterLayout.filter { $0.name.hasPrefix("decoder conv") || $0.name == "output conv" }.map(\.range)
    }

    /// Trains `model`'s decoder on `training`, scoring `validation` after every epoch; returns the model with the
    /// decoder of the epoch with the lowest validation loss, and the log.
    public static func train(
        _ model: JNDModel, training: [Sample], validation: [Sample], embedder: FaceEmbedder, options: Options,
        epochDone: (EpochLog) throws -> Void = { _ in }
    ) throws -> (JNDModel, [EpochLog]) {
        let tau = Float(model.header.tau)
        let ranges = decoderRanges(model.network)
        var parameters = [model.parameters]
        var adam = Adam(learningRate: options.learningRate)
        var rng = SplitMix(seed: options.seed)
        var best = (loss: Double.infinity, parameters: model.parameters)
        var log: [EpochLog] = []
        let count = model.network.parameterCount
        func evaluate(_ samples: [Sample], _ p: [Float]) throws -> (rate: Double, hinge: Double, within: Double) {
            let results = Mutex<[Int: (Float, Float, Bool)]>([:])
            try ParallelWork.forEach(count: samples.count, threads: options.threads) { i, _ in
                let r = p.withUnsafeBufferPointer {
                    loss(samples[i], model: model, parameters: $0.baseAddress!, embedder: embedder, tau: tau, options: options, gradients: nil)
                }
                results.withLock { $0[i] = r }
            }
            let all = results.withLock { Array($0.values) }
            let n = Double(max(1, all.count))
            return (
                all.map { Double($0.0) }.reduce(0, +) / n, all.map { Double($0.1) }.reduce(0, +) / n,
                Double(all.filter { $0.2 }.count) / n
            )
        }
        for epoch in 1...max(1, options.epochs) {
            var order = Array(training.indices)
            order.shuffle(using: &rng)
            var rateSum = 0.0, hingeSum = 0.0
            for start in stride(from: 0, to: order.count, by: options.batch) {
                let batch = Array(order[start..<min(order.count, start + options.batch)])
                // One gradient buffer per worker, summed: the same sum whatever the thread count.
                let sums = Mutex<[Int: ([Float], Float, Float)]>([:])
                let current = parameters[0]
                try ParallelWork.forEach(count: batch.count, threads: options.threads) { k, _ in
                    var g = [Float](repeating: 0, count: count)
                    let r = current.withUnsafeBufferPointer { p in
                        g.withUnsafeMutableBufferPointer {
                            loss(
                                training[batch[k]], model: model, parameters: p.baseAddress!, embedder: embedder, tau: tau, options: options,
                                gradients: $0.baseAddress!)
                        }
                    }
                    sums.withLock { $0[k] = (g, r.rate, r.hinge) }
                }
                var gradient = [Float](repeating: 0, count: count)
                let parts = sums.withLock { s in batch.indices.map { s[$0]! } }
                for part in parts {
                    for range in ranges { for i in range { gradient[i] += part.0[i] / Float(batch.count) } }
                    rateSum += Double(part.1)
                    hingeSum += Double(part.2)
                }
                adam.update(&parameters, gradients: [gradient])
            }
            let v = try evaluate(validation, parameters[0])
            let entry = EpochLog(
                epoch: epoch, trainRate: rateSum / Double(max(1, training.count)), trainHinge: hingeSum / Double(max(1, training.count)),
                validationRate: v.rate, validationHinge: v.hinge, validationWithinMargin: v.within)
            log.append(entry)
            let total = Double(options.rateWeight) * v.rate + Double(options.identityWeight) * v.hinge
            if total < best.loss { best = (total, parameters[0]) }
            try epochDone(entry)
        }
        var header = model.header
        header.training["jnd_image"] =
            "decoder retrained: rate proxy weight \(options.rateWeight), identity hinge weight \(options.identityWeight) from \(options.margin) tau, "
            + "\(options.epochs) epochs, batch \(options.batch), learning rate \(options.learningRate), seed \(options.seed), "
            + "\(training.count) training and \(validation.count) validation faces"
        return (JNDModel(header: header, parameters: best.parameters), log)
    }
}
