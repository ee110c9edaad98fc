/// Faces too poor for face recognition: give them the background QP (`skip`: bits only where recognition is
/// possible) or protect them anyway (`protect`).
public enum UnrecognizablePolicy: String, Sendable, Codable, CaseIterable {
    case skip
    case protect
}

/// How the planner treats a face track.
public enum TrackPolicy: String, Sendable, Codable {
    /// The whole face region at its JND QP.
    case protect
    /// Unrecognisable and `--unrecognizable skip`: background QP, not verified.
    case skip
    /// Low consistency (masked or occluded): only the upper face protected, until a verification failure widens it.
    case upper

    /// The policy for a track from its face-quality scores (nil: no quality model, every track is protected).
    /// - Parameters:
    ///   - score: the combined quality score, 0…1.
    ///   - consistency: sub-decision consistency, 0…1 (low for masked or occluded faces).
    public static func decide(
        score: Double?, consistency: Double?, qualityFloor: Double, unrecognizable: UnrecognizablePolicy,
        occlusionConsistency: Double
    ) -> TrackPolicy {
        guard let score, let consistency else { return .protect }
        if score < qualityFloor { return unrecognizable == .skip ? .skip : .protect }
        return consistency < occlusionConsistency ? .upper : .protect
    }
}
