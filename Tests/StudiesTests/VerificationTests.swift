import CompressionPipeline
import Foundation
import Studies
import Testing
import _TestSupport

@Suite struct VerificationTests {
    @Test func parsesBothPairFormsAndSkipsTheHeader() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("pairs.txt").path
        try "2\t1\nAlice\t1\t3\nBob 2 Carol 10\n".write(toFile: path, atomically: true, encoding: .utf8)
        let pairs = try Verification.parsePairs(path: path, imageDirectory: "/img")
        #expect(
            pairs == [
                ImagePair(first: "/img/Alice/Alice_0001.jpg", second: "/img/Alice/Alice_0003.jpg", sameIdentity: true),
                ImagePair(first: "/img/Bob/Bob_0002.jpg", second: "/img/Carol/Carol_0010.jpg", sameIdentity: false),
            ])
        #expect(throws: PairsFileError.malformed(line: 3, text: "Bob Smith_x 2 Carol 10")) {
            // 5 fields: not a valid line.
            try "h\nAlice 1 3\nBob Smith_x 2 Carol 10\n".write(toFile: path, atomically: true, encoding: .utf8)
            _ = try Verification.parsePairs(path: path, imageDirectory: "/img")
        }
        #expect(throws: PairsFileError.unreadable("/no/such/pairs.txt")) {
            _ = try Verification.parsePairs(path: "/no/such/pairs.txt", imageDirectory: "/img")
        }
    }

    /// Descriptors on a line: distance between images i and j is |i − j| / 10.
    private func descriptor(_ i: Int) -> [Float] { [Float(i) / 10] + [Float](repeating: 0, count: 127) }

    @Test func reportCountsMissingFacesAsWrongAndFindsTheBestThreshold() {
        // Genuine distances 0.1, 0.3, 0.7; impostor distances 0.5, 0.9, 1.2; one genuine pair has a faceless image.
        var d: [String: [Float]?] = [:]
        for i in 0...20 { d["i\(i)"] = .some(descriptor(i)) }
        d["noface"] = .some(nil)
        let pairs = [
            ImagePair(first: "i0", second: "i1", sameIdentity: true), ImagePair(first: "i0", second: "i3", sameIdentity: true),
            ImagePair(first: "i0", second: "i7", sameIdentity: true), ImagePair(first: "i0", second: "noface", sameIdentity: true),
            ImagePair(first: "i0", second: "i5", sameIdentity: false), ImagePair(first: "i0", second: "i9", sameIdentity: false),
            ImagePair(first: "i0", second: "i12", sameIdentity: false),
        ]
        let r = Verification.report(pairs: pairs, descriptors: d, threshold: 0.6)
        // At 0.6: genuine 0.1, 0.3 right, 0.7 wrong, missing wrong; impostor 0.5 wrong, 0.9, 1.2 right → 4/7.
        #expect(abs(r.accuracy - 4.0 / 7) < 1e-12)
        #expect(r.pairsWithMissingFace == 1 && r.imagesWithoutFace == 1 && r.missingImages == ["noface"])
        // Best: 5/7, reached by a threshold in (0.3, 0.5] (genuine 0.1, 0.3 and all impostors right) or in (0.7, 0.9]
        // (all genuine and impostors 0.9, 1.2 right).
        #expect(abs(r.bestAccuracy - 5.0 / 7) < 1e-12)
        #expect((r.bestThreshold > 0.3 && r.bestThreshold <= 0.5) || (r.bestThreshold > 0.7 && r.bestThreshold <= 0.9))
        // FAR 1e-2 of 3 impostors allows none: threshold = smallest impostor distance 0.5 → accepts 0.1, 0.3 of 4 genuine.
        #expect(abs(r.tarAtFAR1e2 - 0.5) < 1e-12 && abs(r.tarAtFAR1e3 - 0.5) < 1e-12)
        #expect(r.genuinePairs == 4 && r.impostorPairs == 3)
    }
}
