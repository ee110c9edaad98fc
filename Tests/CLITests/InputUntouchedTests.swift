import Foundation
import Testing
import _TestSupport

/// No command writes to its input: bytes and modification time are the same after every command family.
@Suite struct InputUntouchedTests {
    private struct Snapshot: Equatable {
        var bytes: Data
        var modified: Date
        init(_ path: String) throws {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        }
    }

    @Test func everyCommandFamilyLeavesItsInputAsItWas() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = try Fixtures.makeClip(at: dir.appendingPathComponent("clip.mp4").path, frames: 12)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("images"), withIntermediateDirectories: true)
        let image = dir.appendingPathComponent("images/face.jpg").path
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("openmpf_group_video_01_01_q85.jpg").path, toPath: image)
        let plan = dir.appendingPathComponent("plan.json").path
        try #"{"default_qp":30,"frames":[{"from":0,"to":5,"qp":36}]}"#.write(toFile: plan, atomically: true, encoding: .utf8)
        // Old timestamps, so that any write (even of the same bytes) would show.
        for p in [clip, image, plan] {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: p)
        }
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        func o(_ name: String) -> String { out.appendingPathComponent(name).path }
        let families: [(inputs: [String], arguments: [String])] = [
            ([clip], ["probe", clip, "--json"]),
            ([clip, plan], ["transcode", clip, "-o", o("t.mp4"), "--qp-plan", plan, "--preset", "ultrafast"]),
            ([clip], ["encode", clip, "-o", o("e.mp4"), "--preset", "ultrafast", "--report", o("e.json")]),
            ([clip], ["compare", clip, "--reference-qp", "30", "--preset", "ultrafast", "--json"]),
            ([clip], ["sweep", clip, "--qp", "30:34:4", "--uniform-only", "--preset", "ultrafast"]),
            ([image], ["faces", image, "--upsample", "0", "--json"]),
            ([image], ["quality", image, "--upsample", "0", "--json"]),
            ([image], ["jnd", "predict", image, "--upsample", "0", "--json"]),
            ([image], ["jnd", "measure", image, "--upsample", "0", "--json"]),
            ([image], ["jnd-dataset", "--images", dir.appendingPathComponent("images").path, "--out", o("ds"), "--limit", "1"]),
        ]
        for (inputs, arguments) in families {
            let before = try inputs.map(Snapshot.init)
            let r = try CLI.run(arguments)
            #expect(r.status == 0, "\(arguments[0]): exit \(r.status): \(r.stderr.suffix(300))")
            #expect(try inputs.map(Snapshot.init) == before, "\(arguments.prefix(2)) changed its input")
        }
    }
}
