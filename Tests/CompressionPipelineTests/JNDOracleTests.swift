import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import TensorCore
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct JNDOracleTests {
    private func face() throws -> (RGBImage, Face, FaceAnalyzer) {
        let analyzer = try #require(sharedAnalyzer)
        let image = try ImageFile.loadRGB(path: fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png").path)
        let faces = try analyzer.analyze(image, upsample: 0)
        return (image, try #require(faces.first), analyzer)
    }

    @Test func cropContainsEverythingTheChipIsSampledFrom() throws {
        let (image, face, analyzer) = try face()
        let region = JNDOracle.cropRegion(for: face, imageWidth: image.width, imageHeight: image.height)
        #expect(region.width % 16 == 0 || region.right == image.width - 1 || region.right == image.width - 2)
        #expect(region.width % 2 == 0 && region.height % 2 == 0)
        var crop = [UInt8]()
        for y in region.top...region.bottom {
            let s = (y * image.width + region.left) * 3
            crop += image.pixels[s..<(s + region.width * 3)]
        }
        let cropped = RGBImage(width: region.width, height: region.height, pixels: crop)
        let shifted = face.landmarks.map { Point(x: $0.x - Double(region.left), y: $0.y - Double(region.top)) }
        #expect(
            FaceChip.extract(cropped, FaceChip.placement(landmarks: shifted))
                == FaceChip.extract(image, FaceChip.placement(landmarks: face.landmarks)))
        _ = analyzer
    }

    @Test func distanceIsNearZeroAtTheLowestQPAndGrowsWithQP() throws {
        let (image, face, analyzer) = try face()
        let m = try JNDOracle(analyzer: analyzer, exhaustive: true, preset: "veryfast").measure(image, face: face)
        // Exhaustive stops at the first crossing; measure the whole curve with an unreachable τ.
        let full = try JNDOracle(analyzer: analyzer, tau: 10, exhaustive: true, preset: "veryfast").measure(image, face: face)
        #expect(full.distances.count == 52 && full.jndQP == 51)
        let d = (0...51).map { full.distances[$0]! }
        #expect(d[0] < 0.05, "d(0) = \(d[0]): only 4:2:0 and colour conversion remain")
        let low = d[0...10].reduce(0, +) / 11, mid = d[20...30].reduce(0, +) / 11, high = d[41...51].reduce(0, +) / 11
        #expect(low < mid && mid < high, "means \(low) \(mid) \(high)")
        // Bytes fall as QP rises.
        #expect(full.bytes[10]! > full.bytes[30]! && full.bytes[30]! > full.bytes[50]!)
        // The exhaustive JND agrees with the full curve's first crossing.
        let first = d.firstIndex { $0 > JNDOracle.defaultTau } ?? 52
        #expect(m.jndQP == first - 1)
    }

    @Test(arguments: [JNDMode.crop, .context])
    func jndIsIdenticalAcrossRuns(mode: JNDMode) throws {
        let (image, face, analyzer) = try face()
        let oracle = JNDOracle(analyzer: analyzer, mode: mode, preset: "veryfast")
        let a = try oracle.measure(image, face: face)
        let b = try oracle.measure(image, face: face)
        // Encodes are bit-exact; descriptors agree to float rounding only, because OpenBLAS splits a product
        // differently when another test changes the process-wide thread count between the two runs.
        #expect(a.jndQP == b.jndQP && a.bytes == b.bytes && a.encodes == b.encodes)
        #expect(Set(a.distances.keys) == Set(b.distances.keys))
        for (q, d) in a.distances { #expect(abs(d - b.distances[q]!) < 1e-6, "QP \(q): \(d) vs \(b.distances[q]!)") }
        #expect(a.jndQP > 0 && a.jndQP < 51)
    }
}
