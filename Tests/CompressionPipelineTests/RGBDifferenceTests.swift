import Foundation
import MediaIO
import TensorCore
import Testing
import _TestSupport

@testable import CompressionPipeline

/// `--prefilter jnd` edits decoded frames in place: an RGB difference must land on the listed pixels only, with
/// the right size after the Y′CbCr round trip.
@Suite struct RGBDifferenceTests {
    @Test func anRGBDifferenceChangesOnlyTheListedPixels() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Fixtures.makeClip(at: dir.appendingPathComponent("c.mp4").path, frames: 1)
        let reader = try VideoReader(path: clip)
        let scaler = try Scaler()
        var checked = false
        try reader.forEachFrame { _, frame in
            #expect(frame.isEditable420)
            let before = try scaler.rgb(frame)
            // A 20×10 block at (40, 30): grey difference of 12 levels (only luma moves), and a red difference next to it.
            var positions: [(x: Int, y: Int)] = [], rgb: [Float] = []
            for y in 30..<40 { for x in 40..<60 { positions.append((x, y)); rgb += [12, 12, 12] } }
            for y in 30..<40 { for x in 100..<120 { positions.append((x, y)); rgb += [20, 0, 0] } }
            try RGBDifference.subtract(from: frame, at: positions, rgb: rgb)
            let after = try scaler.rgb(frame)
            func px(_ img: RGBImage, _ x: Int, _ y: Int, _ c: Int) -> Int { Int(img.pixels[(y * img.width + x) * 3 + c]) }
            for c in 0..<3 {
                let d = px(before, 50, 35, c) - px(after, 50, 35, c)
                #expect(abs(d - 12) <= 2, "grey block channel \(c): \(d)")
            }
            // Red goes down by about 20; the other channels stay within the chroma round trip's error.
            #expect(abs(px(before, 110, 35, 0) - px(after, 110, 35, 0) - 20) <= 3)
            #expect(abs(px(before, 110, 35, 1) - px(after, 110, 35, 1)) <= 3)
            // Far from both blocks nothing changes.
            for (x, y) in [(5, 5), (200, 200), (80, 35)] {
                for c in 0..<3 { #expect(px(before, x, y, c) == px(after, x, y, c), "pixel (\(x), \(y))") }
            }
            checked = true
            return false
        }
        #expect(checked)
    }
}
