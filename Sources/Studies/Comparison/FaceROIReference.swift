import CompressionPipeline
import Foundation
import MediaIO
import RateControl

/// The strongest simple baseline for facejnd's planner: the regions facejnd protected, all at one constant face QP,
/// the background as facejnd coded it. What facejnd's per-face, per-frame QPs save beyond this is what the JND
/// machinery earns.
public struct FaceROIReference: Sendable {
    /// facejnd's planner with its final track policies (skipped and upper-face-only tracks) and backgrounds.
    public var planner: FacePlanner
    public var input: PlannerInput
    /// Tracks facejnd does not hold to τ (skipped as unrecognisable): not verified here either.
    public var unverifiedTracks: Set<Int>

    public init(planner: FacePlanner, input: PlannerInput, unverifiedTracks: Set<Int>) {
        self.planner = planner
        self.input = input
        self.unverifiedTracks = unverifiedTracks
    }

    /// The reference for facejnd's `outcome` on `timeline`: the same regions and backgrounds.
    public init(job: EncodeJob, timeline: FaceTimeline, outcome: EncodeJob.Outcome) throws {
        var planner = FacePlanner(backgroundQP: outcome.plan.map(\.backgroundQP))
        planner.skippedTracks = Set(outcome.policies.filter { $0.value == .skip }.keys)
        planner.upperOnlyTracks = Set(outcome.policies.filter { $0.value == .upper }.keys)
        self.init(
            planner: planner, input: try timeline.plannerInput(tau: job.options.tau, chipSize: job.analyzer.embedder.chipSize),
            unverifiedTracks: planner.skippedTracks)
    }

    /// The plan at one face QP.
    public func plan(faceQP: Int) -> [PlannedFrame] { planner.constantPlan(input, faceQP: faceQP) }

    /// The face QPs worth searching: up to the highest background QP (above it every frame is coded uniformly).
    public var faceQPRange: ClosedRange<Int> { 0...(planner.backgroundQP.max() ?? 51) }
}

extension Comparison {
    /// An encode of `reference` at one face QP, verified the way facejnd's output is.
    public func faceROI(_ input: String, reference: FaceROIReference, faceQP: Int, isCancelled: () -> Bool = { false }) throws -> RatePoint {
        let scratch = AtomicFile.scratchPath(near: input, tag: "face-roi")
        defer { AtomicFile.discard(scratch) }
        let plan = reference.plan(faceQP: faceQP)
        let anchor = job.anchorQP(plan.map(\.backgroundQP))
        let r = try job.encode(input, to: scratch, plan: plan, copyOtherStreams: false, isCancelled: isCancelled)
        let checks = try job.verifier.check(path: scratch, timeline: timeline, isCancelled: isCancelled)
            .filter { !reference.unverifiedTracks.contains($0.track) }
        return RatePoint(
            label: "face ROI QP \(faceQP), background QP \(anchor)", qp: anchor, faceQP: faceQP, bytes: r.outputBytes, videoBytes: r.videoBytes,
            bitrateKbps: Self.kbps(r, timeline), fidelity: FaceFidelity(checks, tau: job.options.tau),
            tracks: TrackFidelity.perTrack(checks, tau: job.options.tau))
    }

    /// The largest constant face QP whose fraction of faces within τ is at least `target` (the same bisection as
    /// the matched uniform reference; every evaluated point is returned).
    public func matchedFaceROI(
        _ input: String, reference: FaceROIReference, target: Double, isCancelled: () -> Bool = { false }
    ) throws -> (best: RatePoint, evaluated: [RatePoint]) {
        try Self.bisect(range: reference.faceQPRange, target: target) {
            try faceROI(input, reference: reference, faceQP: $0, isCancelled: isCancelled)
        }
    }
}
