import Foundation
import MediaIO
import TensorCore
import Testing
import _TestSupport

@testable import FaceAnalysis
@testable import NeuralNet

/// onnxruntime's CenterFace outputs on a committed frame (scripts/centerface-reference.py).
private struct CenterFaceReference: Decodable {
    struct RefFace: Decodable {
        var score: Float
        var box: [Double]
        var landmarks: [[Double]]
    }
    var image: String
    var width: Int
    var height: Int
    /// [y, x, 15 channel values] per sampled cell: heatmap, scale (2), offset (2), landmarks (10).
    var samples: [[Double]]
    var faces: [RefFace]
}

/// Loaded once per test process; a load failure fails each test with its message.
private let loadedCenterFace = Result { try CenterFaceDetector() }

@Suite(.enabled(if: ModelDirectory.default.isComplete, "models not fetched (scripts/fetch-models)"))
struct CenterFaceTests {
    private func reference() throws -> (CenterFaceReference, RGBImage) {
        let url = fixtures.appendingPathComponent("centerface_reference.json")
        let ref = try JSONDecoder().decode(CenterFaceReference.self, from: Data(contentsOf: url))
        return (ref, try ImageFile.loadRGB(path: fixtures.appendingPathComponent(ref.image).path))
    }

    @Test func outputsMatchOnnxruntime() throws {
        let detector = try loadedCenterFace.get()
        let (ref, image) = try reference()
        // MobileNetV2's 17 inverted-residual blocks run fused (InvertedResidual); the outputs below are theirs.
        #expect(detector.network.fusedBlocks == 17)
        let maps = try detector.outputs(image, workspace: Workspace())
        #expect(maps.heatmap.height == ref.height / 4 && maps.heatmap.width == ref.width / 4)
        var worst = [Double](repeating: 0, count: 15)
        for s in ref.samples {
            let y = Int(s[0]), x = Int(s[1])
            let ours =
                [maps.heatmap[0, y, x], maps.scale[0, y, x], maps.scale[1, y, x], maps.offset[0, y, x], maps.offset[1, y, x]]
                + (0..<10).map { maps.landmarks[$0, y, x] }
            for c in 0..<15 { worst[c] = max(worst[c], abs(Double(ours[c]) - s[2 + c])) }
        }
        #expect(ref.samples.count > 500)
        // Float32 through 60 convolutions in a different summation order: agreement to a few 1e-5 of unit-scale values.
        #expect(worst[0] < 2e-5, "heatmap differs by \(worst[0])")
        #expect(worst.max()! < 5e-4, "worst per channel \(worst)")
    }

    @Test func decodedFacesMatchTheReferenceDecode() throws {
        let detector = try loadedCenterFace.get()
        let (ref, image) = try reference()
        let faces = CenterFaceDetector.decode(
            try detector.outputs(image, workspace: Workspace()), threshold: 0.5, inputWidth: ref.width, inputHeight: ref.height)
        #expect(faces.count == ref.faces.count && ref.faces.count >= 4)
        for (f, r) in zip(faces, ref.faces) {
            #expect(abs(f.score - r.score) < 1e-4)
            for (a, b) in zip([f.left, f.top, f.right, f.bottom], r.box) { #expect(abs(a - b) < 0.02, "box \(f) vs \(r.box)") }
            for (p, q) in zip(f.landmarks, r.landmarks) { #expect(hypot(p.x - q[0], p.y - q[1]) < 0.02) }
        }
    }

    @Test func findsTheFaceDlibFindsAtAnyInputScale() throws {
        let detector = try loadedCenterFace.get()
        let (_, image) = try reference()
        // dlib's face on this frame (dlib_reference_frames.jsonl): [78, 78, 147, 146].
        for minFace in [10.0, 20, 40] {
            let faces = try detector.detect(image, minFace: minFace)
            let hit = faces.first { $0.left < 113 && $0.right > 113 && $0.top < 112 && $0.bottom > 112 }
            #expect(hit != nil, "min-face \(minFace): \(faces)")
            if let hit { #expect(hit.width > 45 && hit.width < 80, "width \(hit.width)") }
        }
    }

    @Test func nonMaximumSuppressionKeepsTheBestOfOverlappingBoxes() {
        func box(_ l: Double, _ s: Float) -> FastDetection {
            FastDetection(left: l, top: 0, right: l + 10, bottom: 10, score: s, landmarks: [])
        }
        // IoU(0…10, 2…12) = 8/12 > 0.3: the weaker goes; IoU(0…10, 8…18) = 2/18 keeps both.
        let kept = CenterFaceDetector.suppressed([box(2, 0.6), box(0, 0.9), box(8, 0.5), box(30, 0.4)])
        #expect(kept.map(\.left) == [0, 8, 30])
    }

    @Test func boxMapFitRecoversAKnownMapAndDrawsSquareDlibBoxes() throws {
        let truth = BoxMap(dx: 0.03, dy: 0.12, scale: 0.9)
        var rng = SeededGenerator(seed: 5)
        var pairs: [(fast: FastDetection, mmod: FaceBox)] = []
        for _ in 0..<200 {
            let w = Double.random(in: 20...200, using: &rng), h = w * Double.random(in: 1.1...1.4, using: &rng)
            let left = Double.random(in: 0...500, using: &rng), top = Double.random(in: 0...300, using: &rng)
            let d = FastDetection(left: left, top: top, right: left + w, bottom: top + h, score: 1, landmarks: [])
            pairs.append((d, truth.dlibBox(d)))
        }
        // One wild pair must not move the medians.
        pairs.append((pairs[0].fast, FaceBox(left: 0, top: 0, right: 500, bottom: 500)))
        let fitted = try #require(BoxMap.fit(pairs))
        // Integer rounding of the boxes limits how exactly the map comes back.
        #expect(abs(fitted.dx - truth.dx) < 0.01 && abs(fitted.dy - truth.dy) < 0.01 && abs(fitted.scale - truth.scale) < 0.01, "\(fitted)")
        let box = truth.dlibBox(FastDetection(left: 100, top: 50, right: 140, bottom: 100, score: 1, landmarks: []))
        // Side 0.9·√(40·50) = 40.25 → 40; centre (120 + 1.2, 75 + 6) → left 101, top 61.
        #expect(box == FaceBox(left: 101, top: 61, right: 140, bottom: 100))
        #expect(BoxMap.fit([]) == nil)
    }
}
