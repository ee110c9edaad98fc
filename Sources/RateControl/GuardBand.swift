/// A ring of intermediate QP around every face region (`--guard-band`).
///
/// Inside a background at QP 40 a face needs QPs several steps below what it needs in a uniform encode: its region's
/// border is deblocked across a step of nearly 30 QP, and its blocks are predicted from background blocks coded
/// coarsely. A ring halfway between the two softens both, at the price of the ring's own bits; whether that pays is
/// measured in docs/video-jnd.md ("Guard band").
public struct GuardBand: Sendable, Equatable {
    /// Width of the ring on each side of the region, in luma pixels (the encoder rounds it outward to its block grid).
    public var width: Int

    public init(width: Int) {
        precondition(width >= 0, "GuardBand: negative width")
        self.width = width
    }

    /// The ring's QP: halfway from the face's QP to the background's, rounded towards the face.
    public func qp(face: Int, background: Int) -> Int { face + (background - face) / 2 }

    /// `frame` with a ring after its regions, one per region whose ring QP lies strictly between its own and the background's. Regions listed first win
    /// where they overlap, so every face keeps its own QP where a ring reaches into it, and where rings overlap the one
    /// around the finer face (the regions come finest first) wins.
    public func apply(to frame: FrameQP) -> FrameQP {
        guard width > 0 else { return frame }
        let rings = frame.regions.compactMap { r -> RegionQP? in
            let q = qp(face: r.qp, background: frame.qp)
            guard q > r.qp && q < frame.qp else { return nil }  // only a QP strictly between face and background
            return RegionQP(x: r.x - width, y: r.y - width, width: r.width + 2 * width, height: r.height + 2 * width, qp: q)
        }
        return FrameQP(qp: frame.qp, regions: frame.regions + rings)
    }
}
