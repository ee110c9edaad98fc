import Foundation
import Testing
import _TestSupport

/// scripts/check-layers: the folder tree is the architecture, and the script keeps imports pointing down.
@Suite struct LayerCheckTests {
    let script = Fixtures.repositoryRoot.appendingPathComponent("scripts/check-layers")

    @Test func theTreeAsItIsPasses() throws {
        let r = try CLI.run(script, [])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func aPlantedUpwardImportFailsAndIsNamed() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("Sources")
        try FileManager.default.copyItem(at: Fixtures.repositoryRoot.appendingPathComponent("Sources"), to: copy)
        #expect(try CLI.run(script, [copy.path]).status == 0)
        // RateControl is pure: it may not reach up into the pipeline.
        let planner = copy.appendingPathComponent("RateControl/FacePlanner.swift")
        try ("import CompressionPipeline\n" + String(contentsOf: planner, encoding: .utf8)).write(to: planner, atomically: true, encoding: .utf8)
        let r = try CLI.run(script, [copy.path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("RateControl/FacePlanner.swift:1: RateControl may not import CompressionPipeline"), "\(r.stderr)")
    }

    @Test func aModuleMissingFromTheTableFails() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let module = dir.appendingPathComponent("Sources/Unlisted")
        try FileManager.default.createDirectory(at: module, withIntermediateDirectories: true)
        try "import Foundation\n".write(to: module.appendingPathComponent("A.swift"), atomically: true, encoding: .utf8)
        let r = try CLI.run(script, [dir.appendingPathComponent("Sources").path])
        #expect(r.status == 1 && r.stderr.contains("Unlisted is not in the layer table"), "\(r.stderr)")
    }
}
