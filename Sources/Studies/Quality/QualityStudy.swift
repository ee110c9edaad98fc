import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Synchronization
import TensorCore

/// One face chip as the quality study sees it.
public struct QualityObservation: Sendable {
    public var image: String
    /// LFW identity: the image's directory name.
    public var identity: String
    /// nil for the original chip.
    public var degradation: ChipDegradation?
    public var analysis: DescriptorAnalysis
    /// Detector box width in pixels.
    public var faceWidth: Int
    /// Laplacian variance of the chip (the sharpness baseline).
    public var sharpness: Double
}

/// Trains the quality model and measures its error-versus-reject behaviour on LFW (docs/face-quality.md).
public struct QualityStudy: Sendable {
    public var analyzer: FaceAnalyzer
    public var upsample: Int
    public var threads: Int

    public init(analyzer: FaceAnalyzer, upsample: Int = 1, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.analyzer = analyzer
        self.upsample = upsample
        self.threads = threads
    }

    /// The chip of the face nearest the image centre, its box width, or nil when there is no face.
    public func chip(path: String, workspace: Workspace) throws -> (chip: [UInt8], width: Int)? {
        let image = try ImageFile.loadRGB(path: path)
        guard let face = try analyzer.centralFace(image, upsample: upsample, workspace: workspace) else { return nil }
        return (FaceChip.extract(image, FaceChip.placement(landmarks: face.landmarks, size: analyzer.embedder.chipSize)), face.box.width)
    }

    /// Analyses every image's central face; with `degradations`, each image also gets one degraded copy per
    /// entry (`{ index in [ChipDegradation] }` decides which, so the choice is deterministic). Images without a
    /// face are left out.
    /// The degradations a training image gets: one level from each family, chosen from a seed made of the image's
    /// index, so a rerun trains on the same chips.
    public static func trainingDegradations(image index: Int) -> [ChipDegradation] {
        var rng = SplitMix(seed: UInt64(index) &* 2654435761 &+ 17)
        return ChipDegradation.families.map { $0[Int(rng.next() % UInt64($0.count))] }
    }

    /// The degradations an evaluation image gets: every level of every family on one image in ten (to show how each
    /// score moves), none on the others.
    public static func evaluationDegradations(image index: Int) -> [ChipDegradation] {
        index % 10 == 0 ? ChipDegradation.families.flatMap { $0 } : []
    }

