import Foundation
import MediaIO
import Testing
import _TestSupport

/// Baseline JPEGs decode to exactly the pixels libjpeg gives (dlib 20.0.1's `load_rgb_image`, stored as PNG).
@Suite struct JPEGDecoderTests {
    let fixtures = Fixtures.repositoryRoot.appendingPathComponent("Tests/FaceAnalysisTests/Fixtures")

    @Test(arguments: ["openmpf_group_video_01_01_q85", "openmpf_group_video_01_01_444", "openmpf_group_video_01_01_gray"])
    func decodesExactlyAsLibjpeg(name: String) throws {
        let mine = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("\(name).jpg").path)
        let reference = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("\(name).libjpeg.png").path)
        #expect(mine.width == reference.width && mine.height == reference.height)
        let differing = zip(mine.pixels, reference.pixels).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(mine.pixels.count) samples differ from libjpeg")
    }

    @Test func progressiveJPEGFallsBackToFFmpeg() throws {
        let path = fixtures.appendingPathComponent("openmpf_group_video_01_01_progressive.jpg").path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(ImageFile.decodeBaselineJPEG(bytes) == nil)
        let img = try ImageFile.loadRGB(path: path)
        let baseline = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("openmpf_group_video_01_01_q85.jpg").path)
        #expect(img.width == 640 && img.height == 480)
        // Same picture, same quality, other scan order: close, not identical.
        let mean = zip(img.pixels, baseline.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +) / img.pixels.count
        #expect(mean <= 2)
    }

    @Test func damagedJPEGsNeverCrash() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try [UInt8](Data(contentsOf: fixtures.appendingPathComponent("openmpf_group_video_01_01_q85.jpg")))
        var flipped = good
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<40 { flipped[Int.random(in: 700..<(good.count - 2), using: &rng)] ^= 0x5A }
        let cases: [String: [UInt8]] = [
            "truncated.jpg": Array(good.prefix(good.count / 2)), "flipped.jpg": flipped,
            "headeronly.jpg": Array(good.prefix(600)),
        ]
        for (name, bytes) in cases {
            // The decoder itself must return (an image or nil) without trapping on any of them.
            _ = ImageFile.decodeBaselineJPEG(bytes)
            let path = dir.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let img = try ImageFile.loadRGB(path: path)
                #expect(img.pixels.count == img.width * img.height * 3, "\(name)")
            } catch {
                #expect("\(error)".contains(name), "error names the file: \(error)")
            }
        }
    }
}
