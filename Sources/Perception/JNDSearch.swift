/// The JND's definition as a search (docs/jnd-definitions.md): JND QP = max { q : d(q′) ≤ τ for every q′ ≤ q }.
///
/// d is not monotone in q. The JND is defined by the first crossing from below, so a noisy later dip under τ does
/// not raise it. Pure: the caller's `distance` closure does the encoding and embedding.
public enum JNDSearch {
    /// First-crossing search: walks up from the lowest QP in steps; at the first QP over τ, tests the gap below it
    /// one QP at a time. Returns the last QP before the first crossing found.
    public static func firstCrossing(range: ClosedRange<Int>, step: Int, tau: Double, distance: (Int) throws -> Double) rethrows -> Int {
        var passed = range.lowerBound - 1
        var q = range.lowerBound
        while q <= range.upperBound {
            if try distance(q) > tau {
                for g in (passed + 1)..<q where try distance(g) > tau { return g - 1 }
                return q - 1
            }
            passed = q
            if q == range.upperBound { break }
            q = min(q + step, range.upperBound)
        }
        return range.upperBound
    }
}
