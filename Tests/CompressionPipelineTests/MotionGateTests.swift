import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@Suite struct MotionGateTests {
    /// A static scene: a smooth gradient with a little fixed texture (no sensor noise between frames).
    private func scene(width: Int = 320, height: Int = 240) -> RGBImage {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let o = (y * width + x) * 3
                px[o] = UInt8(60 + x / 4)
                px[o + 1] = UInt8(80 + y / 4)
                px[o + 2] = UInt8(100 + ((x * 7 + y * 13) % 17))
            }
        }
        return RGBImage(width: width, height: height, pixels: px)
    }

    private func paste(_ patch: RGBImage, into image: RGBImage, at x0: Int, _ y0: Int) -> RGBImage {
        var out = image
        for y in 0..<patch.height {
            for x in 0..<patch.width {
                for c in 0..<3 { out.pixels[((y0 + y) * out.width + x0 + x) * 3 + c] = patch.pixels[(y * patch.width + x) * 3 + c] }
            }
        }
        return out
    }

    @Test func regionsCoverWhatChangedAndNothingElse() {
        var gate = MotionGate()
        let still = scene()
        #expect(gate.regions(still) == nil, "first frame: full scan")
        #expect(gate.regions(still) == [], "nothing changed")
        let moved = paste(RGBImage(width: 20, height: 20, pixels: [UInt8](repeating: 250, count: 1200)), into: still, at: 200, 100)
        let regions = gate.regions(moved) ?? []
        #expect(regions.count == 1)
        if let r = regions.first {
            // The changed cells (16 px) around the 20×20 patch, grown by the 32-px margin.
            #expect(r.left <= 200 - 32 && r.right >= 219 + 32 && r.top <= 100 - 32 && r.bottom >= 119 + 32)
            #expect(r.area < still.width * still.height / 2)
        }
        // A change at a live face is the tracker's business: no region there.
        #expect(gate.regions(still, excluding: [FaceBox(left: 205, top: 105, right: 214, bottom: 114)]) == [])
        #expect(gate.regions(moved, excluding: [FaceBox(left: 0, top: 0, right: 20, bottom: 20)])?.count == 1)
        // Most of the picture changing means a full scan.
        var inverted = moved
        inverted.pixels = inverted.pixels.map { 255 - $0 }
        #expect(gate.regions(inverted) == nil)
    }

    @Test func aFaceEnteringAStaticSceneIsFoundOnTheFrameItEnters() throws {
        let analyzer = try #require(sharedAnalyzer)
        let frame = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("openmpf_group_video_01_01.png").path)
        // The face dlib finds at [78, 78, 147, 146], with some surroundings.
        let face = frame.cropped(to: FaceBox(left: 60, top: 55, right: 165, bottom: 170))
        // A corridor-camera sized picture: the face covers a few percent of it, as gating expects.
        let empty = scene(width: 640, height: 480)
        let entered = paste(face, into: empty, at: 180, 60)
        func firstFrameWithAFace(gated: Bool) throws -> Int? {
            var tracker = FaceTracker(analyzer: analyzer, detection: .fast(), detectEvery: 10)
            if gated { tracker.motionGate = MotionGate() }
            let ws = Workspace()
            for i in 0..<6 {
                let faces = try tracker.step(i < 3 ? empty : entered, workspace: ws)
                if let f = faces.first {
                    #expect(f.detected && f.face.box.center.x > 180 && f.face.box.center.x < 286, "box \(f.face.box)")
                    return i
                }
            }
            return nil
        }
        // Frame 3 is not a detection frame (every 10th is): only the gate can find the face there.
        #expect(try firstFrameWithAFace(gated: true) == 3)
        #expect(try firstFrameWithAFace(gated: false) == nil)
    }
}
