import CompressionPipeline
import FaceAnalysis
import Foundation

/// What `facejnd quality-train` reports.
public struct QualityStudyReport: Sendable, Codable {
    public struct DegradationMean: Sendable, Codable {
        public var degradation: String
        public var faces: Int
        public var cr: Double
        public var ri: Double
        public var consistency: Double
        public var score: Double
    }

    public var trainImages: Int
    public var trainObservations: Int
    public var evalPairs: Int
    public var evalImagesWithFace: Int
    public var curves: [ErrorVersusReject.Curve]
    public var degradationMeans: [DegradationMean]
    public var finalTrainMSE: Double
    public var finalValidationMSE: Double

    enum CodingKeys: String, CodingKey {
        case curves
        case trainImages = "train_images"
        case trainObservations = "train_observations"
        case evalPairs = "eval_pairs"
        case evalImagesWithFace = "eval_images_with_face"
        case degradationMeans = "degradation_means"
        case finalTrainMSE = "final_train_mse"
        case finalValidationMSE = "final_validation_mse"
    }

    public static func make(
        pairs: [ImagePair], observations: [QualityObservation], scorer: QualityScorer,
        losses: [QualityStudy.EpochLoss], trainImages: Int, trainObservations: Int
    ) -> QualityStudyReport {
        let originals = Dictionary(observations.filter { $0.degradation == nil }.map { ($0.image, $0) }, uniquingKeysWith: { a, _ in a })
        let scores = originals.mapValues { scorer.scores($0.analysis) }
        let distances: [Double?] = pairs.map { p in
            guard let a = originals[p.first], let b = originals[p.second] else { return nil }
            return Double(descriptorDistance(a.analysis.descriptor, b.analysis.descriptor))
        }
        func pairQuality(_ f: (String) -> Double?) -> [Double?] {
            pairs.map { p in
                guard let a = f(p.first), let b = f(p.second) else { return nil }
                return min(a, b)
            }
        }
        let measures: [(String, (String) -> Double?)] = [
            ("cr", { scores[$0]?.certaintyRatio }),
            ("ri", { scores[$0]?.recognizabilityIndex }),
            ("consistency", { scores[$0]?.consistency }),
            ("combined", { scores[$0]?.score }),
            ("face_size", { originals[$0].map { Double($0.faceWidth) } }),
            ("sharpness", { originals[$0]?.sharpness }),
        ]
        let curves = measures.map { ErrorVersusReject.curve(measure: $0.0, pairs: pairs, distances: distances, quality: pairQuality($0.1)) }
        var groups: [String: [QualityScores]] = [:]
        let degradedImages = Set(observations.filter { $0.degradation != nil }.map(\.image))
        for o in observations where degradedImages.contains(o.image) {
            groups[o.degradation?.description ?? "original", default: []].append(scorer.scores(o.analysis))
        }
        let order = ["original"] + ChipDegradation.families.flatMap { $0 }.map(\.description)
        let means = order.compactMap { name -> DegradationMean? in
            guard let g = groups[name], let m = QualityScores.mean(g) else { return nil }
            return DegradationMean(
                degradation: name, faces: g.count, cr: m.certaintyRatio, ri: m.recognizabilityIndex,
                consistency: m.consistency, score: m.score)
        }
        return QualityStudyReport(
            trainImages: trainImages, trainObservations: trainObservations, evalPairs: pairs.count,
            evalImagesWithFace: originals.count, curves: curves, degradationMeans: means,
            finalTrainMSE: losses.last?.train ?? 0, finalValidationMSE: losses.last?.validation ?? 0)
    }
}
