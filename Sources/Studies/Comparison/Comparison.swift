import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO

/// One encode of a comparison or sweep: its size and what it did to the faces.
public struct RatePoint: Sendable, Codable, Equatable {
    public var label: String
    /// Uniform QP, or the (median) background QP of facejnd and of the face-ROI reference.
    public var qp: Int?
    /// The face-ROI reference's constant face QP.
    public var faceQP: Int?
    public var crf: Double?
    /// facejnd's threshold for this point.
    public var tau: Double?
    /// The whole file (facejnd's output keeps the input's audio; the references are video only).
    public var bytes: Int
    /// The video stream alone: what the savings compare, so that audio copied into one file and not the other does
    /// not count.
    public var videoBytes: Int?
    public var bitrateKbps: Double
    public var fidelity: FaceFidelity
    /// Per track, the mean, worst-frame and worst-5% distances.
    public var tracks: [TrackFidelity]

    public init(
        label: String, qp: Int? = nil, faceQP: Int? = nil, crf: Double? = nil, tau: Double? = nil, bytes: Int, videoBytes: Int? = nil,
        bitrateKbps: Double, fidelity: FaceFidelity, tracks: [TrackFidelity] = []
    ) {
        self.videoBytes = videoBytes
        self.label = label
        self.qp = qp
        self.faceQP = faceQP
        self.crf = crf
        self.tau = tau
        self.bytes = bytes
        self.bitrateKbps = bitrateKbps
        self.fidelity = fidelity
        self.tracks = tracks
    }

    enum CodingKeys: String, CodingKey {
        case label, qp, crf, tau, bytes, fidelity, tracks
        case faceQP = "face_qp"
        case videoBytes = "video_bytes"
        case bitrateKbps = "bitrate_kbps"
    }
}

/// `facejnd compare`'s report.
public struct ComparisonReport: Sendable, Codable {
    public struct Sweep: Sendable, Codable {
        public var reference: [RatePoint]
        public var facejnd: [RatePoint]
        /// Bjøntegaard delta rate of facejnd against the reference (negative: facejnd needs fewer bits for the
        /// same face fidelity), nil when the curves do not overlap.
        public var bdRatePercent: Double?
        public init(reference: [RatePoint], facejnd: [RatePoint], bdRatePercent: Double?) {
            self.reference = reference
            self.facejnd = facejnd
            self.bdRatePercent = bdRatePercent
        }
        enum CodingKeys: String, CodingKey {
            case reference, facejnd
            case bdRatePercent = "bd_rate_percent"
        }
    }

    /// Version 2 added `reference_encoder`, the points' `tracks` and `face_qp`.
    public var schema = "facejnd-compare-report/2"
    public var input: String
    public var codec: String
    public var tau: Double
    /// What the reference is: "uniform" (one QP or CRF for the whole picture) or "face-roi" (facejnd's face regions
    /// at one constant face QP, facejnd's background).
    public var referenceEncoder: String
    /// How the reference's QP was chosen: "qp", "crf", or "matched" (the largest uniform QP, or constant face QP,
    /// that keeps at least facejnd's fraction of faces within τ).
    public var referenceKind: String
    public var reference: RatePoint
    public var facejnd: RatePoint
    /// 100 · (1 − facejnd bytes / reference bytes).
    public var savingsPercent: Double
    public var sweep: Sweep?

    public init(
        input: String, codec: String, tau: Double, referenceEncoder: String = "uniform", referenceKind: String, reference: RatePoint,
        facejnd: RatePoint, savingsPercent: Double, sweep: Sweep? = nil
    ) {
        self.input = input
        self.codec = codec
        self.tau = tau
        self.referenceEncoder = referenceEncoder
        self.referenceKind = referenceKind
        self.reference = reference
        self.facejnd = facejnd
        self.savingsPercent = savingsPercent
        self.sweep = sweep
    }

    enum CodingKeys: String, CodingKey {
        case schema, input, codec, tau, reference, facejnd, sweep
        case referenceEncoder = "reference_encoder"
        case referenceKind = "reference_kind"
        case savingsPercent = "savings_percent"
    }
}

/// Encodes a video both ways — uniformly and with facejnd — and measures both with the same verification.
public struct Comparison {
    public var job: EncodeJob
    public var timeline: FaceTimeline

    public init(job: EncodeJob, timeline: FaceTimeline) {
        self.job = job
        self.timeline = timeline
    }

