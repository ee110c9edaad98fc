import Foundation
import NeuralNet
import TensorCore

/// The quality of one face (docs/face-quality.md).
public struct QualityScores: Sendable, Codable, Equatable {
    /// Predicted certainty ratio: how much closer the face is to its own identity than to the nearest other one.
    public var certaintyRatio: Double
    /// Recognisability index: distance from the centre of unrecognisable faces plus the prototype margin.
    public var recognizabilityIndex: Double
    /// Sub-decision consistency in [0, 1]: agreement of the decisions taken on five regions of the face.
    public var consistency: Double
    /// The three combined in [0, 1]: the mean of their percentile ranks among the training faces.
    public var score: Double

    public init(certaintyRatio: Double, recognizabilityIndex: Double, consistency: Double, score: Double) {
        self.certaintyRatio = certaintyRatio
        self.recognizabilityIndex = recognizabilityIndex
        self.consistency = consistency
        self.score = score
    }

    /// The mean of each score over `scores` (nil for none).
    public static func mean(_ scores: [QualityScores]) -> QualityScores? {
        guard !scores.isEmpty else { return nil }
        let n = Double(scores.count)
        return QualityScores(
            certaintyRatio: scores.map(\.certaintyRatio).reduce(0, +) / n,
            recognizabilityIndex: scores.map(\.recognizabilityIndex).reduce(0, +) / n,
            consistency: scores.map(\.consistency).reduce(0, +) / n, score: scores.map(\.score).reduce(0, +) / n)
    }

    enum CodingKeys: String, CodingKey {
        case certaintyRatio = "cr"
        case recognizabilityIndex = "ri"
        case consistency
        case score
    }
}

/// Computes `QualityScores` from the ResNet's analysis of a chip.
public struct QualityScorer: Sendable {
    public let model: QualityModel

    public init(model: QualityModel) { self.model = model }

    public func scores(_ a: DescriptorAnalysis) -> QualityScores {
        let cr = Double(predictCR(pooled: a.pooled))
        let centre = model.descriptorMean
        let ri = Double(
            QualityMeasures.recognizability(
                QualityMeasures.centred(a.descriptor, centre), unrecognisableCentre: model.unrecognisableCentre,
                prototypes: model.prototypes))
        let c = Double(
            QualityMeasures.consistency(
                a.regionDescriptors.map { QualityMeasures.centred($0, centre) }, prototypes: model.prototypes,
                temperature: model.header.temperature))
        let combined =
            (QualityMeasures.percentile(Float(cr), model.crQuantiles) + QualityMeasures.percentile(Float(ri), model.riQuantiles)
                + QualityMeasures.percentile(Float(c), model.consistencyQuantiles)) / 3
        return QualityScores(certaintyRatio: cr, recognizabilityIndex: ri, consistency: c, score: Double(combined))
    }

    public func predictCR(pooled: [Float]) -> Float {
        model.crHead.predict(QualityMeasures.standardize(pooled, mean: model.featureMean, scale: model.featureScale), batch: 1)[0]
    }
}

/// The measures themselves, as plain functions of descriptors.
public enum QualityMeasures {
    /// `v − mean`: descriptors as the quality measures compare them (see `QualityModel.descriptorMean`).
    public static func centred(_ v: [Float], _ mean: [Float]) -> [Float] { zip(v, mean).map { $0 - $1 } }

    public static func unit(_ v: [Float]) -> [Float] {
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return n > 0 ? v.map { $0 / n } : v
    }

