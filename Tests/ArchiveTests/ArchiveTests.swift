import Archive
import CompressionPipeline
import Foundation
import Testing
import _TestSupport

/// The batch's parts on plain files: output names, shards, fingerprints, CPU quota, manifest options, and the
/// runner's skip, redo and failure isolation with a fake encoder.
@Suite struct ArchiveTests {
    @Test func outputNamesStayInsideTheOutputDirectory() {
        #expect(OutputMapping.relative("cam1/day 1/a.mp4") == "cam1/day 1/a.mp4")
        #expect(OutputMapping.relative("/etc/passwd") == "etc/passwd")
        #expect(OutputMapping.relative("../../x/./y.mp4") == "x/y.mp4")
        #expect(OutputMapping.relative("a/../../b.mp4") == "a/b.mp4")
        #expect(OutputMapping.relative("line\nbreak\t.mp4") == "line_break_.mp4")
        #expect(OutputMapping.relative(".hidden/.x.mp4") == "_.hidden/_.x.mp4")
        #expect(OutputMapping.relative("$(rm -rf ~);`x`|&.mp4") == "$(rm -rf ~);`x`|&.mp4")
        #expect(OutputMapping.relative("../..") == nil && OutputMapping.relative("/") == nil)
        // Whatever the name, the result has no absolute start, no `..` and no control characters.
        var rng = SeededGenerator(seed: 3)
        let alphabet = Array("ab./\n\u{7F}\u{0}.. ")
        for _ in 0..<2000 {
            let name = String((0..<Int.random(in: 1...16, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! })
            guard let r = OutputMapping.relative(name) else { continue }
            #expect(!r.hasPrefix("/") && !r.split(separator: "/").contains { $0 == ".." || $0 == "." || $0.hasPrefix(".") }, "\(name) → \(r)")
            #expect(!r.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(name) → \(r)")
        }
    }

    @Test func shardsComeFromTheOptionOrTheEnginesEnvironment() throws {
        #expect(try Shard.resolve(option: "2/5", shards: nil, environment: ["JOB_COMPLETION_INDEX": "1"]) == Shard(index: 2, count: 5))
        #expect(try Shard.resolve(option: nil, shards: 3, environment: ["JOB_COMPLETION_INDEX": "1"]) == Shard(index: 1, count: 3))
        #expect(
            try Shard.resolve(option: nil, shards: nil, environment: ["JOB_COMPLETION_INDEX": "2", "FACEJND_SHARDS": "4"])
                == Shard(index: 2, count: 4))
        #expect(
            try Shard.resolve(
                option: nil, shards: nil, environment: ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "3"])
                == Shard(index: 1, count: 3))
        #expect(
            try Shard.resolve(option: nil, shards: nil, environment: ["AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "2"])
                == Shard(index: 0, count: 2))
        #expect(try Shard.resolve(option: nil, shards: nil, environment: [:]) == .whole)
        #expect(throws: BatchError.shardCountMissing("JOB_COMPLETION_INDEX")) {
            try Shard.resolve(option: nil, shards: nil, environment: ["JOB_COMPLETION_INDEX": "0"])
        }
        #expect(throws: BatchError.badShard("3/3")) { try Shard(parsing: "3/3") }
        #expect(throws: BatchError.badEnvironment("JOB_COMPLETION_INDEX", "x")) {
            try Shard.resolve(option: nil, shards: 2, environment: ["JOB_COMPLETION_INDEX": "x"])
        }
    }

    @Test func everyFileBelongsToExactlyOneShardAndTheAssignmentIsStable() throws {
        let names = (0..<600).map { "cam\($0 % 7)/clip-\($0).mp4" }
        let shards = try (0..<4).map { try Shard(index: $0, count: 4) }
        var counts = [0, 0, 0, 0]
        for n in names {
            let owners = shards.filter { $0.owns(n) }
            #expect(owners.count == 1, "\(n)")
            counts[owners[0].index] += 1
        }
        #expect(counts.allSatisfy { $0 > 100 }, "\(counts)")
        // FNV-1a 64 of "a" (the published test vector): the assignment does not depend on the process.
        #expect(FNV1a.hash("a") == 0xaf63_dc4c_8601_ec8c)
    }

    @Test func theFingerprintChangesWithTheFileAndTheSettingsHashWithTheSettings() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("a.bin").path
        var bytes = [UInt8](repeating: 7, count: 3 << 20)
        let stamp = Date(timeIntervalSince1970: 1_700_000_000)  // whole seconds: set exactly again below
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: stamp], ofItemAtPath: path)
        let first = try InputFingerprint(path: path)
        #expect(first.size == 3 << 20)
        #expect(try InputFingerprint(path: path) == first)
        // A change in the last MiB, same size, same modification time.
        bytes[bytes.count - 10] = 8
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: stamp], ofItemAtPath: path)
        let changed = try InputFingerprint(path: path)
        #expect(changed.size == first.size && changed.modified == first.modified && changed.ends != first.ends)
        // Outside the first and last MiB a change goes unseen (the size and time catch appends and copies).
        bytes[bytes.count / 2] = 9
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: stamp], ofItemAtPath: path)
        #expect(try InputFingerprint(path: path).ends == changed.ends)
        // The hash against a plain byte-by-byte rendering of its definition: four FNV lanes over 8-byte words, then
        // mixed, then the tail bytes.
        func reference(_ b: [UInt8]) -> UInt64 {
            let prime: UInt64 = 0x100_0000_01b3
            let start: UInt64 = 0xcbf2_9ce4_8422_2325
            var lanes: [UInt64] = [start, start ^ 1, start ^ 2, start ^ 3]
            let blocks = b.count / 32
            for i in 0..<blocks {
                for lane in 0..<4 {
                    var w: UInt64 = 0
                    for k in 0..<8 { w |= UInt64(b[32 * i + 8 * lane + k]) << (8 * UInt64(k)) }
                    lanes[lane] = (lanes[lane] ^ w) &* prime
                }
            }
            var v = start
            for lane in lanes { v = (v ^ lane) &* prime }
            for x in b[(32 * blocks)...] { v = (v ^ UInt64(x)) &* prime }
            return v
        }
        var rng = SeededGenerator(seed: 11)
        let small = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let smallPath = dir.appendingPathComponent("small.bin").path
        try Data(small).write(to: URL(fileURLWithPath: smallPath))
        #expect(try InputFingerprint(path: smallPath).ends == String(reference(small), radix: 16))

        var o = EncodeOptions()
        let h = try SettingsHash.of(EncodeReport.Settings(o))
        #expect(try SettingsHash.of(EncodeReport.Settings(o)) == h)
        o.tau = 0.1
        #expect(try SettingsHash.of(EncodeReport.Settings(o)) != h)
    }

    @Test func theCPUQuotaLimitsTheThreads() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(CPUQuota.cores(root: dir.path, machine: 8) == 8)
        try "150000 100000\n".write(to: dir.appendingPathComponent("cpu.max"), atomically: true, encoding: .utf8)
        #expect(CPUQuota.cores(root: dir.path, machine: 8) == 2)
        #expect(CPUQuota.cores(root: dir.path, machine: 1) == 1)
        try "max 100000\n".write(to: dir.appendingPathComponent("cpu.max"), atomically: true, encoding: .utf8)
        #expect(CPUQuota.cores(root: dir.path, machine: 8) == 8)
    }

    @Test func manifestOptionsOverrideTheBatchsOwn() throws {
        let o = try BatchOverrides.apply(["tau": "0.1", "background_qp": "38", "detector": "mmod", "codec": "libx265"], to: EncodeOptions())
        #expect(o.tau == 0.1 && o.backgroundQP == 38 && o.detection.kind == .mmod && o.codec == "libx265")
        for bad in [["tau": "-1"], ["background_qp": "60"], ["codec": "libvpx"], ["colour": "red"], ["preset": "fast; rm"]] {
            #expect(throws: BatchOverrides.Invalid.self) { try BatchOverrides.apply(bad, to: EncodeOptions()) }
        }
    }

    @Test func inputsFromDirectoriesManifestsAndGlobsMapInsideTheOutputDirectory() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in"), out = dir.appendingPathComponent("out"), outside = dir.appendingPathComponent("outside")
        for d in [input.appendingPathComponent("cam"), out, outside] {
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        }
        func touch(_ url: URL) { #expect(FileManager.default.createFile(atPath: url.path, contents: Data("x".utf8))) }
        touch(input.appendingPathComponent("cam/a.mp4"))
        touch(input.appendingPathComponent("cam/clip.bin"))  // a video by probing, not by name
        touch(input.appendingPathComponent("cam/notes.txt"))
        touch(outside.appendingPathComponent("secret.mp4"))
        // A link that leaves the input tree is not followed.
        try FileManager.default.createSymbolicLink(
            atPath: input.appendingPathComponent("cam/escape.mp4").path, withDestinationPath: outside.appendingPathComponent("secret.mp4").path)
        let probed = { (path: String) in path.hasSuffix(".bin") }
        let walked = try BatchInputs([input.path], outputDirectory: out.path, isVideo: probed)
        #expect(walked.items.map(\.relative) == ["cam/a.mp4", "cam/clip.bin"])
        #expect(walked.ignored == 2)

        // A manifest with hostile names: every output stays under OUTDIR; a duplicate output is rejected, not reused.
        let manifest = input.appendingPathComponent("list.jsonl")
        let lines = [
            "cam/a.mp4", "../outside/secret.mp4", outside.appendingPathComponent("secret.mp4").path, #"{"path": "cam/a\nb.mp4"}"#,
            #"{"path": "cam/./a.mp4", "options": {"tau": 0.1}}"#, "# a comment", "",
        ]
        try lines.joined(separator: "\n").write(to: manifest, atomically: true, encoding: .utf8)
        let listed = try BatchInputs([manifest.path], outputDirectory: out.path, isVideo: probed)
        let outsidePath = String(outside.appendingPathComponent("secret.mp4").path.dropFirst())
        #expect(listed.items.map(\.relative).sorted() == ["cam/a.mp4", "cam/a_b.mp4", "outside/secret.mp4", outsidePath].sorted())
        #expect(listed.rejected.count == 1 && listed.rejected[0].reason.contains("also the output of"), "\(listed.rejected)")
        #expect(listed.items.first { $0.relative == "cam/a.mp4" }?.input == input.appendingPathComponent("cam/a.mp4").path)

        // Bad manifests and missing inputs are errors before anything runs.
        try #"{"options": {}}"#.write(to: manifest, atomically: true, encoding: .utf8)
        #expect(throws: BatchError.badManifestLine(path: manifest.path, line: 1, reason: "a JSON line needs a string \"path\"")) {
            try BatchInputs([manifest.path], outputDirectory: out.path, isVideo: probed)
        }
        #expect(throws: BatchError.inputNotFound(dir.appendingPathComponent("nothing*.mp4").path)) {
            try BatchInputs([dir.appendingPathComponent("nothing*.mp4").path], outputDirectory: out.path, isVideo: probed)
        }
        // A glob.
        let globbed = try BatchInputs([input.path + "/cam/*.mp4"], outputDirectory: out.path, isVideo: probed)
        #expect(globbed.items.count == 2)  // a.mp4 and the link (named explicitly by the glob)
    }
}
