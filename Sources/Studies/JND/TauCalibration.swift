import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Synchronization
import TensorCore

/// One image's full descriptor curve: e0 and e(q) with the coded bytes for every QP.
struct DescriptorCurve: Codable {
    var image: String
    /// False when the image has no face (the pair then counts as wrong, as in `verify`).
    var hasFace: Bool
    var e0: [Float]
    /// e(q) for q = 0…51 as base64 little-endian Float32, 128 values each.
    var curve: [String]
    var bytes: [Int]

    func descriptor(at q: Int) -> [Float] {
        let data = Data(base64Encoded: curve[q]) ?? Data()
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func encode(_ v: [Float]) -> String { v.withUnsafeBytes { Data($0).base64EncodedString() } }
}

/// A row of the calibration table.
public struct TauRow: Sendable, Encodable {
    public var tau: Double
    /// Verification accuracy (at the identity threshold) when every image is replaced by its face encoded at its JND QP.
    public var accuracy: Double
    public var meanJNDQP: Double
    /// Mean coded bytes of the face region at the JND QP.
    public var meanBytes: Double

    enum CodingKeys: String, CodingKey {
        case tau, accuracy
        case meanJNDQP = "mean_jnd_qp"
        case meanBytes = "mean_bytes"
    }
}

/// The calibration result.
public struct TauCalibrationReport: Sendable, Encodable {
    public var pairs: Int
    public var images: Int
    public var codec: String
    public var mode: String
    public var identityThreshold: Double
    /// Accuracy with the original (unencoded) descriptors.
    public var uncompressedAccuracy: Double
    public var rows: [TauRow]
    /// The largest τ whose accuracy stays within `tolerance` (0.001 = 0.1 percentage points) of the uncompressed one.
    public var calibratedTau: Double?
    public var tolerance: Double

    enum CodingKeys: String, CodingKey {
        case pairs, images, codec, mode, rows, tolerance
        case identityThreshold = "identity_threshold"
        case uncompressedAccuracy = "uncompressed_accuracy"
        case calibratedTau = "calibrated_tau"
    }
}

/// Calibrates the FR-noticeable threshold τ on verification pairs (docs/jnd-definitions.md): for each candidate τ,
/// every image is replaced by its face encoded at its own JND QP, and verification accuracy is measured.
public struct TauCalibration: Sendable {
    public var oracle: JNDOracle
    public var upsample: Int
    public var threads: Int
    public var identityThreshold: Double

    public init(oracle: JNDOracle, upsample: Int = 1, threads: Int = 2, identityThreshold: Double = 0.6) {
        self.oracle = oracle
        self.upsample = upsample
        self.threads = max(1, threads)
        self.identityThreshold = identityThreshold
    }

    /// Computes (or loads from `cache`, a JSON-lines file that makes the run resumable) every image's curve.
    func curves(images: [String], cache: String, progress: @Sendable (Int, Int) -> Void) throws -> [String: DescriptorCurve] {
        let file = try JSONLinesFile<DescriptorCurve>(path: cache)
        let known = Dictionary(file.existing.map { ($0.image, $0) }, uniquingKeysWith: { _, b in b })
        let todo = images.filter { known[$0] == nil }
        let results = Mutex<[String: DescriptorCurve]>(known)
        let alreadyDone = images.count - todo.count
        let me = self
        try ParallelWork.forEach(count: todo.count, threads: threads, progress: { done, _ in progress(alreadyDone + done, images.count) }) { i, ws in
            let c = try me.curve(path: todo[i], workspace: ws)
            try results.withLock {
                try file.append(c)  // under the lock: lines never interleave
                $0[c.image] = c
            }
        }
        return results.withLock { $0 }
    }

    func curve(path: String, workspace: Workspace) throws -> DescriptorCurve {
        let image = try ImageFile.loadRGB(path: path)
        guard let face = try oracle.analyzer.centralFace(image, upsample: upsample, workspace: workspace) else {
            return DescriptorCurve(image: path, hasFace: false, e0: [], curve: [], bytes: [])
        }
        let s = try oracle.session(image, face: face)
        var curve: [String] = [], bytes: [Int] = []
        for q in 0...51 {
            let (e, n) = try s.encode(at: q)
            curve.append(DescriptorCurve.encode(e))
            bytes.append(n)
        }
        return DescriptorCurve(image: path, hasFace: true, e0: s.e0, curve: curve, bytes: bytes)
    }

    /// Runs the calibration over `pairs` for the candidate `taus`.
    public func run(
        pairs: [ImagePair], taus: [Double], cache: String, tolerance: Double = 0.001,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> TauCalibrationReport {
        let images = Array(Set(pairs.flatMap { [$0.first, $0.second] })).sorted()
        let curves = try curves(images: images, cache: cache, progress: progress)
        func accuracy(_ descriptor: (DescriptorCurve) -> [Float]) -> Double {
            var right = 0
            for p in pairs {
                guard let a = curves[p.first], let b = curves[p.second], a.hasFace, b.hasFace else { continue }
                let d = Double(descriptorDistance(descriptor(a), descriptor(b)))
                if (d < identityThreshold) == p.sameIdentity { right += 1 }
            }
            return pairs.isEmpty ? 0 : Double(right) / Double(pairs.count)
        }
        let base = accuracy { $0.e0 }
        var rows: [TauRow] = []
        for tau in taus.sorted() {
            var jnd: [String: Int] = [:]
            for (k, c) in curves where c.hasFace {
                let d = (0...51).map { Double(descriptorDistance(c.e0, c.descriptor(at: $0))) }
                jnd[k] = max(0, JNDSearch.firstCrossing(range: 0...51, step: 1, tau: tau) { d[$0] })
            }
            let acc = accuracy { $0.descriptor(at: jnd[$0.image]!) }
            let qs = jnd.values.map(Double.init)
            let bytes = jnd.map { Double(curves[$0.key]!.bytes[$0.value]) }
            rows.append(
                TauRow(
                    tau: tau, accuracy: acc, meanJNDQP: qs.reduce(0, +) / Double(max(1, qs.count)),
                    meanBytes: bytes.reduce(0, +) / Double(max(1, bytes.count))))
        }
        let chosen = rows.filter { $0.accuracy >= base - tolerance - 1e-12 }.map(\.tau).max()
        return TauCalibrationReport(
            pairs: pairs.count, images: images.count, codec: oracle.codec, mode: oracle.mode.rawValue,
            identityThreshold: identityThreshold, uncompressedAccuracy: base, rows: rows,
            calibratedTau: chosen, tolerance: tolerance)
    }
}
