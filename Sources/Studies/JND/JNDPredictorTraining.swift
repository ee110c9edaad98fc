import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Synchronization
import TensorCore

/// What a training run of the JND predictor measured: the split, the chosen epoch and safety shift, and the
/// predictor scored against the oracle on faces of identities it never saw (the same metrics as the baselines).
public struct JNDPredictorReport: Sendable, Codable {
    public var codec: String
    public var tau: Double
    public var trainFaces: Int
    public var validationFaces: Int
    public var testFaces: Int
    public var testIdentities: Int
    public var epochs: Int
    public var bestEpoch: Int
    public var safetyShift: Double
    public var validationOvershoot: Double
    public var rows: [JNDBaselineReport.Row]
    public var trainingSeconds: Double

    enum CodingKeys: String, CodingKey {
        case codec, tau, epochs, rows
        case trainFaces = "train_faces"
        case validationFaces = "validation_faces"
        case testFaces = "test_faces"
        case testIdentities = "test_identities"
        case bestEpoch = "best_epoch"
        case safetyShift = "safety_shift"
        case validationOvershoot = "validation_overshoot"
        case trainingSeconds = "training_seconds"
    }
}

/// Turns a JND dataset into training samples for the decomposition network, trains it, calibrates its safety shift
/// and scores it (`facejnd jnd train`).
///
/// Split: the baselines' test identities (one in five, `JNDBaselines.isTest`) are never seen in training; a seeded
/// seventh of the remaining identities is the validation set for early stopping and for the safety shift.
public enum JNDPredictorTraining {
    public static let residualScale: Float = 8
    public static let qpScale: Float = 4

    public struct Prepared: Sendable {
        public var entries: [JNDDatasetEntry]
        public var samples: [JNDTrainingSample]
        public var train: [Int]
        public var validation: [Int]
        public var test: [Int]
        public var qpCentre: Float
        public var scalarMean: [Float]
        public var scalarScale: [Float]
    }

    /// The chip the face recogniser sees for a dataset face: landmarks re-fitted on the stored crop from the face
    /// box (moved into crop coordinates).
    public static func chip(_ e: JNDDatasetEntry, crop: RGBImage, analyzer: FaceAnalyzer) -> [UInt8] {
        let landmarks = analyzer.landmarks.predict(crop, box: e.boxInCrop)
        return FaceChip.extract(crop, FaceChip.placement(landmarks: landmarks, size: analyzer.embedder.chipSize))
    }

