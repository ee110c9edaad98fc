import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Perception
import Synchronization

/// The JND predictors' yardstick: how close a predictor's JND QP comes to the oracle's on faces of identities it
/// never saw, and how often it overshoots (encoding at the predicted QP makes the FR model notice).
public struct JNDBaselineReport: Sendable, Codable {
    public struct Row: Sendable, Codable {
        public var predictor: String
        /// Mean |predicted − oracle JND QP| on the test faces.
        public var meanAbsoluteError: Double
        /// Share of test faces predicted above their JND QP (past the first crossing of τ), unless the oracle's
        /// curve shows d ≤ τ at exactly the predicted QP.
        public var overshootRate: Double
        /// Share predicted 3 or more QP below the JND (bits wasted).
        public var undershootRate: Double
        public var meanPredictedQP: Double

        enum CodingKeys: String, CodingKey {
            case predictor
            case meanAbsoluteError = "mae"
            case overshootRate = "overshoot_rate"
            case undershootRate = "undershoot_rate"
            case meanPredictedQP = "mean_predicted_qp"
        }
    }

    public var codec: String
    public var tau: Double
    public var trainFaces: Int
    public var testFaces: Int
    public var trainIdentities: Int
    public var testIdentities: Int
    /// Fitted parameters: the constant predictor's QP and the pixel-JND mapping's offset.
    public var constantQP: Int
    public var pixelJNDOffset: Double
    public var rows: [Row]
    /// The learned head's per-epoch [train, validation] MSE (QP²), when it was trained.
    public var headLossCurve: [[Double]]?
    public var headSafetyShift: Int?
    /// With a predictor scored (`--predictor`): the share of the oracle's residual-map energy its decoder explains,
    /// and the mean cosine between its identity branch and the (centred) dlib descriptor.
    public var predictorResidualExplained: Double?
    public var predictorIdentityCosine: Double?

    enum CodingKeys: String, CodingKey {
        case codec, tau, rows
        case trainFaces = "train_faces"
        case testFaces = "test_faces"
        case trainIdentities = "train_identities"
        case testIdentities = "test_identities"
        case constantQP = "constant_qp"
        case pixelJNDOffset = "pixel_jnd_offset"
        case headLossCurve = "head_loss_curve"
        case headSafetyShift = "head_safety_shift"
        case predictorResidualExplained = "predictor_residual_explained"
        case predictorIdentityCosine = "predictor_identity_cosine"
    }
}

/// Baseline JND predictors measured against the oracle on a JND dataset (`facejnd jnd-dataset`).
public enum JNDBaselines {
    /// A face's identity: the directory its source image is in (LFW's layout), or the source itself.
    public static func identity(_ e: JNDDatasetEntry) -> String {
        URL(fileURLWithPath: e.source).deletingLastPathComponent().lastPathComponent
    }

    /// The identity-disjoint split: one identity in five (by a stable hash of its name) is held out for testing.
    public static func isTest(identity: String) -> Bool {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in identity.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h % 5 == 0
    }