    public func observe(
        images: [String], degradations: @Sendable (Int) -> [ChipDegradation] = { _ in [] },
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> [QualityObservation] {
        let results = Mutex<[Int: [QualityObservation]]>([:])
        let me = self
        let size = analyzer.embedder.chipSize
        try ParallelWork.forEach(count: images.count, threads: threads, progress: progress) { i, workspace in
            let path = images[i]
            guard let (chip, width) = try me.chip(path: path, workspace: workspace) else { return }
            let identity = URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
            var out: [QualityObservation] = []
            let codec = try PictureCodec(codec: "libx264", width: size, height: size)
            for d in [nil] + degradations(i).map(Optional.some) {
                let pixels = try d.map { try $0.apply(chip, size: size, codec: codec) } ?? chip
                out.append(
                    QualityObservation(
                        image: path, identity: identity, degradation: d,
                        analysis: me.analyzer.embedder.analyze(chip: pixels, workspace: workspace), faceWidth: width,
                        sharpness: JNDDatasetBuilder.sharpness(RGBImage(width: size, height: size, pixels: pixels))))
            }
            results.withLock { $0[i] = out }
        }
        return results.withLock { r in r.keys.sorted().flatMap { r[$0]! } }
    }

    /// Training settings.
    public struct TrainingSettings: Sendable {
        public var hidden = 16
        public var epochs = 60
        public var batch = 64
        public var learningRate: Float = 1e-3
        public var weightDecay: Float = 1e-3
        public var prototypes = 64
        public var temperature: Float = 20
        public var validationShare = 0.15
        public var seed: UInt64 = 2026
        public init() {}
    }

    /// One epoch's losses.
    public struct EpochLoss: Sendable, Codable {
        public var epoch: Int
        public var train: Double
        public var validation: Double
    }

    /// Trains the model on `observations` (originals and degraded copies). CR targets use class centres of the
    /// identities with at least two original images; the validation identities are held out of training.
    public static func train(
        _ observations: [QualityObservation], settings: TrainingSettings = TrainingSettings(),
        description: [String: String] = [:]
    ) -> (model: QualityModel, losses: [EpochLoss]) {
        let originals = observations.filter { $0.degradation == nil }
        let mu = (0..<128).map { i in originals.reduce(0) { $0 + $1.analysis.descriptor[i] } / Float(max(1, originals.count)) }
        func c(_ v: [Float]) -> [Float] { QualityMeasures.centred(v, mu) }
        var byIdentity: [String: [[Float]]] = [:]
        for o in originals { byIdentity[o.identity, default: []].append(QualityMeasures.unit(c(o.analysis.descriptor))) }
        let centres = byIdentity.filter { $0.value.count >= 2 }.mapValues { vs in
            QualityMeasures.unit((0..<vs[0].count).map { i in vs.reduce(0) { $0 + $1[i] } })
        }
        let names = centres.keys.sorted()
        let centreList = names.map { centres[$0]! }
        // Identity-disjoint validation split, from a fixed seed.
        var rng = SplitMix(seed: settings.seed)
        let shuffled = names.shuffled(using: &rng)
        let validation = Set(shuffled.prefix(Int(Double(names.count) * settings.validationShare)))
        var xs: [[Float]] = [], ys: [Float] = [], isValidation: [Bool] = []
        for o in observations {
            guard let own = centres[o.identity], let ownIndex = names.firstIndex(of: o.identity) else { continue }
            var others = centreList
            others.remove(at: ownIndex)
            xs.append(o.analysis.pooled)
            ys.append(QualityMeasures.certaintyRatio(c(o.analysis.descriptor), own: own, others: others))
            isValidation.append(validation.contains(o.identity))
        }
        let dim = xs.first?.count ?? 256
        let trainIdx = xs.indices.filter { !isValidation[$0] }, valIdx = xs.indices.filter { isValidation[$0] }
        let (mean, scale) = QualityMeasures.standardization(of: trainIdx.map { xs[$0] })
        let zs = xs.map { QualityMeasures.standardize($0, mean: mean, scale: scale) }
        var head = MLPRegressor(inputs: dim, hiddenUnits: settings.hidden, using: &rng)
        var adam = Adam(learningRate: settings.learningRate, weightDecay: settings.weightDecay)
        // Early stopping: the head is small but the data are few; keep the epoch with the lowest validation loss.
        let curve = head.fit(
            zs, ys, training: trainIdx, validation: valIdx, epochs: settings.epochs, batch: settings.batch,
            optimizer: &adam, using: &rng)
        let losses = curve.enumerated().map { EpochLoss(epoch: $0.offset + 1, train: $0.element.train, validation: $0.element.validation) }
        let bestEpoch = valIdx.isEmpty ? losses.count : (losses.min { $0.validation < $1.validation }?.epoch ?? losses.count)

        // Centre of unrecognisable faces: the mean unit descriptor of the strongest degradations.
        let strongest = observations.filter { $0.degradation.map(ChipDegradation.strongest.contains) ?? false }
        let uc = QualityMeasures.unit((0..<128).map { i in strongest.reduce(0) { $0 + QualityMeasures.unit(c($1.analysis.descriptor))[i] } })
        let protos = QualityMeasures.kMeans(
            originals.map { c($0.analysis.descriptor) }, k: min(settings.prototypes, originals.count), seed: settings.seed)
        var info = description
        info["cr_training_samples"] = String(trainIdx.count)
        info["cr_validation_samples"] = String(valIdx.count)
        info["identities_with_centres"] = String(names.count)
        info["unrecognisable_samples"] = String(strongest.count)
        info["seed"] = String(settings.seed)
        info["epochs"] = String(settings.epochs)
        info["best_epoch"] = String(bestEpoch)
        let header = QualityModel.Header(
            architecture: QualityModel.architecture, inputs: dim, hidden: settings.hidden, embedding: 128,
            prototypes: protos.count, temperature: settings.temperature,
            regions: FeatureRegion.standard.map(\.name), quantiles: 101, training: info,
            payloadFloats: 0, payloadCRC32: 0)
        var model = QualityModel(
            header: header, featureMean: mean, featureScale: scale, descriptorMean: mu, crHead: head, unrecognisableCentre: uc,
            prototypes: protos, crQuantiles: [Float](repeating: 0, count: 101),
            riQuantiles: [Float](repeating: 0, count: 101), consistencyQuantiles: [Float](repeating: 0, count: 101))
        // Score scales from the original training faces.
        let scorer = QualityScorer(model: model)
        let s = originals.map { scorer.scores($0.analysis) }
        model = QualityModel(
            header: header, featureMean: mean, featureScale: scale, descriptorMean: mu, crHead: head, unrecognisableCentre: uc,
            prototypes: protos, crQuantiles: QualityMeasures.quantiles(s.map { Float($0.certaintyRatio) }),
            riQuantiles: QualityMeasures.quantiles(s.map { Float($0.recognizabilityIndex) }),
            consistencyQuantiles: QualityMeasures.quantiles(s.map { Float($0.consistency) }))
        return (model, losses)
    }
}

/// Error-versus-reject: how fast the false non-match rate at a fixed operating point falls as the pairs of
/// lowest quality are rejected.
public enum ErrorVersusReject {
    public struct Curve: Sendable, Codable {
        public var measure: String
        /// (rejected fraction of genuine pairs, FNMR of the rest).
        public var points: [[Double]]
        /// Area under the curve over the rejected fraction 0…`maxReject` (lower is better).
        public var auc: Double
    }

