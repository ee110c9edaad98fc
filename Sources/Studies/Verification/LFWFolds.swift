import CompressionPipeline
import Foundation

/// LFW's dev pairs file as folds: blocks of 600 pairs (300 genuine, 300 impostor), numbered from 1.
public enum LFWFolds {
    public static let pairsPerFold = 600

    /// The pairs of folds `folds` (1-based, inclusive), clipped to the file.
    public static func pairs(_ all: [ImagePair], folds: ClosedRange<Int>) -> [ImagePair] {
        Array(all[min(all.count, (folds.lowerBound - 1) * pairsPerFold)..<min(all.count, folds.upperBound * pairsPerFold)])
    }

    /// Every image the pairs name, once, sorted; the first `limit` when given.
    public static func images(of pairs: [ImagePair], limit: Int? = nil) -> [String] {
        let v = Array(Set(pairs.flatMap { [$0.first, $0.second] })).sorted()
        return limit.map { Array(v.prefix($0)) } ?? v
    }

    /// Parses "FIRST-LAST" (1-based).
    public static func parse(_ text: String) -> ClosedRange<Int>? {
        let v = text.split(separator: "-").compactMap { Int($0) }
        guard v.count == 2, v[0] >= 1, v[0] <= v[1] else { return nil }
        return v[0]...v[1]
    }
}
