import Foundation
import TensorCore

/// dlib's 5-point shape predictor (`shape_predictor_5_face_landmarks.dat`): an ensemble of regression trees on
/// pixel-intensity differences (Kazemi & Sullivan). Points: 0/1 outer/inner corner of the eye on the image's
/// right, 2/3 outer/inner corner of the other eye, 4 bottom of the nose.
///
/// Immutable and `Sendable` after load.
public final class LandmarkPredictor: Sendable {
    let initialShape: [Float]  // x0, y0, x1, y1, ... in box-normalised coordinates
    // Every tree is a complete binary tree with the same number of splits (node n has children 2n+1 and 2n+2).
    // Trees are stored flat, cascade after cascade, so inference walks contiguous memory.
    let splitsPerTree: Int
    let treesPerCascade: [Int]
    let splitFeature1: [Int32]  // [tree][split]
    let splitFeature2: [Int32]
    let splitThreshold: [Float]
    let leafValues: [Float]  // [tree][leaf][2 · parts]
    let anchors: [[Int]]  // per cascade, per feature: which landmark the sample point hangs off
    let deltas: [[Float]]  // per cascade, per feature: (dx, dy) in normalised shape coordinates
    public var partCount: Int { initialShape.count / 2 }

    public convenience init(models: ModelDirectory = .default) throws {
        try self.init(bytes: try models.bytes(ModelDirectory.landmarksFile), file: models.file(ModelDirectory.landmarksFile))
    }

    public init(bytes: [UInt8], file: String) throws {
        var r = DlibArchiveReader(bytes: bytes, file: file)
        let version = try r.int("shape predictor version")
        guard version == 1 else { throw r.fail("shape predictor version 1, got \(version)", at: 0) }
        let initial = try r.floatMatrix("initial shape")
        guard initial.cols == 1, initial.rows >= 2, initial.rows % 2 == 0 else {
            throw r.fail("an initial shape column vector of 2·parts values")
        }
        initialShape = initial.values
        let parts = initial.rows / 2
        let cascadeCount = try r.count("cascade count", limit: 1000)
        var perCascade: [Int] = []
        var f1: [Int32] = [], f2: [Int32] = [], th: [Float] = [], leaves: [Float] = []
        var splitCount = -1
        for _ in 0..<cascadeCount {
            let treeCount = try r.count("tree count", limit: 100_000)
            perCascade.append(treeCount)
            for _ in 0..<treeCount {
                let n = try r.count("split count", limit: 1 << 16)
                if splitCount < 0 { splitCount = n }
                guard n == splitCount, n > 0 else { throw r.fail("\(splitCount) splits per tree, got \(n)") }
                for _ in 0..<n {
                    f1.append(Int32(try r.count("split feature index", limit: 1 << 20)))
                    f2.append(Int32(try r.count("split feature index", limit: 1 << 20)))
                    th.append(try r.float("split threshold"))
                }
                let leafCount = try r.count("leaf count", limit: 1 << 17)
                guard leafCount == n + 1 else { throw r.fail("\(n + 1) leaves for \(n) splits") }
                for _ in 0..<leafCount {
                    let m = try r.floatMatrix("leaf value")
                    guard m.rows * m.cols == 2 * parts else { throw r.fail("leaf values of \(2 * parts) numbers") }
                    leaves += m.values
                }
            }
        }
        splitsPerTree = max(splitCount, 0)
        treesPerCascade = perCascade
        splitFeature1 = f1
        splitFeature2 = f2
        splitThreshold = th
        leafValues = leaves
        let cascades = perCascade.count
        let anchorCascades = try r.count("anchor cascade count", limit: 1000)
        guard anchorCascades == cascades else { throw r.fail("\(cascades) anchor lists") }
        var anchors: [[Int]] = []
        for _ in 0..<anchorCascades {
            let n = try r.count("anchor count", limit: 1 << 20)
            var a: [Int] = []
            a.reserveCapacity(n)
            for _ in 0..<n {
                let v = try r.count("anchor index", limit: parts - 1)
                a.append(v)
            }
            anchors.append(a)
        }
        self.anchors = anchors
        let deltaCascades = try r.count("delta cascade count", limit: 1000)
        guard deltaCascades == cascades else { throw r.fail("\(cascades) delta lists") }
        var deltas: [[Float]] = []
        for c in 0..<deltaCascades {
            let n = try r.count("delta count", limit: 1 << 20)
            guard n == anchors[c].count else { throw r.fail("\(anchors[c].count) deltas") }
            var d: [Float] = []
            d.reserveCapacity(2 * n)
            for _ in 0..<n {
                d.append(try r.float("delta x"))
                d.append(try r.float("delta y"))
            }
            deltas.append(d)
        }
        self.deltas = deltas
        try r.expectEnd()
        var tree = 0
        for (c, count) in treesPerCascade.enumerated() {
            let range = (tree * splitsPerTree)..<((tree + count) * splitsPerTree)
            if range.contains(where: { Int(f1[$0]) >= anchors[c].count || Int(f2[$0]) >= anchors[c].count }) {
                throw r.fail("split feature indices below \(anchors[c].count)")
            }
            tree += count
        }
    }