    public static func loadEntries(dataset: String) throws -> [JNDDatasetEntry] {
        let path = (dataset as NSString).appendingPathComponent("index.jsonl")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw StudyError.missing(path: path)
        }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { try? decoder.decode(JNDDatasetEntry.self, from: Data($0.utf8)) }
    }

    /// Scores a list of predictions against the oracle.
    public static func row(_ name: String, predictions: [Int], entries: [JNDDatasetEntry]) -> JNDBaselineReport.Row {
        let n = Double(max(1, entries.count))
        var absErr = 0.0, over = 0, under = 0
        for (p, e) in zip(predictions, entries) {
            absErr += Double(abs(p - e.jndQP))
            let measuredBelowTau = e.curve.first { $0.qp == p }.map { $0.d <= e.tau } ?? false
            if p > e.jndQP && !measuredBelowTau { over += 1 }
            if p <= e.jndQP - 3 { under += 1 }
        }
        return .init(
            predictor: name, meanAbsoluteError: absErr / n, overshootRate: Double(over) / n, undershootRate: Double(under) / n,
            meanPredictedQP: Double(predictions.reduce(0, +)) / n)
    }

    /// Fits the baselines on the training identities and scores them, with the oracle, on the test identities.
    public static func evaluate(
        dataset: String, analyzer: FaceAnalyzer? = nil, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> JNDBaselineReport {
        let entries = try loadEntries(dataset: dataset)
        guard let first = entries.first else { throw StudyError.badDataset(path: dataset, reason: "the dataset index has no entries") }
        let amplitudes = Mutex<[Int: Double]>([:])
        try ParallelWork.forEach(count: entries.count, threads: threads, progress: progress) { i, _ in
            let img = try ImageFile.loadRGB(path: (dataset as NSString).appendingPathComponent(entries[i].original))
            let a = PixelJND.mean(img)
            amplitudes.withLock { $0[i] = a }
        }
        let amp = amplitudes.withLock { $0 }
        let test = entries.indices.filter { isTest(identity: identity(entries[$0])) }
        let train = entries.indices.filter { !isTest(identity: identity(entries[$0])) }
        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
        }
        let constant = Int(median(train.map { Double(entries[$0].jndQP) }).rounded())
        let offset = median(train.map { Double(entries[$0].jndQP) - 6 * log2(max(amp[$0]!, 1e-3)) })
        // The same predictors shifted down until at most 3% of the training faces are predicted above their JND:
        // what each costs at the safety level the FR-JND predictor must reach.
        func safeShift(_ predict: (Int) -> Int) -> Int {
            var shift = 0
            while shift < 51 {
                let over = train.filter { predict($0) - shift > entries[$0].jndQP }.count
                if Double(over) <= 0.03 * Double(train.count) { break }
                shift += 1
            }
            return shift
        }
        let namm = { (i: Int) in PixelJND.qp(amplitude: amp[i]!, offset: offset) }
        let constantShift = safeShift { _ in constant }, nammShift = safeShift(namm)
        let testEntries = test.map { entries[$0] }
        var rows = [
            row("oracle (trial encodes)", predictions: testEntries.map(\.jndQP), entries: testEntries),
            row("constant: training median", predictions: test.map { _ in constant }, entries: testEntries),
            row("pixel-domain JND (NAMM) → QP", predictions: test.map(namm), entries: testEntries),
            row("constant, shifted to ≤3% over on training", predictions: test.map { _ in max(0, constant - constantShift) }, entries: testEntries),
            row("NAMM → QP, shifted to ≤3% over on training", predictions: test.map { max(0, namm($0) - nammShift) }, entries: testEntries),
        ]
        var headCurve: [[Double]]? = nil, headShift: Int? = nil
        if let analyzer {
            let samples = try JNDHead.samples(entries, dataset: dataset, analyzer: analyzer, threads: threads, progress: progress)
            let (model, curve) = JNDHead.train(train.map { samples[$0] }, identities: train.map { identity(entries[$0]) })
            let raw = test.map { Int(model.predict(samples[$0].features).rounded()) }
            rows.append(row("learned head (ResNet features + size, sharpness, NAMM)", predictions: raw, entries: testEntries))
            rows.append(
                row("learned head, shifted to ≤3% over on validation", predictions: raw.map { max(0, $0 - model.safetyShift) }, entries: testEntries))
            headCurve = curve.map { [$0.0, $0.1] }
            headShift = model.safetyShift
        }
        return JNDBaselineReport(
            codec: first.codec, tau: first.tau, trainFaces: train.count, testFaces: test.count,
            trainIdentities: Set(train.map { identity(entries[$0]) }).count,
            testIdentities: Set(test.map { identity(entries[$0]) }).count,
            constantQP: constant, pixelJNDOffset: offset, rows: rows, headLossCurve: headCurve, headSafetyShift: headShift)
    }
}
