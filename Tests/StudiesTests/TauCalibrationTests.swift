import CompressionPipeline
import FaceAnalysis
import Foundation
import Studies
import Testing
import _TestSupport

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct TauCalibrationTests {
    @Test func calibrationIsMonotoneCachedAndResumable() throws {
        let analyzer = try #require(sharedAnalyzer)
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // LFW layout; FFmpeg recognises the PNG content whatever the extension.
        for (name, frame) in [("A", "openmpf_hikers_video_02_03.png"), ("B", "openmpf_group_video_01_01.png")] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: fixtures.appendingPathComponent(frame),
                to: dir.appendingPathComponent("\(name)/\(name)_0001.jpg"))
        }
        let pairsFile = dir.appendingPathComponent("pairs.txt").path
        try "1\t2\nA\t1\t1\nA\t1\tB\t1\n".write(toFile: pairsFile, atomically: true, encoding: .utf8)
        let pairs = try Verification.parsePairs(path: pairsFile, imageDirectory: dir.path)
        let cache = dir.appendingPathComponent("curves.jsonl").path
        let job = TauCalibration(oracle: JNDOracle(analyzer: analyzer, preset: "veryfast"), upsample: 0, threads: 1)
        let taus = [0.05, 0.1, 0.2, 0.4]
        let report = try job.run(pairs: pairs, taus: taus, cache: cache)
        #expect(report.images == 2 && report.pairs == 2)
        #expect(report.uncompressedAccuracy == 1, "same image matches itself; the two people differ")
        #expect(report.rows.map(\.tau) == taus)
        for (a, b) in zip(report.rows, report.rows.dropFirst()) {
            #expect(a.meanJNDQP <= b.meanJNDQP, "a larger tau tolerates at least as much compression")
            #expect(a.meanBytes >= b.meanBytes)
        }
        #expect(report.calibratedTau != nil)
        // The cache holds one line per image; a rerun reuses it, even after a torn last line.
        let lines = try String(contentsOfFile: cache, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let handle = try #require(FileHandle(forWritingAtPath: cache))
        try handle.seekToEnd()
        handle.write(Data("{\"image\": \"torn".utf8))
        try handle.close()
        let again = try job.run(pairs: pairs, taus: taus, cache: cache)
        #expect(again.rows.map(\.meanJNDQP) == report.rows.map(\.meanJNDQP))
        #expect(again.uncompressedAccuracy == report.uncompressedAccuracy)
        let after = try String(contentsOfFile: cache, encoding: .utf8)
        #expect(after.hasSuffix("\n"), "the torn line is terminated so later records stay parseable")
    }
}
