/// A track's faces over one stretch of the video (a GOP, or part of one): the unit the in-video JND is measured on.
public struct TrackSegment: Hashable, Sendable, Comparable {
    public var track: Int
    public var frames: Range<Int>

    public init(track: Int, frames: Range<Int>) {
        self.track = track
        self.frames = frames
    }

    public static func < (a: TrackSegment, b: TrackSegment) -> Bool {
        (a.track, a.frames.lowerBound) < (b.track, b.frames.lowerBound)
    }

    /// Each track's segments: its frames cut at every boundary of `stretches` (GOPs, or fixed-length pieces), keeping
    /// the pieces where the track has a face.
    public static func cut(_ frames: [[PlannerFace]], at stretches: [Range<Int>]) -> [TrackSegment] {
        var segments: [TrackSegment] = []
        for stretch in stretches {
            var tracks = Set<Int>()
            for t in stretch where t < frames.count { tracks.formUnion(frames[t].map(\.track)) }
            segments += tracks.map { TrackSegment(track: $0, frames: stretch) }
        }
        return segments.sorted()
    }

    /// The stretches where both partitions cut: `gops` split further into pieces of at most `length` frames.
    public static func stretches(gops: [Range<Int>], length: Int?) -> [Range<Int>] {
        guard let length, length > 0 else { return gops }
        return gops.flatMap { g in stride(from: g.lowerBound, to: g.upperBound, by: length).map { $0..<min($0 + length, g.upperBound) } }
    }
}

/// Bisection of every segment's largest passing face QP at once. Each round encodes the whole video with one QP per
/// segment (unresolved ones at their midpoint, resolved ones at their JND) and learns, from the verification, which
/// segments kept all their faces within τ. Segments are coded in separate regions and GOPs, so one encode answers
/// for all of them; where they still interact (one track's consecutive segments inside a GOP), `confirm` repairs the
/// result. The lower end of the range is assumed to pass until a confirmation shows otherwise.
public struct SegmentBisection: Sendable {
    public let range: ClosedRange<Int>
    /// Per segment, the largest QP known to pass.
    public private(set) var passing: [TrackSegment: Int]
    /// Per segment, the smallest QP known to fail (`range.upperBound + 1` while none is known).
    public private(set) var failing: [TrackSegment: Int]

    public init(segments: [TrackSegment], range: ClosedRange<Int>) {
        self.range = range
        passing = Dictionary(uniqueKeysWithValues: segments.map { ($0, range.lowerBound) })
        failing = Dictionary(uniqueKeysWithValues: segments.map { ($0, range.upperBound + 1) })
    }

    public var segments: [TrackSegment] { passing.keys.sorted() }

    /// Whether every segment's JND is pinned to one QP.
    public var isFinished: Bool { passing.allSatisfy { failing[$0.key]! - $0.value <= 1 } }

    /// The QP of each segment in the next round: the top of the range first, then the midpoint of what is unknown;
    /// a finished segment stays at its JND.
    public func proposal() -> [TrackSegment: Int] {
        passing.reduce(into: [:]) { next, entry in
            let (s, low) = entry
            let high = failing[s]!
            if high - low <= 1 {
                next[s] = low
            } else if high == range.upperBound + 1 {
                next[s] = range.upperBound
            } else {
                next[s] = (low + high) / 2
            }
        }
    }

    /// What one round showed: `passed[s]` for the segments encoded at `qp[s]`.
    public mutating func record(qp: [TrackSegment: Int], passed: [TrackSegment: Bool]) {
        for (s, q) in qp {
            guard let ok = passed[s], passing[s] != nil else { continue }
            if ok {
                passing[s] = max(passing[s]!, q)
            } else {
                failing[s] = min(failing[s]!, q)
                // A failure at or below the assumed-passing end moves it down (interaction with another segment, or
                // a face no QP in the range keeps within τ).
                if passing[s]! >= q { passing[s] = max(range.lowerBound - 1, q - 1) }
            }
        }
    }

    /// Lowers a segment that failed at its JND straight to `qp` (a step sized by how far over τ it was, instead of
    /// one QP per confirmation round); never raises it.
    public mutating func lower(_ s: TrackSegment, to qp: Int) {
        guard let p = passing[s], qp < p else { return }
        passing[s] = max(range.lowerBound - 1, qp)
        failing[s] = min(failing[s]!, passing[s]! + 1)
    }

    /// Per segment, the largest QP known to pass (`range.lowerBound − 1`: none in the range does).
    public var jnd: [TrackSegment: Int] { passing }
}
