import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import Perception
import RateControl
import TensorCore
import Testing
import _TestSupport

/// One analyser and one analysed short clip for the whole suite (detection and JND probes are the slow part).
private let encodeFixture: (analyzer: FaceAnalyzer, clip: String, dir: URL)? = {
    guard ModelDirectory.default.isComplete, let analyzer = try? FaceAnalyzer(),
        let dir = try? Fixtures.processWideDirectory("EncodeTests"), let clip = try? Fixtures.shortSample(frames: 24, in: dir)
    else { return nil }
    return (analyzer, clip, dir)
}()

/// The mechanism tests (follow-back, QP read-back, repair) pin MMOD at upsample 0 without motion gating: one face in
/// the sample, found only on detection frames. The fast detector's own encode test sets its options explicitly.
private func options(_ change: (inout EncodeOptions) -> Void = { _ in }) -> EncodeOptions {
    var o = EncodeOptions()
    o.detection = .mmod(upsample: 0)
    o.motionGate = .off
    o.backgroundQP = 40
    o.detectEvery = 6
    o.jndEvery = 30
    o.preset = "veryfast"
    change(&o)
    return o
}

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"), .serialized)
struct EncodeTests {
    let schema = try! JSONSchemaCheck(schemaFile: Fixtures.repositoryRoot.appendingPathComponent("docs/encode-report.schema.json"))