    /// Loads every face of the dataset as a training sample (crop, residual map, distillation target, scalars).
    public static func prepare(
        dataset: String, analyzer: FaceAnalyzer, config: DecompositionNetwork.Config, seed: UInt64 = 2026,
        limit: Int? = nil, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> Prepared {
        let all = try JNDBaselines.loadEntries(dataset: dataset)
        let entries = limit.map { Array(all.prefix($0)) } ?? all
        guard !entries.isEmpty else { throw StudyError.badDataset(path: dataset, reason: "the dataset index has no entries") }
        let codecs = Set(entries.map(\.codec)), taus = Set(entries.map(\.tau))
        guard codecs.count == 1, taus.count == 1 else {
            throw StudyError.badDataset(path: dataset, reason: "the dataset mixes codecs \(codecs.sorted()) or τ values \(taus.sorted())")
        }
        struct Loaded: Sendable { var input: [Float]; var residual: [Float]; var embedding: [Float]; var scalars: [Float] }
        let loaded = Mutex<[Int: Loaded]>([:])
        let size = config.inputSize
        try ParallelWork.forEach(count: entries.count, threads: threads, progress: progress) { i, ws in
            let e = entries[i]
            let original = try ImageFile.loadRGB(path: (dataset as NSString).appendingPathComponent(e.original))
            let jnd = try ImageFile.loadRGB(path: (dataset as NSString).appendingPathComponent(e.jndImage))
            guard jnd.width == original.width, jnd.height == original.height else {
                throw StudyError.badDataset(path: e.jndImage, reason: "JND image and original differ in size")
            }
            let n = original.width * original.height
            let residual = (0..<3).flatMap { c in
                JNDInput.areaResize(
                    (0..<n).map { (Float(original.pixels[3 * $0 + c]) - Float(jnd.pixels[3 * $0 + c])) / residualScale },
                    width: original.width, height: original.height, to: size)
            }
            let embedding = analyzer.embedder.embed(chip: chip(e, crop: original, analyzer: analyzer), workspace: ws)
            let l = Loaded(
                input: JNDInput.networkInput(original, size: size, channels: config.inputChannels), residual: residual, embedding: embedding,
                scalars: JNDInput.rawScalars(faceWidth: e.faceWidth, sharpness: e.sharpness))
            loaded.withLock { $0[i] = l }
        }
        let faces = loaded.withLock { $0 }
        let test = entries.indices.filter { JNDBaselines.isTest(identity: JNDBaselines.identity(entries[$0])) }
        let rest = entries.indices.filter { !JNDBaselines.isTest(identity: JNDBaselines.identity(entries[$0])) }
        var rng = SplitMix(seed: seed)
        let names = Array(Set(rest.map { JNDBaselines.identity(entries[$0]) })).sorted().shuffled(using: &rng)
        let validationNames = Set(names.prefix(max(1, names.count / 7)))
        var validation = rest.filter { validationNames.contains(JNDBaselines.identity(entries[$0])) }
        var train = rest.filter { !validationNames.contains(JNDBaselines.identity(entries[$0])) }
        // Too few identities to hold some out (tiny datasets): train on all of them, without early stopping.
        if train.isEmpty { (train, validation) = (rest, []) }
        guard !rest.isEmpty else {
            throw StudyError.badDataset(
                path: dataset, reason: "every identity in the dataset is one the split holds out for testing; nothing to train on")
        }
        let fitRows = train
        let sortedQP = fitRows.map { Float(entries[$0].jndQP) }.sorted()
        let centre = sortedQP[sortedQP.count / 2]
        var mean: [Float] = [0, 0], scale: [Float] = [0, 0]
        for r in fitRows { for k in 0..<2 { mean[k] += faces[r]!.scalars[k] / Float(fitRows.count) } }
        for r in fitRows { for k in 0..<2 { scale[k] += (faces[r]!.scalars[k] - mean[k]) * (faces[r]!.scalars[k] - mean[k]) / Float(fitRows.count) } }
        scale = scale.map { max(1e-3, $0.squareRoot()) }
        // dlib's descriptors share a large common component (any two faces are about 0.9 cosine-similar), so the
        // identity branch distils the descriptor minus the training faces' mean: otherwise it learns the mean only.
        var descriptorMean = [Float](repeating: 0, count: faces[fitRows[0]]!.embedding.count)
        for r in fitRows { for k in descriptorMean.indices { descriptorMean[k] += faces[r]!.embedding[k] / Float(fitRows.count) } }
        let samples = entries.indices.map { i in
            let l = faces[i]!
            return JNDTrainingSample(
                input: l.input, scalars: (0..<2).map { (l.scalars[$0] - mean[$0]) / scale[$0] }, residual: l.residual,
                embedding: zip(l.embedding, descriptorMean).map { $0 - $1 }, target: (Float(entries[i].jndQP) - centre) / qpScale)
        }
        return Prepared(
            entries: entries, samples: samples, train: train, validation: validation, test: test, qpCentre: centre,
            scalarMean: mean, scalarScale: scale)
    }

    /// Smallest shift, tried upwards from `from` in steps of `step` (below 20), that keeps the overshoot rate of the
    /// predictions `raw − shift` (rounded) at or under `target`.
    public static func safetyShift(raw: [Double], entries: [JNDDatasetEntry], target: Double, from: Double = -2, step: Double = 0.1) -> Double {
        var shift = from
        while shift < 20 {
            let r = JNDBaselines.row("", predictions: raw.map { Int(($0 - shift).rounded()) }, entries: entries)
            if r.overshootRate <= target { return shift }
            shift += step
        }
        return shift
    }

    /// A model scored on the prepared dataset's test identities: the JND-QP rows (as shipped, i.e. with its safety
    /// shift, and unshifted), and how much of the oracle's residual map the decoder explains (1 − MSE / MSE of an
    /// all-zero map, in network units).
    public static func evaluate(_ model: JNDModel, on p: Prepared) -> (
        rows: [JNDBaselineReport.Row], residualExplained: Double, identityCosine: Double
    ) {
        var o = JNDTrainingOptions()
        o.threads = ProcessInfo.processInfo.activeProcessorCount
        let trainer = JNDTrainer(network: model.network, options: o)
        let samples = p.test.map { p.samples[$0] }
        let out = trainer.evaluate(samples, parameters: model.parameters)
        let raw = out.map { Double(model.header.qpCentre + model.header.qpScale * $0.qp) }
        let entries = p.test.map { p.entries[$0] }
        let shift = Double(model.header.safetyShift)
        let rows = [
            JNDBaselines.row("decomposition predictor, unshifted", predictions: raw.map { Int($0.rounded()) }, entries: entries),
            JNDBaselines.row(
                String(format: "decomposition predictor (shift %.1f)", shift), predictions: raw.map { Int(($0 - shift).rounded()) }, entries: entries),
        ]
        let zero =
            samples.map { s in Double(s.residual.reduce(0) { $0 + $1 * $1 }) / Double(s.residual.count) }.reduce(0, +) / Double(max(1, samples.count))
        let mse = out.map { Double($0.residual) }.reduce(0, +) / Double(max(1, out.count))
        let cosine = 1 - out.map { Double($0.identity) }.reduce(0, +) / Double(max(1, out.count))
        return (rows, zero > 0 ? 1 - mse / zero : 0, cosine)
    }

    /// Trains on a prepared dataset and returns the model and its report. `lossCSV` receives one line per epoch;
    /// `checkpoint`, when given, is rewritten (atomically) after every epoch with the best parameters so far.
    public static func train(
        _ p: Prepared, config: DecompositionNetwork.Config, options: JNDTrainingOptions, preset: String = "medium",
        overshootTarget: Double = 0.025, lossCSV: String? = nil, checkpoint: String? = nil,
        datasetName: String, epochDone: (JNDEpochLog) -> Void = { _ in }
    ) throws -> (JNDModel, JNDPredictorReport) {
        let started = Date()
        let net = DecompositionNetwork(config: config)
        var rng = SplitMix(seed: options.seed)
        let initial = net.initialParameters(using: &rng)
        let trainer = JNDTrainer(network: net, options: options)
        let codec = p.entries[0].codec, tau = p.entries[0].tau
        func header(shift: Float, extra: [String: String]) -> JNDModel.Header {
            var training: [String: String] = [
                "dataset": datasetName, "faces": "\(p.entries.count)", "train_faces": "\(p.train.count)",
                "validation_faces": "\(p.validation.count)", "test_faces_held_out": "\(p.test.count)",
                "split": "test: identities with FNV-1a(name) % 5 == 0; validation: 1/7 of the other identities (seed \(options.seed))",
                "seed": "\(options.seed)", "epochs": "\(options.epochs)", "batch": "\(options.batch)", "learning_rate": "\(options.learningRate)",
                "loss_weights":
                    "identity \(options.identityWeight), residual \(options.residualWeight), qp \(options.qpWeight), decorrelation \(options.decorrelationWeight)",
            ]
            training.merge(extra) { _, b in b }
            return JNDModel.Header(
                network: config, codec: codec, tau: tau, preset: preset, qpCentre: p.qpCentre, qpScale: qpScale,
                safetyShift: shift, quantile: options.quantile, scalarMean: p.scalarMean, scalarScale: p.scalarScale,
                residualScale: residualScale, training: training)
        }
        var csv = JNDEpochLog.csvHeader + "\n"
        let (params, log, bestEpoch) = try trainer.train(p.samples, training: p.train, validation: p.validation, initial: initial) { entry, best in
            csv += entry.csvLine + "\n"
            if let lossCSV { try csv.write(toFile: lossCSV, atomically: true, encoding: .utf8) }
            if let checkpoint {
                try JNDModel(header: header(shift: 0, extra: ["checkpoint_epoch": "\(entry.epoch)"]), parameters: best).write(to: checkpoint)
            }
            epochDone(entry)
        }
        // Safety shift on the validation identities, then the held-out test identities scored once.
        let unshifted = JNDModel(header: header(shift: 0, extra: [:]), parameters: params)
        func raw(_ rows: [Int]) -> [Double] {
            trainer.evaluate(rows.map { p.samples[$0] }, parameters: params).map { Double(unshifted.header.qpCentre + qpScale * $0.qp) }
        }
        let validationRaw = raw(p.validation), testRaw = raw(p.test)
        let validationEntries = p.validation.map { p.entries[$0] }, testEntries = p.test.map { p.entries[$0] }
        let shift = p.validation.isEmpty ? 0 : safetyShift(raw: validationRaw, entries: validationEntries, target: overshootTarget)
        let validationOver = JNDBaselines.row("", predictions: validationRaw.map { Int(($0 - shift).rounded()) }, entries: validationEntries)
            .overshootRate
        let rows = [
            JNDBaselines.row("decomposition predictor, unshifted", predictions: testRaw.map { Int($0.rounded()) }, entries: testEntries),
            JNDBaselines.row(
                String(format: "decomposition predictor (shift %.1f on validation)", shift),
                predictions: testRaw.map { Int(($0 - shift).rounded()) }, entries: testEntries),
        ]
        let final = log.last
        let model = JNDModel(
            header: header(
                shift: Float(shift),
                extra: [
                    "best_epoch": "\(bestEpoch)",
                    "validation_overshoot": String(format: "%.4f", validationOver),
                    "test_mae": String(format: "%.3f", rows[1].meanAbsoluteError),
                    "test_overshoot": String(format: "%.4f", rows[1].overshootRate),
                    "final_train_loss": final.map { String(format: "%.5f", $0.trainTotal) } ?? "",
                ]), parameters: params)
        let report = JNDPredictorReport(
            codec: codec, tau: tau, trainFaces: p.train.count, validationFaces: p.validation.count,
            testFaces: p.test.count, testIdentities: Set(testEntries.map(JNDBaselines.identity)).count,
            epochs: log.count, bestEpoch: bestEpoch, safetyShift: shift, validationOvershoot: validationOver,
            rows: rows, trainingSeconds: Date().timeIntervalSince(started))
        return (model, report)
    }
}
