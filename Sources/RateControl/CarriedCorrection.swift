import Foundation

/// What verification of finished chunks teaches the plan of the next one.
///
/// The JND a face needs in inter-coded video sits away from the JND measured on its still crop by an amount that
/// differs between clips and faces (docs/video-jnd.md: 2.5 QP lower on average on the selfie clip, 6 on the bundled
/// one, scattering by about 4 between segments). So each track carries an offset from one chunk to the next, learned
/// from how its faces fared in the chunk's first encode, and a track not verified yet starts from the clip's typical
/// offset, the median over the tracks verified so far.
///
/// A track that failed is lowered by what its repairs needed. A track whose worst distance stayed well inside τ is
/// raised by the headroom the distance shows: near the JND a face's worst distance grows by about 1.3× per QP
/// (docs/video-jnd.md), so a worst distance d leaves about `qpPerDoubling`·log2(τ/d) QP; one QP of it is kept back.
/// Further below the JND the distance hardly moves (on the selfie clip the planner sat a mean 6 QP under the in-video
/// JND with worst distances of 0.07–0.09, which show one QP of headroom at most), so a track that passes under
/// `raiseBelow`·τ is also raised by at least `raiseStep`: a staircase that climbs until a repair pushes it back.
public struct CarriedCorrection: Sendable, Equatable, Codable {
    /// Extra QP reduction per track (negative: the track is coded above its plan), applied from its next chunk.
    public private(set) var perTrack: [Int: Int] = [:]
    /// QP per doubling of the worst distance near the JND.
    public var qpPerDoubling: Double
    /// The largest raise above the plan (offsets stay at or above its negative).
    public var maxRaise: Int
    /// The least raise after a first encode whose worst distance was under `raiseBelow`·τ (0: the headroom alone).
    public var raiseStep: Int
    public var raiseBelow: Double

    public init(qpPerDoubling: Double = 2.5, maxRaise: Int = 8, raiseStep: Int = 0, raiseBelow: Double = 0.9) {
        self.qpPerDoubling = qpPerDoubling
        self.maxRaise = maxRaise
        self.raiseStep = raiseStep
        self.raiseBelow = raiseBelow
    }

    /// For a track not verified yet: the median of the known tracks' offsets (the upper middle one: the more
    /// careful), 0 when none.
    public var clipOffset: Int {
        let known = perTrack.values.sorted()
        return known.isEmpty ? 0 : known[known.count / 2]
    }

    /// The offset a track starts its next chunk with.
    public func offset(track: Int) -> Int { perTrack[track] ?? clipOffset }

    /// What one track's segments showed in an accepted chunk.
    public struct Outcome: Sendable, Equatable {
        public var track: Int
        /// The offset the chunk's first encode used for this track (`offset(track:)` at the time).
        public var startOffset: Int
        /// The largest extra reduction the chunk's repairs gave any of the track's segments (0: none failed).
        public var repaired: Int
        /// The worst distance of the track's faces in the chunk's first encode.
        public var firstEncodeWorst: Double

        public init(track: Int, startOffset: Int, repaired: Int, firstEncodeWorst: Double) {
            self.track = track
            self.startOffset = startOffset
            self.repaired = repaired
            self.firstEncodeWorst = firstEncodeWorst
        }
    }

    /// The QP a track can be raised by after a first encode whose worst distance was `worst`: 0 when it failed,
    /// otherwise the headroom the distance shows, and at least `raiseStep` under `raiseBelow`·τ.
    public func headroom(worst: Double, tau: Double) -> Int {
        guard worst > 0, worst < tau else { return worst <= 0 ? maxRaise : 0 }
        let least = worst < raiseBelow * tau ? raiseStep : 0
        return max(least, Int((qpPerDoubling * log2(tau / worst)).rounded(.down)) - 1)
    }

    /// Learns from an accepted chunk.
    public mutating func learn(_ outcomes: [Outcome], tau: Double) {
        for o in outcomes {
            let next = o.repaired > 0 ? o.startOffset + o.repaired : o.startOffset - headroom(worst: o.firstEncodeWorst, tau: tau)
            perTrack[o.track] = max(-maxRaise, next)
        }
    }
}