    @Test func aClipWithoutFacesIsEncodedAtTheBackgroundQP() throws {
        let f = try #require(encodeFixture)
        let clip = try Fixtures.makeClip(at: f.dir.appendingPathComponent("noface.mp4").path, frames: 12)
        let out = f.dir.appendingPathComponent("noface.out.mp4").path
        let report = try EncodeJob(analyzer: f.analyzer, options: options { $0.backgroundQP = 37 }).run(clip, output: out)
        #expect(report.fidelity.faces == 0 && report.tracks.isEmpty && report.passes.count == 1)
        let readback = try QPProbe.read(path: out)
        #expect(readback.frames.count == 12)
        for frame in readback.frames {
            let mean = try #require(frame.qpMean)
            #expect(abs(mean - 37) < 0.5, "frame \(frame.index) QP \(mean)")
        }
        #expect(try schema.violations(of: Data(JSONOutput.string(report).utf8)) == [])
        #expect(
            Set(Fixtures.listing(f.dir)) == ["noface.mp4", "noface.out.mp4", "sample-24.mp4"].reduce(into: Set<String>()) { $0.insert($1) },
            "no scratch files left: \(Fixtures.listing(f.dir))")
    }

    @Test func matchCRFTakesEachFramesBackgroundQPFromACRFEncode() throws {
        let f = try #require(encodeFixture)
        let clip = try Fixtures.makeClip(at: f.dir.appendingPathComponent("crf.mp4").path, frames: 12)
        let job = EncodeJob(analyzer: f.analyzer, options: options { $0.matchCRF = 30 })
        let qps = try job.backgroundQPs(clip, frameCount: 12)
        // x264 at CRF 30 codes this noisy pattern at QP 35 or so; every frame gets a plausible QP.
        #expect(qps.count == 12 && qps.allSatisfy { (25...45).contains($0) }, "\(qps)")
        let out = f.dir.appendingPathComponent("crf.out.mp4").path
        let report = try job.run(clip, output: out)
        #expect(report.settings.matchCRF == 30 && report.settings.backgroundQP == nil)
        #expect(report.frames.map(\.backgroundQP) == qps)
        let readback = try QPProbe.read(path: out)
        for (frame, qp) in zip(readback.frames, qps) {
            let mean = try #require(frame.qpMean)
            #expect(abs(mean - Double(qp)) < 0.5, "frame \(frame.index): planned \(qp), read back \(mean)")
        }
        try? FileManager.default.removeItem(atPath: clip)
        try? FileManager.default.removeItem(atPath: out)
    }

    @Test func faceRegionsGetLowerQPThanTheBackgroundAndStayWithinTau() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("faces.out.mp4").path
        let report = try EncodeJob(analyzer: f.analyzer, options: options()).run(f.clip, output: out)
        #expect(report.fidelity.faces >= 20, "faces followed: \(report.fidelity.faces)")
        #expect(report.fidelity.fractionWithinTau >= 0.99)
        #expect(report.unfixed.isEmpty)
        // Read the QP back from the bitstream inside the first frame's face region.
        let face = try #require(report.frames[0].faces.first)
        let r = try #require(face.region)
        let readback = try QPProbe.read(path: out, regions: [PixelRect(x: r[0], y: r[1], width: r[2], height: r[3])])
        let inside = try #require(readback.frames[0].regionQPMeans[0]), outside = try #require(readback.frames[0].outsideQPMean)
        #expect(inside < outside - 5, "face region QP \(inside), background \(outside)")
        #expect(abs(inside - Double(face.qp)) < 1, "planned \(face.qp), read back \(inside)")
        let json = try JSONOutput.string(report)
        #expect(try schema.violations(of: Data(json.utf8)) == [])
        #expect(HTMLReport.render(encode: report).components(separatedBy: "<svg").count - 1 == 3)
    }

    @Test func facesInVideoStoredTurnedAreFoundUprightAndProtectedInCodedCoordinates() throws {
        let f = try #require(encodeFixture)
        let clip = try Fixtures.shortSample(frames: 12, in: f.dir, storedTurned: true)
        let out = f.dir.appendingPathComponent("turned.out.mp4").path
        let report = try EncodeJob(analyzer: f.analyzer, options: options()).run(clip, output: out)
        #expect(report.width == 640 && report.height == 480, "faces are found in the upright 640x480 picture")
        #expect(report.fidelity.faces >= 10 && report.fidelity.fractionWithinTau >= 0.99, "\(report.fidelity)")
        let face = try #require(report.frames[0].faces.first)
        let r = try #require(face.region)
        // The coded picture is 480 wide and 640 high; the region must lie in it and read back at the face QP.
        #expect(r[0] + r[2] <= 480 && r[1] + r[3] <= 640)
        let readback = try QPProbe.read(path: out, regions: [PixelRect(x: r[0], y: r[1], width: r[2], height: r[3])])
        #expect(readback.video.rotationDegrees == -90)
        let inside = try #require(readback.frames[0].regionQPMeans[0]), outside = try #require(readback.frames[0].outsideQPMean)
        #expect(inside < outside - 5, "face region QP \(inside), background \(outside)")
    }

    @Test func aFaceIsProtectedFromTheFrameItAppearsNotOnlyFromItsFirstDetection() throws {
        let f = try #require(encodeFixture)
        // Three grey frames, then the sample: detection runs on frames 0 and 6, the face appears at frame 3.
        let path = try Fixtures.sampleAfterGreyFrames(3, frames: 9, at: f.dir.appendingPathComponent("appears.mp4").path)
        let report = try EncodeJob(analyzer: f.analyzer, options: options()).run(path, output: f.dir.appendingPathComponent("appears.out.mp4").path)
        #expect(report.frames[0..<3].allSatisfy { $0.faces.isEmpty }, "no face on the grey frames")
        #expect(
            report.frames[3..<6].allSatisfy { $0.faces.count == 1 && $0.faces[0].detected == false && $0.faces[0].region != nil },
            "the face is followed back to frame 3: \(report.frames[3..<6].map(\.faces.count))")
        #expect(report.frames[6].faces.first?.detected == true)
        #expect(report.fidelity.faces == 9 && report.unfixed.isEmpty)
        // The followed-back faces are verified against their own original descriptors, kept from the follow-back.
        #expect(report.frames[3..<6].allSatisfy { ($0.faces.first?.distance ?? 1) <= 0.12 })
    }

    @Test func verificationCatchesAForcedViolationAndRepairsIt() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("forced.out.mp4").path
        // Every face QP forced 12 above its JND: the first pass must fail and the repairs must bring it back.
        let report = try EncodeJob(analyzer: f.analyzer, options: options { $0.faceQPBias = 12 }).run(f.clip, output: out)
        let first = try #require(report.passes.first)
        #expect(first.facesOverTau > 0 && !first.repairedTracks.isEmpty)
        #expect(report.passes.count >= 2)
        #expect(report.passes.last?.facesOverTau == 0)
        #expect(report.unfixed.isEmpty && report.fidelity.fractionWithinTau == 1)
    }

    /// `--guard-band`: the ring around the face region is coded halfway between the face's QP and the background's,
    /// in the whole-file and in the chunked encode, and the report says so.
    @Test func theGuardBandRingIsCodedHalfwayBetweenFaceAndBackground() throws {
        let f = try #require(encodeFixture)
        for chunked in [false, true] {
            let out = f.dir.appendingPathComponent("band\(chunked).out.mp4").path
            defer { try? FileManager.default.removeItem(atPath: out) }
            let report = try EncodeJob(
                analyzer: f.analyzer,
                options: options {
                    $0.guardBand = 16
                    if chunked { $0.chunkSeconds = 0.5 }
                }
            ).run(f.clip, output: out)
            #expect(report.settings.guardBand == 16)
            let frame = report.frames[0]
            let face = try #require(frame.faces.first), r = try #require(face.region)
            try #require(r[1] >= 16 && r[0] >= 16)
            // The 16-pixel strips just above and left of the region are the ring.
            let strips = [PixelRect(x: r[0], y: r[1] - 16, width: r[2], height: 16), PixelRect(x: r[0] - 16, y: r[1], width: 16, height: r[3])]
            let readback = try QPProbe.read(path: out, regions: strips)
            let ring = GuardBand(width: 16).qp(face: face.qp, background: frame.backgroundQP)
            #expect(ring > face.qp + 5 && ring < frame.backgroundQP - 5, "face \(face.qp), ring \(ring), background \(frame.backgroundQP)")
            for mean in readback.frames[0].regionQPMeans {
                let m = try #require(mean)
                #expect(abs(m - Double(ring)) < 1, "chunked \(chunked): ring planned \(ring), read back \(m)")
            }
            #expect(try schema.violations(of: Data(JSONOutput.string(report).utf8)) == [])
        }
    }

    /// Chunks: a forced violation is repaired chunk by chunk, what the first chunk needed starts the next one lower
    /// (its first encode fails less), and the report lists the chunks and the segments' first-encode result.
    @Test func chunksAreRepairedAloneAndCarryTheirCorrectionForward() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("chunked.out.mp4").path
        let report = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.faceQPBias = 12; $0.chunkSeconds = 0.3; $0.smoothingFrames = 0
            }
        ).run(f.clip, output: out)
        let chunks = try #require(report.chunks)
        // The first chunk's IDR picture is over a quarter of its bytes (a small picture with a low-QP face), so the
        // next chunk is twice as long: the rest of the clip.
        #expect(chunks.map(\.firstFrame) == [0, 9] && chunks.map(\.frameCount) == [9, 15], "\(chunks.map(\.firstFrame))")
        #expect(chunks[0].encodes >= 2, "the biased first chunk must fail and be repaired")
        // Without the carried correction the later chunk fails its first encode as the first one did; with it, it
        // starts low enough to pass at once.
        #expect(chunks.dropFirst().allSatisfy { $0.encodes == 1 }, "\(chunks.map(\.encodes))")
        #expect(report.unfixed.isEmpty && report.fidelity.fractionWithinTau == 1)
        let first = try #require(report.segmentsFirstPass)
        #expect(first.segments == 3 && first.passed == 2)
        #expect(report.passes.first!.facesOverTau > 0 && report.passes.last!.facesOverTau == 0)
        #expect(chunks.map(\.bytes).reduce(0, +) == report.passes.last!.outputBytes)
        #expect(report.frames.count == 24 && report.frames.allSatisfy { $0.bytes > 0 })
        #expect(try schema.violations(of: Data(JSONOutput.string(report).utf8)) == [])
    }

    /// `--verify both`: every checked face has both distances, the deciding one is the larger, and the landmarks
    /// fitted on the decoded picture move the descriptor further than the original ones on some faces; at detection
    /// frames the detector is run on the output again.
    @Test func verificationAtRefittedLandmarksDecidesByTheLargerDistance() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("refit.out.mp4").path
        let report = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.refitLandmarks = true; $0.maxRepairPasses = 0
            }
        ).run(f.clip, output: out)
        let faces = report.frames.flatMap(\.faces).filter { $0.distance != nil }
        #expect(!faces.isEmpty)
        for face in faces {
            let l = try #require(face.landmarkDistance), r = try #require(face.refitDistance)
            #expect(face.distance == max(l, r))
        }
        #expect(faces.contains { $0.refitDistance! > $0.landmarkDistance! })
        // The detector is asked again exactly where the analysis detected the face.
        #expect(faces.allSatisfy { ($0.stillDetected != nil) == $0.detected })
        let checked = try #require(report.fidelity.detectionChecks)
        #expect(checked == faces.filter(\.detected).count && checked > 0)
        #expect(report.fidelity.stillDetected! == faces.filter { $0.stillDetected == true }.count)
        #expect(report.fidelity.stillDetected! > 0, "the sample's face at QP ≤ 40 is still found")
        #expect(report.settings.verify == "both")
        #expect(try schema.violations(of: Data(JSONOutput.string(report).utf8)) == [])
    }

    /// The default JND source of the CLI: the shipped predictor answers every probe without a trial encode, and the
    /// verification pass still holds every face within τ.
    @Test func theLearnedPredictorReplacesTheOracleAndVerificationHoldsTau() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("predictor.out.mp4").path
        let model = try JNDModel.bundled(codec: "libx264")
        let report = try EncodeJob(analyzer: f.analyzer, options: options { $0.jndPredictor = model }).run(f.clip, output: out)
        #expect(report.settings.jndMode == "predictor")
        let probes = report.tracks.flatMap(\.probes)
        #expect(!probes.isEmpty && probes.allSatisfy { $0.encodes == 0 && (10...51).contains($0.jndQP) }, "\(probes.map(\.jndQP))")
        #expect(report.fidelity.faces >= 20 && report.fidelity.fractionWithinTau >= 0.99 && report.unfixed.isEmpty)
        #expect(try schema.violations(of: Data(JSONOutput.string(report).utf8)) == [])
        // A predictor trained for another τ is refused rather than silently used.
        #expect(throws: JNDModelMismatch.tau(trained: 0.12, wanted: 0.2)) {
            try EncodeJob(
                analyzer: f.analyzer,
                options: options {
                    $0.jndPredictor = model; $0.tau = 0.2
                }
            ).run(f.clip, output: out + ".tau.mp4")
        }
        #expect(!FileManager.default.fileExists(atPath: out + ".tau.mp4"))
    }

    /// The segment head maps each JND the predictor gave to the head's in-video JND; a JND the oracle measured is
    /// left as it is (the head was fitted on the predictor's outputs).
    @Test func theSegmentHeadMapsOnlyPredictedJNDs() throws {
        let f = try #require(encodeFixture)
        let model = try JNDModel.bundled(codec: "libx264")
        var timeline = try EncodeJob(analyzer: f.analyzer, options: options { $0.jndPredictor = model }).analyse(f.clip)
        let chip = f.analyzer.embedder.chipSize, tau = model.header.tau
        let header = SegmentJNDHead.Header(codec: "libx264", tau: tau, predictor: "test", shift: 0, quantile: 0.5, training: [:])
        let head = SegmentJNDHead(header: header, weights: [5, 1, 0])  // five QP above the crop JND
        let plain = try timeline.plannerInput(tau: tau, chipSize: chip)
        let headed = try timeline.plannerInput(tau: tau, chipSize: chip, head: head)
        #expect(!plain.jnd.values.joined().isEmpty)
        for (track, samples) in plain.jnd { #expect(headed.jnd[track]?.map(\.jndQP) == samples.map { min(51, $0.jndQP + 5) }) }
        // Probes the oracle measured (here with known d(q) curves) keep their JND.
        let curve = Dictionary(uniqueKeysWithValues: (0...51).map { ($0, Double($0) / 200) })
        timeline.probes = timeline.probes.map { JNDProbe(track: $0.track, frame: $0.frame, curve: curve) }
        let measured = try timeline.plannerInput(tau: tau, chipSize: chip)
        #expect(try timeline.plannerInput(tau: tau, chipSize: chip, head: head).jnd == measured.jnd)
        #expect(measured.jnd.values.joined().allSatisfy { $0.jndQP == 24 })  // d(24) = 0.12 is not over τ
    }

    /// `--prefilter jnd` and `denoise`: the face pixels are replaced by the predicted JND image or the denoised crop;
    /// the output differs from the plain predictor encode and the verification still holds every face within τ.
    @Test func thePrefilterChangesTheFacesAndVerificationHoldsTau() throws {
        let f = try #require(encodeFixture)
        let model = try JNDModel.bundled(codec: "libx264")
        let plain = f.dir.appendingPathComponent("plain.out.mp4").path, filtered = f.dir.appendingPathComponent("prefilter.out.mp4").path
        let a = try EncodeJob(analyzer: f.analyzer, options: options { $0.jndPredictor = model }).run(f.clip, output: plain)
        let b = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.jndPredictor = model; $0.prefilter = .jnd
            }
        ).run(f.clip, output: filtered)
        let denoised = f.dir.appendingPathComponent("denoise.out.mp4").path
        let c = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.jndPredictor = model; $0.prefilter = .denoise; $0.denoiseMargin = 0.5
            }
        ).run(f.clip, output: denoised)
        #expect(a.settings.prefilter == "none" && b.settings.prefilter == "jnd" && c.settings.prefilter == "denoise")
        #expect(b.fidelity.fractionWithinTau >= 0.99 && b.unfixed.isEmpty)
        #expect(c.fidelity.fractionWithinTau >= 0.99 && c.unfixed.isEmpty)
        // The first pass coded the filtered pixels (later passes may drop the filter for tracks that failed).
        #expect(a.passes[0].outputBytes != b.passes[0].outputBytes)
        #expect(a.passes[0].outputBytes != c.passes[0].outputBytes && b.passes[0].outputBytes != c.passes[0].outputBytes)
        // The HTML report shows, per filtered track, the crop, the residual and the encoded picture, inlined.
        #expect(a.prefilterExamples.isEmpty && !HTMLReport.render(encode: a).contains("data:image/png"))
        for r in [b, c] {
            #expect(Set(r.prefilterExamples.map(\.track)) == Set(r.tracks.map(\.track)))
            let html = HTMLReport.render(encode: r)
            #expect(html.components(separatedBy: "data:image/png;base64,").count - 1 == 3 * r.prefilterExamples.count)
            for e in r.prefilterExamples {
                #expect(e.residual.count == e.crop.pixels.count && e.residual.contains { $0 != 0 })
                #expect(e.filtered != e.crop)
            }
        }
        // Without the predictor the prefilter has nothing to subtract: a clear error, no output.
        let none = f.dir.appendingPathComponent("prefilter-oracle.out.mp4").path
        #expect(throws: (any Error).self) { try EncodeJob(analyzer: f.analyzer, options: options { $0.prefilter = .jnd }).run(f.clip, output: none) }
        #expect(!FileManager.default.fileExists(atPath: none))
    }

    /// libx265 holds faces within τ too: its face regions reach the inter frames (x265 runs with 32×32 CTUs and
    /// without recursion skip, which otherwise skips whole CTUs at the background's cost).
    @Test func libx265KeepsEveryFaceWithinTau() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("x265.out.mp4").path
        let report = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.codec = "libx265"; $0.jndPredictor = try? JNDModel.bundled(codec: "libx265")
            }
        )
        .run(f.clip, output: out)
        #expect(report.settings.codec == "libx265" && report.settings.jndMode == "predictor")
        #expect(
            report.fidelity.faces >= 20 && report.fidelity.fractionWithinTau >= 0.99 && report.unfixed.isEmpty,
            "\(report.fidelity.withinTau) of \(report.fidelity.faces) within τ, unfixed \(report.unfixed.count)")
    }

    @Test func anUnfixableFaceIsNamedInTheReport() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("floor.out.mp4").path
        // The floor at the background QP leaves nothing to repair: the failures must be reported, not hidden.
        let report = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.backgroundQP = 48; $0.floorQP = 48
            }
        ).run(f.clip, output: out)
        #expect(report.passes.count == 1)
        #expect(!report.unfixed.isEmpty && report.unfixed.allSatisfy { $0.distance > report.settings.tau })
        #expect(report.fidelity.faces - report.fidelity.withinTau == report.unfixed.count)
    }

    @Test func unrecognisableFacesFollowTheBackgroundWhenSkipped() throws {
        let f = try #require(encodeFixture)
        let out = f.dir.appendingPathComponent("skip.out.mp4").path
        // A floor of 1 makes every face "unrecognisable": with skip, no face gets bits and none is held to τ.
        let report = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.qualityFloor = 1; $0.unrecognizable = .skip
            }
        ).run(f.clip, output: out)
        #expect(!report.tracks.isEmpty && report.tracks.allSatisfy { $0.policy == .skip && $0.quality != nil })
        #expect(report.frames.allSatisfy { $0.faces.allSatisfy { $0.region == nil && $0.qp == 40 } })
        #expect(report.fidelity.faces == 0 && report.passes.count == 1)
        let protected = try EncodeJob(
            analyzer: f.analyzer,
            options: options {
                $0.qualityFloor = 1; $0.unrecognizable = .protect
            }
        )
        .run(f.clip, output: f.dir.appendingPathComponent("protect.out.mp4").path)
        #expect(protected.tracks.allSatisfy { $0.policy == .protect })
        #expect(protected.frames.contains { $0.faces.contains { $0.region != nil } })
    }
}
