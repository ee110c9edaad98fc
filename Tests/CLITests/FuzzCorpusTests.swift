import Foundation
import Testing
import _TestSupport

/// Replays Tests/FuzzCorpus: every input that once crashed facejnd must now end cleanly.
@Suite struct FuzzCorpusTests {
    static let corpus = Fixtures.repositoryRoot.appendingPathComponent("Tests/FuzzCorpus")

    static var cases: [String] {
        let formats = (try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []
        return formats.sorted().flatMap { format -> [String] in
            let files = (try? FileManager.default.contentsOfDirectory(atPath: corpus.appendingPathComponent(format).path)) ?? []
            return files.sorted().map { "\(format)/\($0)" }
        }
    }

    @Test func theCorpusIsNotEmpty() {
        #expect(Self.cases.contains("jpeg/huffman-selector-out-of-range.jpg"))
    }

    @Test(arguments: cases)
    func replaysCleanly(_ name: String) throws {
        let input = Self.corpus.appendingPathComponent(name).path
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let format = String(name.split(separator: "/")[0])
        let arguments: [String]
        switch format {
        case "jpeg", "png": arguments = ["faces", input, "--upsample", "0", "--json"]
        case "mp4", "mkv", "mov":
            arguments = ["transcode", input, "-o", out.appendingPathComponent("o.mp4").path, "--qp", "35", "--preset", "ultrafast"]
        case "fjnd":
            arguments = ["jnd", "predict", fixtures.appendingPathComponent("openmpf_group_video_01_01_q85.jpg").path, "--model", input, "--json"]
        case "fjqm": arguments = ["quality", fixtures.appendingPathComponent("openmpf_group_video_01_01_q85.jpg").path, "--model", input, "--json"]
        default:
            Issue.record("no replay command for corpus folder \(format)")
            return
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        let r = try CLI.run(arguments)
        #expect(r.status == 0 || (r.status == 1 && r.stderr.contains("facejnd: error:")), "\(name): exit \(r.status): \(r.stderr.suffix(400))")
        if r.status != 0 { #expect(Fixtures.listing(out) == [], "\(name) left files behind") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before, "\(name) was modified")
    }
}
