import FaceAnalysis
import Foundation
import MediaIO
import TensorCore
import Testing
import _TestSupport

/// The real dlib's outputs on committed frames (upsample 1), one JSON object per line.
private struct Reference: Decodable {
    struct RefFace: Decodable {
        var box: [Int]
        var confidence: Double
        var landmarks5: [[Double]]
        var embedding: [Float]
    }
    var image: String
    var upsample: Int
    var faces: [RefFace]
}

private func references() throws -> [Reference] {
    try ["dlib_reference_frames.jsonl", "dlib_reference_jpeg.jsonl"].flatMap { file in
        let text = try String(contentsOf: fixtures.appendingPathComponent(file), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Reference.self, from: Data($0.utf8)) }
    }
}

/// One shared analyzer: loading the models once keeps the suite fast.

@Suite(.enabled(if: ModelDirectory.default.isComplete, "dlib models not fetched (scripts/fetch-models)"))
struct DlibParityTests {
    /// PNG frames, and JPEGs (4:2:0, 4:4:4, greyscale at an odd size) that dlib read through its own libjpeg.
    @Test(arguments: [
        "openmpf_group_video_01_01.png", "openmpf_hikers_video_02_03.png", "openmpf_hikers_video_02_01.png",
        "openmpf_group_video_01_01_q85.jpg", "openmpf_group_video_01_01_444.jpg", "openmpf_group_video_01_01_gray.jpg",
    ])
    func facesMatchDlib(image: String) throws {
        let analyzer = try #require(sharedAnalyzer)
        let ref = try #require(try references().first { $0.image == image })
        let rgb = try ImageFile.loadRGB(path: fixtures.appendingPathComponent(image).path)
        let faces = try analyzer.analyze(rgb, upsample: ref.upsample)
        #expect(faces.count == ref.faces.count, "face count")
        for rf in ref.faces {
            let rb = FaceBox(left: rf.box[0], top: rf.box[1], right: rf.box[2], bottom: rf.box[3])
            let f = try #require(faces.max { $0.box.iou(rb) < $1.box.iou(rb) })
            #expect(f.box == rb || f.box.iou(rb) >= 0.99, "box \(f.box) vs dlib \(rb)")
            #expect(abs(Double(f.confidence) - rf.confidence) < 1e-3, "confidence \(f.confidence) vs \(rf.confidence)")
            for (p, q) in zip(f.landmarks, rf.landmarks5) {
                #expect(hypot(p.x - q[0], p.y - q[1]) <= 1, "landmark \(p) vs \(q)")
            }
            let d = descriptorDistance(f.embedding, rf.embedding)
            #expect(d < 1e-3, "descriptor distance \(d)")
        }
    }
}

/// Pure chip geometry: needs no model file.
@Suite struct FaceChipGeometryTests {
    @Test func chipFromLandmarksMatchesDlibChipGeometry() throws {
        // An identity check on the geometry: landmarks placed exactly on the scaled template give an unrotated
        // chip of scale 1 centred at (75, 75): dlib's centred rectangle is centre ± (150 − 1)/2.
        let size = 150.0, pad = 0.25
        let t: [(Double, Double)] = [
            (0.8595674595992, 0.2134981538014), (0.6460604764104, 0.2289674387677),
            (0.1205750620789, 0.2137274526848), (0.3340850613712, 0.2290642403242),
            (0.4901123135679, 0.6277975316475),
        ]
        let pts = t.map { Point(x: (pad + $0.0) / (1 + 2 * pad) * size, y: (pad + $0.1) / (1 + 2 * pad) * size) }
        let p = FaceChip.placement(landmarks: pts)
        #expect(abs(p.angle) < 1e-9)
        #expect(abs(p.left - 0.5) < 1e-9 && abs(p.top - 0.5) < 1e-9 && abs(p.right - 149.5) < 1e-9 && abs(p.bottom - 149.5) < 1e-9)
    }
}