    /// The landmarks of the face in `box`, as integer pixel positions.
    public func predict(_ image: RGBImage, box: FaceBox) -> [Point] {
        let parts = partCount
        var cur = initialShape
        let l = Double(box.left), t = Double(box.top)
        let sw = Double(box.right - box.left), sh = Double(box.bottom - box.top)
        let initialPoints = (0..<parts).map { Point(x: Double(initialShape[2 * $0]), y: Double(initialShape[2 * $0 + 1])) }
        var features: [Float] = []
        var treeStart: [Int] = []
        var acc = 0
        for n in treesPerCascade { treeStart.append(acc); acc += n }
        let w = image.width, h = image.height
        image.pixels.withUnsafeBufferPointer { px in
            for c in treesPerCascade.indices {
                let currentPoints = (0..<parts).map { Point(x: Double(cur[2 * $0]), y: Double(cur[2 * $0 + 1])) }
                // Only rotation and scale of the initial→current fit move the sample offsets.
                let m = Similarity.fit(from: initialPoints, to: currentPoints)
                let ma = Float(m.a), mb = Float(m.b)
                let a = anchors[c], d = deltas[c]
                if features.count != a.count { features = [Float](repeating: 0, count: a.count) }
                for j in a.indices {
                    let dx = d[2 * j], dy = d[2 * j + 1]
                    let qx = ma * dx - mb * dy + cur[2 * a[j]]
                    let qy = mb * dx + ma * dy + cur[2 * a[j] + 1]
                    let X = Int((l + Double(qx) * sw + 0.5).rounded(.down))
                    let Y = Int((t + Double(qy) * sh + 0.5).rounded(.down))
                    if X >= 0, X < w, Y >= 0, Y < h {
                        let o = (Y * w + X) * 3
                        features[j] = Float((Int(px[o]) + Int(px[o + 1]) + Int(px[o + 2])) / 3)
                    } else {
                        features[j] = 0
                    }
                }
                let stride = 2 * parts
                let depthSplits = splitsPerTree
                splitFeature1.withUnsafeBufferPointer { f1 in
                    splitFeature2.withUnsafeBufferPointer { f2 in
                        splitThreshold.withUnsafeBufferPointer { th in
                            leafValues.withUnsafeBufferPointer { lv in
                                features.withUnsafeBufferPointer { fe in
                                    cur.withUnsafeMutableBufferPointer { cu in
                                        for t in treeStart[c]..<(treeStart[c] + treesPerCascade[c]) {
                                            let sb = t * depthSplits
                                            var n = 0
                                            while n < depthSplits {
                                                let k = sb + n
                                                n = fe[Int(f1[k])] - fe[Int(f2[k])] > th[k] ? 2 * n + 1 : 2 * n + 2
                                            }
                                            let base = (t * (depthSplits + 1) + n - depthSplits) * stride
                                            for k in 0..<stride { cu[k] += lv[base + k] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (0..<parts).map {
            Point(x: (l + Double(cur[2 * $0]) * sw + 0.5).rounded(.down), y: (t + Double(cur[2 * $0 + 1]) * sh + 0.5).rounded(.down))
        }
    }
}
