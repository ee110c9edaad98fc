import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import TensorCore
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct BadInputTests {
    private func modelBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: ModelDirectory.default.file(name))))
    }

    @Test(arguments: [ModelDirectory.embedderFile, ModelDirectory.detectorFile, ModelDirectory.landmarksFile])
    func truncatedModelNamesTheByteOffset(file: String) throws {
        let bytes = try modelBytes(file)
        let cut = Array(bytes.prefix(bytes.count * 2 / 3))
        #expect {
            switch file {
            case ModelDirectory.embedderFile: _ = try FaceEmbedder(bytes: cut, file: file)
            case ModelDirectory.detectorFile: _ = try FaceDetector(bytes: cut, file: file)
            default: _ = try LandmarkPredictor(bytes: cut, file: file)
            }
        } throws: { error in
            guard let e = error as? ModelFormatError else { return false }
            return e.offset > 0 && e.offset <= cut.count && e.description.contains("at byte \(e.offset)")
                && e.description.contains("truncated")
        }
    }

    /// The fuzz campaign's hang (docs/reliability.md): one flipped byte made a convolution weight 2.1e17, and the
    /// detector then found "faces" everywhere, each embedded, for minutes. Such weights are refused at load time.
    @Test func anAbsurdWeightIsRefusedWhereItIs() throws {
        var bytes = try modelBytes(ModelDirectory.detectorFile)
        #expect(bytes.count == 729_940, "the fuzz case was cut from dlib's 729,940-byte detector")
        bytes[647_585] = 0x5C  // was 0xBA
        #expect {
            _ = try FaceDetector(bytes: bytes, file: ModelDirectory.detectorFile)
        } throws: { error in
            guard let e = error as? ModelFormatError else { return false }
            return e.offset == 647_582 && e.description.contains("value 34088 is 2.1106205e+17")
        }
        // A NaN is refused the same way.
        var nan = try modelBytes(ModelDirectory.detectorFile)
        nan.replaceSubrange(647_582..<647_586, with: [0x00, 0x00, 0xC0, 0x7F])
        #expect(throws: ModelFormatError.self) { _ = try FaceDetector(bytes: nan, file: ModelDirectory.detectorFile) }
    }

    @Test func corruptedLayerNameIsReportedWhereItIs() throws {
        var bytes = try modelBytes(ModelDirectory.embedderFile)
        // The first payload's name "con_4" starts at 0x14E + 2 (control byte and length byte precede it).
        let at = 0x14E + 2
        #expect(String(decoding: bytes[at..<(at + 5)], as: UTF8.self) == "con_4")
        bytes[at] = UInt8(ascii: "x")
        #expect {
            _ = try FaceEmbedder(bytes: bytes, file: "resnet.dat")
        } throws: { error in
            guard let e = error as? ModelFormatError else { return false }
            return e.offset == 0x14E && e.description.contains("xon_4")
        }
    }

    @Test func wrongModelFileForTheRoleIsRejected() throws {
        let detectorBytes = try modelBytes(ModelDirectory.detectorFile)
        #expect(throws: ModelFormatError.self) { _ = try FaceEmbedder(bytes: detectorBytes, file: "mmod.dat") }
        #expect(throws: ModelFormatError.self) { _ = try LandmarkPredictor(bytes: detectorBytes, file: "mmod.dat") }
    }

    @Test func missingModelsSayHowToFetchThem() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect {
            _ = try FaceAnalyzer(models: ModelDirectory(path: dir.path))
        } throws: { error in
            String(describing: error).contains("scripts/fetch-models")
        }
    }

    @Test func nonImageInputIsAClearError() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("face.png").path
        try "not an image".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try ImageFile.loadRGB(path: path)
        } throws: { error in
            // The PNG demuxer accepts the file by its name; decoding then finds no picture. Either way: a clear error.
            switch error as? MediaError {
            case .cannotOpen(let p, _)?, .decodeFailed(let p, _, _)?: return p == path
            default: return false
            }
        }
    }

    @Test func imageSmallerThanTheDetectorWindowHasNoFaces() throws {
        let analyzer = try #require(sharedAnalyzer)
        for (w, h) in [(1, 1), (5, 3), (40, 30), (79, 79)] {
            let img = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { UInt8($0 % 251) })
            #expect(try analyzer.analyze(img, upsample: 0).isEmpty)
        }
    }

    @Test(arguments: [ImageFile.PNGLayout.gray, .rgba, .rgb16])
    func greyAlphaAndSixteenBitImagesGiveTheSameFaces(layout: ImageFile.PNGLayout) throws {
        let analyzer = try #require(sharedAnalyzer)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png").path)
        let path = dir.appendingPathComponent("variant.png").path
        try ImageFile.writePNG(original, to: path, layout: layout)
        let loaded = try ImageFile.loadRGB(path: path)
        #expect(loaded.width == original.width && loaded.height == original.height)
        let faces = try analyzer.analyze(loaded, upsample: 0)
        let reference = try analyzer.analyze(original, upsample: 0)
        #expect(faces.count == reference.count && faces.count == 1)
        switch layout {
        case .rgba:
            // Alpha is dropped: the same pixels, the same face.
            #expect(loaded == original)
            #expect(faces == reference)
        case .rgb16:
            // swscale's 16→8-bit conversion may round a value by one level.
            #expect(zip(loaded.pixels, original.pixels).allSatisfy { abs(Int($0) - Int($1)) <= 1 })
            #expect(faces[0].box.iou(reference[0].box) > 0.9)
            #expect(descriptorDistance(faces[0].embedding, reference[0].embedding) < 0.05)
        default:
            #expect(faces[0].box.iou(reference[0].box) > 0.8)
        }
    }

    @Test func veryLargeImageIsRefusedClearly() throws {
        let models = ModelDirectory.default
        let detector = try FaceDetector(models: models, maxPixels: 1_000_000)
        let big = RGBImage(width: 900, height: 700)
        #expect(throws: DetectionError.imageTooLarge(width: 1802, height: 1401, limitPixels: 1_000_000)) {
            _ = try detector.detect(big, upsample: 1)
        }
        #expect(try detector.detect(big, upsample: 0).isEmpty)
    }
}
