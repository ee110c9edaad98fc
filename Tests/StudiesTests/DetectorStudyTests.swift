import FaceAnalysis
import Studies
import TensorCore
import Testing

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
}
