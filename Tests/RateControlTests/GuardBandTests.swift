import RateControl
import Testing

/// The QP an encoder gives the pixel (x, y) of `frame`: the first region holding it, else the frame's QP.
private func qp(at x: Int, _ y: Int, in frame: FrameQP) -> Int {
    frame.regions.first { x >= $0.x && x < $0.x + $0.width && y >= $0.y && y < $0.y + $0.height }?.qp ?? frame.qp
}

struct GuardBandTests {
    @Test func everyFaceGetsARingHalfwayToTheBackgroundAroundItsRegion() {
        let frame = FrameQP(qp: 40, regions: [RegionQP(x: 64, y: 64, width: 32, height: 48, qp: 11)])
        let banded = GuardBand(width: 16).apply(to: frame)
        #expect(banded.regions.count == 2)
        #expect(banded.regions[0] == frame.regions[0], "the face region stays first and unchanged")
        #expect(banded.regions[1] == RegionQP(x: 48, y: 48, width: 64, height: 80, qp: 25))
        #expect(qp(at: 70, 70, in: banded) == 11)
        #expect(qp(at: 50, 70, in: banded) == 25 && qp(at: 100, 120, in: banded) == 25)
        #expect(qp(at: 40, 70, in: banded) == 40 && qp(at: 120, 70, in: banded) == 40)
    }

    @Test func facesKeepTheirQPWhereAnotherFacesRingReachesIntoThem() {
        // Two faces side by side, 8 px apart: each one's ring covers the edge of the other.
        let a = RegionQP(x: 0, y: 0, width: 32, height: 32, qp: 8), b = RegionQP(x: 40, y: 0, width: 32, height: 32, qp: 14)
        let banded = GuardBand(width: 16).apply(to: FrameQP(qp: 40, regions: [a, b]))
        #expect(qp(at: 45, 10, in: banded) == 14, "inside b, within a's ring: b's QP")
        #expect(qp(at: 28, 10, in: banded) == 8, "inside a, within b's ring: a's QP")
        #expect(qp(at: 36, 10, in: banded) == 24, "between them both rings: the finer face's ring wins")
        #expect(qp(at: 80, 10, in: banded) == 27, "right of b only b's ring")
    }

    @Test func noRingWithoutWidthOrWhereTheFaceIsNotFinerThanTheBackground() {
        let frame = FrameQP(
            qp: 30, regions: [RegionQP(x: 0, y: 0, width: 16, height: 16, qp: 30), RegionQP(x: 32, y: 0, width: 16, height: 16, qp: 29)])
        #expect(GuardBand(width: 0).apply(to: frame) == frame)
        let banded = GuardBand(width: 16).apply(to: frame)
        #expect(banded.regions.count == 2, "halfway between 29 and 30 is 29, no coarser than the face: \(banded.regions)")
        #expect(GuardBand(width: 16).apply(to: FrameQP(qp: 30)) == FrameQP(qp: 30))
    }
}
