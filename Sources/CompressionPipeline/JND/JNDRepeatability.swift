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
    public static func translated(_ img: ColorImage, by shift: Int) -> ColorImage {
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
    public static func measure(dataset: String, oracle: JNDOracle, limit: Int, shift: Int = 2,
                               threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                               progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> (entries: [JNDDatasetEntry], original: [Int], moved: [Int]) {
        let entries = try JNDBaselines.loadEntries(dataset: dataset)
        let test = Array(entries.filter { JNDBaselines.isTest(identity: JNDBaselines.identity($0)) }.prefix(limit))
        let results = Mutex<[Int: (Int, Int)]>([:])
        try ParallelWork.forEach(count: test.count, threads: threads, progress: progress) { i, _ in
            let e = test[i]
            let crop = ColorImage(try ImageFile.loadRGB(path: (dataset as NSString).appendingPathComponent(e.original)))
            let box = e.boxInCrop
            let landmarks = oracle.analyzer.landmarks.predict(crop, box: box)
            let face = Face(box: box, confidence: 1, landmarks: landmarks, embedding: [])
            let moved = Face(box: FaceBox(left: box.left + shift, top: box.top + shift, right: box.right + shift, bottom: box.bottom + shift),
                             confidence: 1, landmarks: landmarks.map { Point(x: $0.x + Double(shift), y: $0.y + Double(shift)) }, embedding: [])
            let a = try oracle.measure(crop, face: face).jndQP
            let b = try oracle.measure(translated(crop, by: shift), face: moved).jndQP
            results.withLock { $0[i] = (a, b) }
        }
        let r = results.withLock { $0 }
        return (test, test.indices.map { r[$0]!.0 }, test.indices.map { r[$0]!.1 })
    }
}
