import CompressionPipeline
import Foundation
import Perception

/// Fitting and judging the segment JND head on in-video oracle reports (`jnd measure --segments --json`, schema 2:
/// each segment carries the predictor's crop JND for its probe).
public enum SegmentHeadFit {
    /// Reads one report; refuses files that are not segment reports or carry no predicted crop JNDs.
    public static func load(path: String) throws -> SegmentJNDReport {
        guard let data = FileManager.default.contents(atPath: path) else { throw StudyError.missing(path: path) }
        guard let report = try? JSONDecoder().decode(SegmentJNDReport.self, from: data) else {
            throw StudyError.badDataset(path: path, reason: "not a segment JND report (facejnd jnd measure --segments --json)")
        }
        guard !samples(report).isEmpty else {
            throw StudyError.badDataset(
                path: path,
                reason: "no segment has a predicted crop JND and a JND inside the searched range (\(report.schema); measure again with a "
                    + "predictor for \(report.codec))")
        }
        return report
    }

    /// The report's usable segments: a predicted crop JND, a probe width and a JND inside the searched range (a
    /// segment at the background QP only says its JND is at least that, one at −1 that no QP keeps it within τ).
    public static func samples(_ report: SegmentJNDReport) -> [SegmentJNDHead.Sample] {
        report.segments.compactMap { s in
            guard let q = s.predictedJNDQP, let w = s.probeFaceWidth, !s.atBackground, s.jndQP >= 0 else { return nil }
            return SegmentJNDHead.Sample(cropQP: q, faceWidth: Double(w), inVideoQP: s.jndQP)
        }
    }

    /// How a head does on segments it was not fitted on.
    public struct Held: Sendable, Codable, Equatable {
        public var input: String
        public var segments: Int
        /// Mean of (prediction − in-video JND); the same for the predictor's crop JND as it is.
        public var meanError: Double
        public var cropMeanError: Double
        /// Root mean square of the error, for the head and for the crop JND shifted by its training mean gap.
        public var rmsError: Double
        public var shiftedCropRMSError: Double
        /// Share of segments the head puts at or under their in-video JND (planned there, they pass).
        public var shareAtOrUnder: Double

        enum CodingKeys: String, CodingKey {
            case input, segments
            case meanError = "mean_error", cropMeanError = "crop_mean_error", rmsError = "rms_error"
            case shiftedCropRMSError = "shifted_crop_rms_error", shareAtOrUnder = "share_at_or_under"
        }
    }

    /// Leave one report out: each report judged by a head fitted on all the others.
    public static func leaveOneOut(_ reports: [SegmentJNDReport], quantile: Double) throws -> [Held] {
        let perReport = reports.map(samples)
        return try reports.indices.map { i in
            let train = perReport.indices.filter { $0 != i }.flatMap { perReport[$0] }
            let test = perReport[i]
            let head = try SegmentJNDHead.fit(train, quantile: quantile, codec: reports[i].codec, tau: reports[i].tau, predictor: "")
            let gap = train.map { Double($0.inVideoQP - $0.cropQP) }.reduce(0, +) / Double(max(1, train.count))
            let errors = test.map { Double(head.inVideoQP(cropQP: $0.cropQP, faceWidth: $0.faceWidth) - $0.inVideoQP) }
            let crop = test.map { Double($0.cropQP - $0.inVideoQP) }
            let shifted = crop.map { $0 + gap }
            func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
            return Held(
                input: reports[i].input, segments: test.count, meanError: mean(errors), cropMeanError: mean(crop),
                rmsError: mean(errors.map { $0 * $0 }).squareRoot(), shiftedCropRMSError: mean(shifted.map { $0 * $0 }).squareRoot(),
                shareAtOrUnder: test.isEmpty ? 0 : Double(errors.filter { $0 <= 0 }.count) / Double(test.count))
        }
    }
}
