import Foundation

/// A face-frame that verification found over τ.
public struct FaceFailure: Sendable, Equatable {
    public var frame: Int
    public var track: Int
    /// ‖e0 − e‖ of the decoded face.
    public var distance: Double

    public init(frame: Int, track: Int, distance: Double) {
        self.frame = frame
        self.track = track
        self.distance = distance
    }
}

/// What the next pass changes for one track over one stretch of frames.
public enum RepairAction: Sendable, Equatable {
    /// Encode the track without the JND-image prefilter from now on (its change may be what the FR model noticed).
    case unfilter(track: Int, frames: Range<Int>)
    /// A face protected only in its upper part gets its whole region back.
    case widen(track: Int, frames: Range<Int>)
    /// Lower the track's QP over `frames` by `step`.
    case lower(track: Int, frames: Range<Int>, step: Int)

    public var track: Int {
        switch self {
        case .unfilter(let t, _), .widen(let t, _), .lower(let t, _, _): return t
        }
    }
    public var frames: Range<Int> {
        switch self {
        case .unfilter(_, let f), .widen(_, let f), .lower(_, let f, _): return f
        }
    }
}

/// How verification failures turn into changes for the next encode pass.
///
/// A failing face's QP is lowered over the GOP that holds the failure (inter prediction carries a face's loss to the
/// rest of its GOP), unless the face is already at the floor there. d(q) roughly doubles every 7 QP on LFW
/// (docs/jnd-dataset-x264.md), so the step is 7·log2(d/τ), at least `minimumStep`. Only the worst failure of each
/// (track, GOP) counts. Before a QP is lowered, cheaper explanations are tried once per track: a prefiltered track
/// is encoded unfiltered, an upper-face-only track gets its whole region.
public struct RepairRules: Sendable {
    public var tau: Double
    public var floorQP: Int
    public var minimumStep: Int

    public init(tau: Double, floorQP: Int, minimumStep: Int = 3) {
        self.tau = tau
        self.floorQP = floorQP
        self.minimumStep = minimumStep
    }

    /// How far to lower a face's QP whose distance is `distance` > τ.
    public func step(distance: Double) -> Int {
        max(minimumStep, Int((7 * log2(distance / tau)).rounded(.up)))
    }

    /// Frame ranges between keyframes ("I" pictures), in presentation order.
    public static func gops(_ types: [String], count: Int) -> [Range<Int>] {
        var starts = types.prefix(count).enumerated().filter { $0.element == "I" }.map(\.offset)
        if starts.first != 0 { starts.insert(0, at: 0) }
        return starts.enumerated().map { i, s in s..<(i + 1 < starts.count ? starts[i + 1] : count) }
    }

    /// The repairs for one pass, ordered by track and frame.
    /// - Parameters:
    ///   - failing: the face-frames over τ.
    ///   - plan: the plan the pass was encoded with.
    ///   - gops: the pass's GOPs (`gops(_:count:)`).
    ///   - prefiltered: tracks still encoded through the JND-image prefilter.
    ///   - upperOnly: tracks protected only in their upper face.
    public func actions(
        failing: [FaceFailure], plan: [PlannedFrame], gops: [Range<Int>],
        prefiltered: Set<Int> = [], upperOnly: Set<Int> = []
    ) -> [RepairAction] {
        struct Key: Hashable, Comparable {
            var track: Int, start: Int
            static func < (a: Key, b: Key) -> Bool { (a.track, a.start) < (b.track, b.start) }
        }
        var worst: [Key: (gop: Range<Int>, distance: Double)] = [:]
        for f in failing {
            let faceQP = f.frame < plan.count ? plan[f.frame].qp(track: f.track) : floorQP
            guard faceQP > floorQP || prefiltered.contains(f.track) else { continue }
            let gop = gops.first { $0.contains(f.frame) } ?? f.frame..<(f.frame + 1)
            let key = Key(track: f.track, start: gop.lowerBound)
            if worst[key].map({ $0.distance < f.distance }) ?? true { worst[key] = (gop, f.distance) }
        }
        var prefiltered = prefiltered, upperOnly = upperOnly
        return worst.keys.sorted().map { key in
            let w = worst[key]!
            if prefiltered.remove(key.track) != nil { return .unfilter(track: key.track, frames: w.gop) }
            if upperOnly.remove(key.track) != nil { return .widen(track: key.track, frames: w.gop) }
            return .lower(track: key.track, frames: w.gop, step: step(distance: w.distance))
        }
    }
}
