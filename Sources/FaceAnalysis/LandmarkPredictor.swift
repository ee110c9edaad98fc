import Foundation
import TensorCore

/// dlib's 5-point shape predictor (`shape_predictor_5_face_landmarks.dat`): an ensemble of regression trees on
/// pixel-intensity differences (Kazemi & Sullivan). Points: 0/1 outer/inner corner of the eye on the image's
/// right, 2/3 outer/inner corner of the other eye, 4 bottom of the nose.
///
/// Immutable and `Sendable` after load.
public final class LandmarkPredictor: Sendable {
    struct Split: Sendable {
        var index1: Int32
        var index2: Int32
        var threshold: Float
    }

    struct Tree: Sendable {
        var splits: [Split]       // complete binary tree, node n has children 2n+1, 2n+2
        var leaves: [Float]       // leafCount × (2 · parts)
    }

    let initialShape: [Float]     // x0, y0, x1, y1, ... in box-normalised coordinates
    let cascades: [[Tree]]
    let anchors: [[Int]]          // per cascade, per feature: which landmark the sample point hangs off
    let deltas: [[Float]]         // per cascade, per feature: (dx, dy) in normalised shape coordinates
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
        var cascades: [[Tree]] = []
        for _ in 0..<cascadeCount {
            let treeCount = try r.count("tree count", limit: 100_000)
            var trees: [Tree] = []
            trees.reserveCapacity(treeCount)
            for _ in 0..<treeCount {
                let splitCount = try r.count("split count", limit: 1 << 16)
                var splits: [Split] = []
                splits.reserveCapacity(splitCount)
                for _ in 0..<splitCount {
                    let i1 = try r.count("split feature index", limit: 1 << 20)
                    let i2 = try r.count("split feature index", limit: 1 << 20)
                    splits.append(Split(index1: Int32(i1), index2: Int32(i2), threshold: try r.float("split threshold")))
                }
                let leafCount = try r.count("leaf count", limit: 1 << 17)
                guard leafCount == splitCount + 1 else { throw r.fail("\(splitCount + 1) leaves for \(splitCount) splits") }
                var leaves: [Float] = []
                leaves.reserveCapacity(leafCount * 2 * parts)
                for _ in 0..<leafCount {
                    let m = try r.floatMatrix("leaf value")
                    guard m.rows * m.cols == 2 * parts else { throw r.fail("leaf values of \(2 * parts) numbers") }
                    leaves += m.values
                }
                trees.append(Tree(splits: splits, leaves: leaves))
            }
            cascades.append(trees)
        }
        self.cascades = cascades
        let anchorCascades = try r.count("anchor cascade count", limit: 1000)
        guard anchorCascades == cascadeCount else { throw r.fail("\(cascadeCount) anchor lists") }
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
        guard deltaCascades == cascadeCount else { throw r.fail("\(cascadeCount) delta lists") }
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
        for (c, trees) in cascades.enumerated() {
            for t in trees where t.splits.contains(where: { Int($0.index1) >= anchors[c].count || Int($0.index2) >= anchors[c].count }) {
                _ = t
                throw r.fail("split feature indices below \(anchors[c].count)")
            }
        }
    }

    /// The landmarks of the face in `box`, as integer pixel positions.
    public func predict(_ image: ColorImage, box: FaceBox) -> [Point] {
        let parts = partCount
        var cur = initialShape
        let l = Double(box.left), t = Double(box.top)
        let sw = Double(box.right - box.left), sh = Double(box.bottom - box.top)
        let initialPoints = (0..<parts).map { Point(x: Double(initialShape[2 * $0]), y: Double(initialShape[2 * $0 + 1])) }
        var features: [Float] = []
        let w = image.width, h = image.height
        image.pixels.withUnsafeBufferPointer { px in
            for c in cascades.indices {
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
                for tree in cascades[c] {
                    var n = 0
                    let s = tree.splits
                    while n < s.count {
                        let sp = s[n]
                        n = features[Int(sp.index1)] - features[Int(sp.index2)] > sp.threshold ? 2 * n + 1 : 2 * n + 2
                    }
                    let base = (n - s.count) * 2 * parts
                    for k in 0..<(2 * parts) { cur[k] += tree.leaves[base + k] }
                }
            }
        }
        return (0..<parts).map {
            Point(x: (l + Double(cur[2 * $0]) * sw + 0.5).rounded(.down), y: (t + Double(cur[2 * $0 + 1]) * sh + 0.5).rounded(.down))
        }
    }
}
