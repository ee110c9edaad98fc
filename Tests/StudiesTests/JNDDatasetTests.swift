import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Studies
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct JNDDatasetTests {
    private func index(_ dir: URL) throws -> [JNDDatasetEntry] {
        try String(contentsOf: dir.appendingPathComponent("index.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSONDecoder().decode(JNDDatasetEntry.self, from: Data($0.utf8)) }.sorted { $0.id < $1.id }
    }

    @Test func residualPlusJNDImageIsTheOriginalAndBuildsResumeDeterministically() throws {
        let analyzer = try #require(sharedAnalyzer)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: fixtures.appendingPathComponent("openmpf_hikers_video_02_03.png"),
            to: images.appendingPathComponent("hikers.png"))
        let files = try JNDDatasetBuilder.imageFiles(under: images.path)
        #expect(files.count == 1)
        let builder = JNDDatasetBuilder(oracle: JNDOracle(analyzer: analyzer, preset: "veryfast"), upsample: 0, threads: 1)
        let out1 = dir.appendingPathComponent("ds1"), out2 = dir.appendingPathComponent("ds2")
        let summary = try builder.run(images: files, out: out1.path)
        #expect(summary.faces == 1)
        let entries = try index(out1)
        let e = try #require(entries.first)
        #expect(e.jndQP > 0 && e.jndQP < 51)
        #expect(e.curve.contains { $0.qp == e.jndQP } && e.curve.contains { $0.qp == e.jndQP + 1 && $0.d > e.tau })
        // Stored files: residual + JND image = original crop, exactly.
        let original = try ImageFile.loadRGB(path: out1.appendingPathComponent(e.original).path)
        let jnd = try ImageFile.loadRGB(path: out1.appendingPathComponent(e.jndImage).path)
        let residual = try ImageFile.loadRGB16(path: out1.appendingPathComponent(e.residual).path)
        #expect(residual.width == jnd.width && residual.height == jnd.height)
        #expect(JNDDatasetBuilder.reconstruct(jnd: jnd, residual: residual.samples) == original)
        #expect(original != jnd, "the JND image is a compressed picture")
        #expect(original.width == e.crop[2] - e.crop[0] + 1 && original.height == e.crop[3] - e.crop[1] + 1)
        // Resume: nothing new is added.
        _ = try builder.run(images: files, out: out1.path)
        #expect(try index(out1).count == 1)
        // Deterministic: a second build from scratch gives the same entry — up to the last bits of the descriptor
        // distances, which depend on how many threads OpenBLAS happens to use (the suite shares that global setting
        // across concurrent tests).
        _ = try builder.run(images: files, out: out2.path)
        let again = try index(out2)
        #expect(again.map(\.id) == entries.map(\.id) && again.map(\.jndQP) == entries.map(\.jndQP) && again.map(\.crop) == entries.map(\.crop))
        for (a, b) in zip(again, entries) {
            #expect(a.curve.map(\.qp) == b.curve.map(\.qp) && a.curve.map(\.bytes) == b.curve.map(\.bytes))
            #expect(zip(a.curve, b.curve).allSatisfy { abs($0.d - $1.d) < 1e-5 }, "\(a.curve) vs \(b.curve)")
        }
        let summaryFile = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: out1.appendingPathComponent("summary.json"))) as? [String: Any])
        #expect(summaryFile["faces"] as? Int == 1)
    }
}
