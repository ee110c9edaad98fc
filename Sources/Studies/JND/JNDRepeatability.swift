import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Synchronization
import TensorCore

/// How repeatable the oracle's JND is: the same face measured again after moving it by a couple of pixels (as it
/// moves between video frames). No predictor can match the oracle more closely than the oracle matches itself
/// under such a harmless change, so this is the noise floor of every row in the baselines table.
public enum JNDRepeatability {
    /// The crop with its content moved `shift` pixels right and down (edge pixels repeated into the gap), so the
    /// codec's block grid falls differently on the face while every pixel of the face stays in the picture.
    public static func translated(_ img: RGBImage, by shift: Int) -> RGBImage {
        var out = img
        for y in 0..<img.height {
            let sy = max(0, y - shift)
            for x in 0..<img.width {
                let sx = max(0, x - shift)
                for c in 0..<3 { out.pixels[(y * img.width + x) * 3 + c] = img.pixels[(sy * img.width + sx) * 3 + c] }
            }
        }
        return out
    }

    /// For up to `limit` test faces (the baselines' held-out identities, in index order): the oracle's JND of the
    /// stored crop and of the crop moved by `shift` pixels, both measured with the same code path.
    public static func measure(
        dataset: String, oracle: JNDOracle, limit: Int, shift: Int = 2,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) throws -> (entries: [JNDDatasetEntry], original: [Int], moved: [Int]) {
        let entries = try JNDBaselines.loadEntries(dataset: dataset)
        let test = Array(entries.filter { JNDBaselines.isTest(identity: JNDBaselines.identity($0)) }.prefix(limit))
        let results = Mutex<[Int: (Int, Int)]>([:])
        try ParallelWork.forEach(count: test.count, threads: threads, progress: progress) { i, _ in
            let e = test[i]
            let crop = try ImageFile.loadRGB(path: (dataset as NSString).appendingPathComponent(e.original))
            let box = e.boxInCrop
            let landmarks = oracle.analyzer.landmarks.predict(crop, box: box)
            let face = Face(box: box, confidence: 1, landmarks: landmarks, embedding: [])
            let moved = Face(
                box: FaceBox(left: box.left + shift, top: box.top + shift, right: box.right + shift, bottom: box.bottom + shift),
                confidence: 1, landmarks: landmarks.map { Point(x: $0.x + Double(shift), y: $0.y + Double(shift)) }, embedding: [])
            let a = try oracle.measure(crop, face: face).jndQP
            let b = try oracle.measure(translated(crop, by: shift), face: moved).jndQP
            results.withLock { $0[i] = (a, b) }
        }
        let r = results.withLock { $0 }
        return (test, test.indices.map { r[$0]!.0 }, test.indices.map { r[$0]!.1 })
    }
}

/// What `jnd baselines --repeatability` reports: the oracle scored against itself.
public struct RepeatabilityReport: Sendable, Codable {
    /// Re-measured vs the dataset; moved vs unmoved; moved and shifted to the safety level.
    public var rows: [JNDBaselineReport.Row]
    /// The smallest whole-QP shift that brings the moved oracle's overshoots to 3% or less: what even a perfect
    /// predictor pays for the oracle's own noise at the safety level encode needs.
    public var safetyShift: Int
    /// std(unmoved − moved) in QP.
    public var differenceStd: Double
    /// Per-measurement noise σ: with JND = μ + ε and ε independent between the two measurements,
    /// std(a − b) = √2·σ_ε.
    public var noiseSigma: Double
    public var faces: Int

    /// Scores the measurements `JNDRepeatability.measure` returned.
    public init(entries: [JNDDatasetEntry], again: [Int], moved: [Int]) {
        let remeasured = zip(entries, again).map { e, q in
            var c = e; c.jndQP = q; c.curve = []; return c
        }
        let shift = Int(JNDPredictorTraining.safetyShift(raw: moved.map(Double.init), entries: remeasured, target: 0.03, from: 0, step: 1))
        safetyShift = shift
        rows = [
            JNDBaselines.row("oracle re-measured vs dataset", predictions: again, entries: entries),
            JNDBaselines.row("oracle, face moved 2 px vs unmoved", predictions: moved, entries: remeasured),
            JNDBaselines.row("the same, shifted \(shift) to <=3% over", predictions: moved.map { $0 - shift }, entries: remeasured),
        ]
        let diffs = zip(again, moved).map { Double($0 - $1) }
        let m = diffs.reduce(0, +) / Double(max(1, diffs.count))
        differenceStd = (diffs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(1, diffs.count))).squareRoot()
        noiseSigma = differenceStd / 2.0.squareRoot()
        faces = entries.count
    }

    enum CodingKeys: String, CodingKey {
        case rows, faces
        case safetyShift = "safety_shift"
        case differenceStd = "difference_std"
        case noiseSigma = "noise_sigma"
    }
}