    public static func cosine(_ a: [Float], _ b: [Float]) -> Float {
        var ab: Float = 0, aa: Float = 0, bb: Float = 0
        for i in a.indices { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i] }
        return aa > 0 && bb > 0 ? ab / (aa * bb).squareRoot() : 0
    }

    /// CR = cos(own class centre) / (cos(nearest other class centre) + 1 + ε) (CR-FIQA's certainty ratio; the
    /// +1 keeps the denominator positive).
    public static func certaintyRatio(_ e: [Float], own: [Float], others: [[Float]]) -> Float {
        let positive = cosine(e, own)
        let negative = others.map { cosine(e, $0) }.max() ?? 0
        return positive / (negative + 1 + 1e-3)
    }

    /// RI = (1 − cos(e, unrecognisable centre)) + (cos to the nearest prototype − cos to the second nearest).
    /// The first term grows as the face leaves the region where unrecognisable faces collapse; the second is the
    /// prototype margin, large when the face clearly belongs to one region of identity space.
    public static func recognizability(_ e: [Float], unrecognisableCentre: [Float], prototypes: [[Float]]) -> Float {
        let sims = prototypes.map { cosine(e, $0) }.sorted(by: >)
        let margin = sims.count >= 2 ? sims[0] - sims[1] : 0
        return (1 - cosine(e, unrecognisableCentre)) + margin
    }

    /// Softmax over `temperature`·cosine similarities to the prototypes.
    public static func decision(_ e: [Float], prototypes: [[Float]], temperature: Float) -> [Float] {
        let logits = prototypes.map { temperature * cosine(e, $0) }
        let m = logits.max() ?? 0
        let ex = logits.map { Foundation.exp($0 - m) }
        let s = ex.reduce(0, +)
        return ex.map { $0 / s }
    }

    /// 1 − (mean over region pairs of the symmetric KL divergence between their decisions) / log K, clamped to [0, 1].
    public static func consistency(_ regionDescriptors: [[Float]], prototypes: [[Float]], temperature: Float) -> Float {
        let p = regionDescriptors.map { decision($0, prototypes: prototypes, temperature: temperature) }
        guard p.count >= 2 else { return 1 }
        func kl(_ a: [Float], _ b: [Float]) -> Float {
            var s: Float = 0
            for i in a.indices where a[i] > 0 { s += a[i] * Foundation.log(a[i] / max(b[i], 1e-12)) }
            return s
        }
        var total: Float = 0, pairs: Float = 0
        for i in 0..<p.count { for j in (i + 1)..<p.count { total += (kl(p[i], p[j]) + kl(p[j], p[i])) / 2; pairs += 1 } }
        return max(0, min(1, 1 - total / pairs / Foundation.log(Float(prototypes.count))))
    }

    /// Fraction of the quantile table below `v` (linear between quantiles), in [0, 1].
    public static func percentile(_ v: Float, _ quantiles: [Float]) -> Float {
        guard let first = quantiles.first, let last = quantiles.last else { return 0.5 }
        if v <= first { return 0 }
        if v >= last { return 1 }
        var i = 0
        while i + 1 < quantiles.count && quantiles[i + 1] < v { i += 1 }
        let lo = quantiles[i], hi = quantiles[i + 1]
        let f = hi > lo ? (v - lo) / (hi - lo) : 0
        return (Float(i) + f) / Float(quantiles.count - 1)
    }

    /// `count` evenly spaced quantiles (0…1) of `values`.
    public static func quantiles(_ values: [Float], count: Int = 101) -> [Float] {
        let s = values.sorted()
        guard !s.isEmpty else { return [Float](repeating: 0, count: count) }
        return (0..<count).map { k in
            let pos = Double(k) / Double(count - 1) * Double(s.count - 1)
            let i = Int(pos), f = Float(pos - Double(i))
            return i + 1 < s.count ? s[i] * (1 - f) + s[i + 1] * f : s[i]
        }
    }

    public static func standardize(_ x: [Float], mean: [Float], scale: [Float]) -> [Float] {
        (0..<x.count).map { (x[$0] - mean[$0]) * scale[$0] }
    }

    /// Per-feature mean and inverse standard deviation of `rows` (1 where a feature is constant), for `standardize`.
    public static func standardization(of rows: [[Float]]) -> (mean: [Float], scale: [Float]) {
        let dim = rows.first?.count ?? 0, n = Float(max(1, rows.count))
        var mean = [Float](repeating: 0, count: dim), scale = [Float](repeating: 1, count: dim)
        for i in 0..<dim {
            let m = rows.reduce(0) { $0 + $1[i] } / n
            let sd = (rows.reduce(0) { $0 + ($1[i] - m) * ($1[i] - m) } / n).squareRoot()
            (mean[i], scale[i]) = (m, sd > 1e-6 ? 1 / sd : 1)
        }
        return (mean, scale)
    }

    /// k-means (k-means++ seeding from a fixed seed, cosine geometry on unit vectors); returns unit centroids.
    public static func kMeans(_ vectors: [[Float]], k: Int, iterations: Int = 25, seed: UInt64 = 7) -> [[Float]] {
        precondition(vectors.count >= k && k > 0, "kMeans: need at least k vectors")
        let data = vectors.map(unit)
        var rng = SplitMix(seed: seed)
        var centres = [data[Int(rng.next() % UInt64(data.count))]]
        while centres.count < k {
            let d = data.map { v in centres.map { 1 - cosine(v, $0) }.min()! }
            let total = d.reduce(0, +)
            var r = Float(Double(rng.next() % 1_000_000) / 1_000_000) * total
            var pick = data.count - 1
            for (i, di) in d.enumerated() { r -= di; if r <= 0 { pick = i; break } }
            centres.append(data[pick])
        }
        for _ in 0..<iterations {
            var sums = [[Float]](repeating: [Float](repeating: 0, count: data[0].count), count: k)
            var counts = [Int](repeating: 0, count: k)
            for v in data {
                let c = (0..<k).max { cosine(v, centres[$0]) < cosine(v, centres[$1]) }!
                counts[c] += 1
                for i in v.indices { sums[c][i] += v[i] }
            }
            for c in 0..<k where counts[c] > 0 { centres[c] = unit(sums[c]) }
        }
        return centres
    }
}
