import TensorCore
import Testing

@Suite struct OrientationTests {
    @Test func orientationTurnsPicturesAndMapsRectanglesBack() {
        // A 3x2 coded picture whose pixels are numbered 0...5.
        let coded = RGBImage(width: 3, height: 2, pixels: (0..<6).flatMap { [UInt8($0), 0, 0] })
        let quarter = Orientation(displayRotationDegrees: -90)  // shown turned a quarter clockwise
        #expect(quarter.quarterTurns == 1)
        let up = quarter.upright(coded)
        #expect(up.width == 2 && up.height == 3)
        #expect(stride(from: 0, to: up.pixels.count, by: 3).map { up.pixels[$0] } == [3, 0, 4, 1, 5, 2])
        #expect(
            Orientation(displayRotationDegrees: 180).upright(coded).pixels.enumerated().filter { $0.offset % 3 == 0 }.map(\.element) == [
                5, 4, 3, 2, 1, 0,
            ])
        for turns in 0..<4 {
            let o = Orientation(quarterTurns: turns)
            let u = o.upright(coded)
            // Every upright pixel comes from the coded pixel codedPoint names, and a box maps onto the same pixels.
            for y in 0..<u.height {
                for x in 0..<u.width {
                    let c = o.codedPoint(x: x, y: y, codedWidth: 3, codedHeight: 2)
                    let shown: UInt8 = u.pixels[(y * u.width + x) * 3]
                    let stored: UInt8 = coded.pixels[(c.y * 3 + c.x) * 3]
                    #expect(shown == stored)
                }
            }
            let b = o.codedBox(FaceBox(left: 0, top: 0, right: u.width - 1, bottom: 0), codedWidth: 3, codedHeight: 2)
            #expect(b.area == u.width, "turns \(turns): \(b)")
        }
    }
}