    /// A uniform encode (one QP or one CRF for the whole video), verified like facejnd's output.
    public func uniform(_ input: String, qp: Int? = nil, crf: Double? = nil, isCancelled: () -> Bool = { false }) throws -> RatePoint {
        let scratch = AtomicFile.scratchPath(near: input, tag: "reference")
        defer { AtomicFile.discard(scratch) }
        let o = job.options
        var t = Transcoder(
            input: input, output: scratch,
            encoder: EncoderSettings(codec: o.codec, preset: o.preset, rateControl: qp.map { .qp($0) } ?? .crf(crf ?? 23)))
        t.copyOtherStreams = false
        let r = try t.run(isCancelled: isCancelled)
        let checks = try job.verifier.check(path: scratch, timeline: timeline, isCancelled: isCancelled)
        return RatePoint(
            label: qp.map { "uniform QP \($0)" } ?? "CRF \(crf ?? 23)", qp: qp, crf: crf, tau: nil, bytes: r.outputBytes,
            videoBytes: r.videoBytes, bitrateKbps: Self.kbps(r, timeline), fidelity: FaceFidelity(checks, tau: o.tau),
            tracks: TrackFidelity.perTrack(checks, tau: o.tau))
    }

    /// facejnd's encode with the job's options but another τ or background QP; written to `output` if given.
    public func facejnd(
        _ input: String, tau: Double? = nil, backgroundQP: Int? = nil, output: String? = nil,
        isCancelled: @Sendable @escaping () -> Bool = { false }
    ) throws -> (RatePoint, EncodeJob.Outcome) {
        var j = job
        if let tau { j.options.tau = tau }
        if let backgroundQP { j.options.backgroundQP = backgroundQP }
        let scratch = AtomicFile.scratchPath(near: input, tag: "facejnd")
        defer { AtomicFile.discard(scratch) }  // unused when the output is kept
        let background = try j.backgroundQPs(input, frameCount: timeline.frames.count, isCancelled: isCancelled)
        let outcome = try j.encode(input, output: output ?? scratch, timeline: timeline, background: background, isCancelled: isCancelled)
        let point = RatePoint(
            label: "facejnd τ \(j.options.tau) bg \(j.options.matchCRF.map { "CRF \($0)" } ?? "QP \(j.options.backgroundQP)")",
            qp: j.options.matchCRF == nil ? j.options.backgroundQP : nil, crf: j.options.matchCRF, tau: j.options.tau,
            bytes: outcome.result.outputBytes, videoBytes: outcome.result.videoBytes, bitrateKbps: Self.kbps(outcome.result, timeline),
            fidelity: FaceFidelity(outcome.checks, tau: j.options.tau), tracks: TrackFidelity.perTrack(outcome.checks, tau: j.options.tau))
        return (point, outcome)
    }

    /// The largest uniform QP whose fraction of faces within τ is at least `target` (bisection; the fraction
    /// falls with QP on average, and every evaluated point is returned for reuse).
    public func matchedReference(
        _ input: String, target: Double, range: ClosedRange<Int> = 0...51,
        isCancelled: () -> Bool = { false }
    ) throws -> (best: RatePoint, evaluated: [RatePoint]) {
        try Self.bisect(range: range, target: target) { try uniform(input, qp: $0, isCancelled: isCancelled) }
    }