    /// - Parameters:
    ///   - distances: descriptor distance per pair (nil: a face is missing; counts as a non-match and lowest quality).
    ///   - quality: per pair, the lower of its two images' qualities.
    ///   - fmr: the operating point, fixed on all impostor pairs before any rejection.
    public static func curve(
        measure: String, pairs: [ImagePair], distances: [Double?], quality: [Double?], fmr: Double = 1e-3,
        maxReject: Double = 0.5, steps: Int = 50
    ) -> Curve {
        let impostor = pairs.indices.filter { !pairs[$0].sameIdentity }.map { distances[$0] ?? .infinity }.sorted()
        let k = Int((fmr * Double(impostor.count)).rounded(.down))
        // Threshold: accept distance < t; at most k impostor pairs fall below it.
        let t = impostor.isEmpty ? 0.6 : impostor[min(k, impostor.count - 1)]
        let genuine = pairs.indices.filter { pairs[$0].sameIdentity }
            .map { (q: quality[$0] ?? -.infinity, miss: (distances[$0] ?? .infinity) >= t) }
            .sorted { $0.q < $1.q }
        var points: [[Double]] = []
        for s in 0...steps {
            let r = maxReject * Double(s) / Double(steps)
            let kept = genuine.dropFirst(Int((r * Double(genuine.count)).rounded()))
            points.append([r, kept.isEmpty ? 0 : Double(kept.filter(\.miss).count) / Double(kept.count)])
        }
        var auc = 0.0
        for i in 1..<points.count { auc += (points[i][0] - points[i - 1][0]) * (points[i][1] + points[i - 1][1]) / 2 }
        return Curve(measure: measure, points: points, auc: auc)
    }
}
