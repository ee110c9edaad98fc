import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import TensorCore
import Testing
import _TestSupport

@testable import Studies

@Suite struct DetectorStudyTests {
    @Test func matchingPairsEachReferenceWithItsBestUnusedDetection() {
        let a = FaceBox(left: 0, top: 0, right: 9, bottom: 9), b = FaceBox(left: 20, top: 0, right: 29, bottom: 9)
        // d0 overlaps a well, d1 overlaps a a little and b well, d2 overlaps nothing.
        let d0 = FaceBox(left: 1, top: 0, right: 10, bottom: 9), d1 = FaceBox(left: 18, top: 0, right: 27, bottom: 9)
        let d2 = FaceBox(left: 100, top: 100, right: 109, bottom: 109)
        #expect(DetectorStudy.match([a, b], [d2, d1, d0], minIoU: 0.4) == [2, 1])
        // A detection is used once: two references on the same spot share one detection, the second goes unmatched.
        #expect(DetectorStudy.match([a, a], [d0], minIoU: 0.4) == [0, nil])
        #expect(DetectorStudy.match([a], [d1], minIoU: 0.4) == [nil])
    }

    /// The second opinion on the bundled clip's first frame: the fast detector finds five faces there (checked by
    /// eye, docs/detector.md), MMOD at upsample 1 two of them. Scaled to their own size, MMOD confirms both of its
    /// own and at least two of the three small ones (the fifth is half hidden behind a phone: a face MMOD does not
    /// score at any scale, which is why the confirmed precision is a lower bound), and none of the same boxes moved
    /// onto the picture's background.
    @Test(.enabled(if: ModelDirectory.default.isComplete)) func mmodAtTheFacesOwnScaleConfirmsSmallFacesOnly() throws {
        let analyzer = try FaceAnalyzer()
        let image = try ImageFile.loadRGB(
            path: Fixtures.repositoryRoot.appendingPathComponent("Tests/FaceAnalysisTests/Fixtures/openmpf_group_video_01_01.png").path)
        let ws = Workspace()
        let boxes = try analyzer.fastDetector().detect(image, minFace: 20, workspace: ws).map { BoxMap.fitted.dlibBox($0) }
        #expect(boxes.count == 5)
        let frameScale = try analyzer.detector.detect(image, upsample: 1, workspace: ws).map(\.box)
        let small = boxes.filter { b in !frameScale.contains { $0.iou(b) >= 0.4 } }
        #expect(small.count == 3)
        for b in boxes where !small.contains(b) {
            #expect(try DetectorStudy.confirmsFace(b, in: image, analyzer: analyzer, workspace: ws), "\(b)")
        }
        #expect(try small.filter { try DetectorStudy.confirmsFace($0, in: image, analyzer: analyzer, workspace: ws) }.count >= 2)
        for b in boxes {
            let background = FaceBox(left: 4, top: image.height - 4 - b.height, right: 3 + b.width, bottom: image.height - 5)
            #expect(try !DetectorStudy.confirmsFace(background, in: image, analyzer: analyzer, workspace: ws), "\(background)")
        }
    }

    /// The sweep on made-up detections over blank pictures (where MMOD confirms nothing): one reference face, a
    /// detection on it at 0.9, a stray one at 0.35 in the same picture and one at 0.55 in a picture without faces;
    /// the last is listed as unconfirmed at the study's threshold.
    @Test(.enabled(if: ModelDirectory.default.isComplete)) func thresholdSweepCountsWhatEachThresholdKeeps() throws {
        let study = DetectorStudy(analyzer: try FaceAnalyzer(), threads: 1)
        let blank = DetectorStudy.Picture(name: "blank", image: RGBImage(width: 96, height: 96), isPortrait: false)
        let face = FaceBox(left: 10, top: 10, right: 49, bottom: 49)
        let (rows, unconfirmed) = try study.thresholdSweep(
            [blank, blank], reference: [[face], []],
            detections: [
                [
                    (box: FaceBox(left: 12, top: 11, right: 51, bottom: 50), score: 0.9),
                    (box: FaceBox(left: 60, top: 60, right: 80, bottom: 80), score: 0.35),
                ],
                [(box: face, score: 0.55)],
            ])
        #expect(rows.map(\.threshold) == DetectorStudy.sweep)
        #expect(rows.map(\.detections) == [3, 2, 2, 1, 1, 1])
        #expect(rows.map(\.precision) == [1.0 / 3, 0.5, 0.5, 1, 1, 1])
        #expect(rows.map(\.confirmedPrecision) == rows.map(\.precision))
        #expect(rows.allSatisfy { $0.recall == ["≥ 40 px": 1] })
        // At the study's threshold (0.4) the 0.55 detection in the empty picture is what precision counts as false.
        #expect(unconfirmed.map(\.score) == [0.55] && unconfirmed.map(\.box) == [face])
    }
}