    /// The bisection behind `matchedReference`, on any evaluation (tests give it a fake encoder). Invariant: the
    /// lower end passes (assumed for the lowest QP, which is returned when nothing passes); each QP is evaluated
    /// at most once.
    public static func bisect(range: ClosedRange<Int>, target: Double, evaluate: (Int) throws -> RatePoint) rethrows
        -> (best: RatePoint, evaluated: [RatePoint])
    {
        var evaluated: [Int: RatePoint] = [:]
        func at(_ q: Int) throws -> RatePoint {
            if let p = evaluated[q] { return p }
            let p = try evaluate(q)
            evaluated[q] = p
            return p
        }
        var lo = range.lowerBound, hi = range.upperBound
        if try at(hi).fidelity.fractionWithinTau >= target { lo = hi }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if try at(mid).fidelity.fractionWithinTau >= target { lo = mid } else { hi = mid }
        }
        return (try at(lo), evaluated.keys.sorted().map { evaluated[$0]! })
    }

    /// Rate–fidelity curves of both encoders: uniform encodes at `qps` (reusing any point already `evaluated`) and
    /// facejnd at the thresholds `taus`, with facejnd's Bjøntegaard delta rate against the uniform curve
    /// (fidelity −10·log10 of the mean descriptor distance).
    public func sweep(
        _ input: String, qps: [Int], taus: [Double], evaluated: [RatePoint] = [], progress: (Int, Int) -> Void = { _, _ in },
        isCancelled: @Sendable @escaping () -> Bool = { false }
    ) throws -> ComparisonReport.Sweep {
        var reference: [RatePoint] = []
        for q in qps {
            progress(reference.count, qps.count + taus.count)
            reference.append(try evaluated.first { $0.qp == q && $0.tau == nil } ?? uniform(input, qp: q, isCancelled: isCancelled))
        }
        var ours: [RatePoint] = []
        for t in taus {
            progress(qps.count + ours.count, qps.count + taus.count)
            ours.append(try facejnd(input, tau: t, isCancelled: isCancelled).0)
        }
        let bd = BjontegaardDelta.ratePercent(
            reference: reference.map { ($0.bitrateKbps, BjontegaardDelta.fidelity($0.fidelity)) },
            test: ours.map { ($0.bitrateKbps, BjontegaardDelta.fidelity($0.fidelity)) })
        return .init(reference: reference, facejnd: ours, bdRatePercent: bd)
    }

    /// 100 · (1 − ours / reference): the share of the reference's bytes facejnd saves.
    /// Savings on the video stream when both points know it, else on the files.
    public static func savingsPercent(ours: RatePoint, reference: RatePoint) -> Double {
        guard let a = ours.videoBytes, let b = reference.videoBytes else { return savingsPercent(ours: ours.bytes, reference: reference.bytes) }
        return savingsPercent(ours: a, reference: b)
    }

    public static func savingsPercent(ours: Int, reference: Int) -> Double {
        100 * (1 - Double(ours) / Double(max(1, reference)))
    }

    static func kbps(_ r: TranscodeResult, _ timeline: FaceTimeline) -> Double {
        Double(r.videoBytes) * 8 * timeline.framesPerSecond / Double(max(1, timeline.frames.count)) / 1000
    }
}

/// Bjøntegaard delta rate between two rate–fidelity curves.
public enum BjontegaardDelta {
    /// Average log-rate difference of `test` against `reference` over the fidelity range both cover, as a
    /// percentage (negative: `test` needs fewer bits). log10(rate) is interpolated piecewise-linearly in fidelity
    /// (monotone and robust with few points, as in the piecewise-cubic variant's spirit) and integrated with the
    /// trapezoid rule. Returns nil with fewer than two points per curve or no overlap.
    public static func ratePercent(reference: [(rate: Double, fidelity: Double)], test: [(rate: Double, fidelity: Double)]) -> Double? {
        func curve(_ pts: [(rate: Double, fidelity: Double)]) -> [(f: Double, logR: Double)]? {
            let c = pts.filter { $0.rate > 0 && $0.fidelity.isFinite }.map { (f: $0.fidelity, logR: log10($0.rate)) }.sorted { $0.f < $1.f }
            return c.count >= 2 ? c : nil
        }
        guard let a = curve(reference), let b = curve(test) else { return nil }
        let lo = max(a.first!.f, b.first!.f), hi = min(a.last!.f, b.last!.f)
        guard hi > lo else { return nil }
        func interpolate(_ c: [(f: Double, logR: Double)], _ f: Double) -> Double {
            var i = 0
            while i < c.count - 2 && c[i + 1].f < f { i += 1 }
            let (p, q) = (c[i], c[i + 1])
            return q.f == p.f ? p.logR : p.logR + (q.logR - p.logR) * (f - p.f) / (q.f - p.f)
        }
        let n = 200
        var sum = 0.0
        for k in 0...n {
            let f = lo + (hi - lo) * Double(k) / Double(n)
            let w = (k == 0 || k == n) ? 0.5 : 1
            sum += w * (interpolate(b, f) - interpolate(a, f))
        }
        return (pow(10, sum / Double(n)) - 1) * 100
    }

    /// The fidelity axis facejnd uses: −10·log10(mean descriptor distance), in dB (higher is better).
    public static func fidelity(_ f: FaceFidelity) -> Double { -10 * log10(max(f.meanDistance, 1e-6)) }
}
