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
        #expect(try ImageFile.decodeBaselineJPEG(bytes) == nil)
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
            // The decoder itself must return (an image or nil) or throw, without trapping on any of them.
            _ = try? ImageFile.decodeBaselineJPEG(bytes)
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

    /// The defect of `shared/data/fuzz/jpeg-trap-baselinejpeg-197.jpg` (a scan naming Huffman table 5), rebuilt from a
    /// committed fixture (`Tests/FuzzCorpus/jpeg/huffman-selector-out-of-range.jpg`): an error naming the byte, not a trap.
    @Test func anUndefinedHuffmanTableIsAnErrorNamingItsOffset() throws {
        let bytes = try [UInt8](
            Data(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("Tests/FuzzCorpus/jpeg/huffman-selector-out-of-range.jpg")))
        let sos = try #require((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xDA })
        #expect(throws: JPEGError(offset: sos + 6, reason: "component 1 uses Huffman tables 5/2, which are not defined")) {
            try ImageFile.decodeBaselineJPEG(bytes)
        }
    }

    @Test func brokenSegmentsAreErrorsNamingTheirOffset() throws {
        let good = try [UInt8](Data(contentsOf: fixtures.appendingPathComponent("openmpf_group_video_01_01_q85.jpg")))
        func marker(_ m: UInt8) throws -> Int { try #require((2..<(good.count - 1)).first { good[$0] == 0xFF && good[$0 + 1] == m }) }
        // A segment length running past the end of the file.
        var long = good
        let dqt = try marker(0xDB)
        long[dqt + 2] = 0xFF
        long[dqt + 3] = 0xF0
        long = Array(long.prefix(dqt + 100))
        #expect(throws: JPEGError(offset: dqt + 2, reason: "segment of 65520 bytes runs past the end of the file")) {
            try ImageFile.decodeBaselineJPEG(long)
        }
        // A frame header too short for the components it announces.
        var sof = good
        let c0 = try marker(0xC0)
        sof[c0 + 3] = 9  // length 9: the header without its three component entries
        #expect(throws: JPEGError.self) { try ImageFile.decodeBaselineJPEG(sof) }
        // A zero picture size.
        var empty = good
        empty[c0 + 5] = 0
        empty[c0 + 6] = 0
        #expect(throws: JPEGError(offset: c0 + 5, reason: "picture size 640x0")) { try ImageFile.decodeBaselineJPEG(empty) }
    }

    /// A few hundred seeded mutations of each JPEG fixture through the decoder: every one returns or throws.
    @Test func seededMutationsNeverTrap() throws {
        var rng = SeededGenerator(seed: 11)
        var outcomes = [0, 0, 0]  // image, nil, error
        for name in ["openmpf_group_video_01_01_q85.jpg", "openmpf_group_video_01_01_444.jpg", "openmpf_group_video_01_01_gray.jpg"] {
            let good = try [UInt8](Data(contentsOf: fixtures.appendingPathComponent(name)))
            for _ in 0..<60 {
                var b = good
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: for _ in 0..<8 { b[Int.random(in: 2..<min(b.count, 700), using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
                case 1: b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
                case 2: for _ in 0..<40 { b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
                default:
                    let at = Int.random(in: 2..<b.count, using: &rng)
                    b.replaceSubrange(at..<min(b.count, at + 64), with: (0..<64).map { _ in UInt8.random(in: 0...255, using: &rng) })
                }
                do {
                    if let img = try ImageFile.decodeBaselineJPEG(b) {
                        #expect(img.pixels.count == img.width * img.height * 3)
                        outcomes[0] += 1
                    } else {
                        outcomes[1] += 1
                    }
                } catch {
                    outcomes[2] += 1
                }
            }
        }
        // Some mutations must land in each class, or the sweep tests nothing.
        #expect(outcomes.allSatisfy { $0 > 0 }, "\(outcomes)")
    }
}
