import Foundation
import NeuralNet

/// A head on top of the JND predictor: from a face's predicted crop JND and its width, the JND its track segment has
/// in inter-coded video (docs/video-jnd.md, "The video JND dataset and the segment head").
///
/// The predictor is trained on still crops, each encoded alone; in a video the same face sits in a QP-40 background,
/// is predicted from earlier pictures and must stay within τ in every frame of its segment. Measured with the in-video
/// oracle (`jnd measure --segments`), that shifts the JND by an amount that depends on the face's size and on where
/// the predictor's own error lies. The head is linear: in-video QP = w₀ + w₁·(crop QP) + w₂·log2(face width) −
/// `shift`, fitted by least squares on the oracle's segments; `shift` is the residual quantile the planner starts
/// from (its carried correction and repairs take it from there).
///
/// File: `WeightsFile` with signature "FJVH"; the payload is (w₀, w₁, w₂).
public struct SegmentJNDHead: Sendable, Equatable {
    public static let signature = "FJVH"
    public static let formatVersion: UInt32 = 1
    public static let architecture = "facejnd-segment-jnd-linear-v1"

    public struct Header: Codable, Sendable, Equatable {
        public var architecture: String
        public var codec: String
        public var tau: Double
        /// The crop predictor whose outputs the head was fitted on (`JNDModel`'s file name).
        public var predictor: String
        /// Subtracted from the least-squares fit: the training residuals' `quantile`.
        public var shift: Double
        public var quantile: Double
        /// Free-text summary of the training data and the fit's figures.
        public var training: [String: String]
        /// The head's name in reports (the shipped file's name, e.g. "segment-jnd-libx264-v1").
        public var version: String

        public init(
            codec: String, tau: Double, predictor: String, shift: Double, quantile: Double, training: [String: String], version: String = "custom"
        ) {
            architecture = SegmentJNDHead.architecture
            self.version = version
            self.codec = codec
            self.tau = tau
            self.predictor = predictor
            self.shift = shift
            self.quantile = quantile
            self.training = training
        }
    }

    public var header: Header
    /// (w₀, w₁, w₂): intercept, crop-QP slope, log2-width slope.
    public var weights: [Double]

    public init(header: Header, weights: [Double]) {
        precondition(weights.count == 3, "SegmentJNDHead: three weights")
        self.header = header
        self.weights = weights
    }

    /// The in-video segment JND for a face whose crop JND (from the predictor) is `cropQP` and whose box is
    /// `faceWidth` pixels wide, rounded down (the careful side) and kept in 0...51.
    public func inVideoQP(cropQP: Int, faceWidth: Double) -> Int {
        let v = weights[0] + weights[1] * Double(cropQP) + weights[2] * log2(max(1, faceWidth)) - header.shift
        return min(51, max(0, Int(v.rounded(.down))))
    }

    /// One training example: a segment's in-video JND and its features.
    public struct Sample: Sendable, Equatable {
        public var cropQP: Int
        public var faceWidth: Double
        public var inVideoQP: Int

        public init(cropQP: Int, faceWidth: Double, inVideoQP: Int) {
            self.cropQP = cropQP
            self.faceWidth = faceWidth
            self.inVideoQP = inVideoQP
        }
    }

    /// Least squares on `samples` (normal equations, 3×3), then the residuals' `quantile` as the shift: the head
    /// predicts at or under the in-video JND for about 1 − `quantile` of the training segments. Deterministic.
    public static func fit(
        _ samples: [Sample], quantile: Double, codec: String, tau: Double, predictor: String, training: [String: String] = [:]
    ) throws -> SegmentJNDHead {
        guard samples.count >= 3 else { throw SegmentJNDHeadFitError.tooFewSamples(samples.count) }
        let rows = samples.map { [1, Double($0.cropQP), log2(max(1, $0.faceWidth))] }
        var a = [[Double]](repeating: [Double](repeating: 0, count: 3), count: 3), b = [Double](repeating: 0, count: 3)
        for (x, s) in zip(rows, samples) {
            for i in 0..<3 {
                b[i] += x[i] * Double(s.inVideoQP)
                for j in 0..<3 { a[i][j] += x[i] * x[j] }
            }
        }
        guard let w = solve3(a, b) else { throw SegmentJNDHeadFitError.degenerate }
        let residuals = zip(rows, samples).map { x, s in Double(s.inVideoQP) - (w[0] * x[0] + w[1] * x[1] + w[2] * x[2]) }.sorted()
        // The residual under which `quantile` of them fall (nearest rank): subtracting its negative keeps the head
        // at or under that share's in-video JNDs.
        let rank = min(residuals.count - 1, max(0, Int((quantile * Double(residuals.count)).rounded(.down))))
        let header = Header(codec: codec, tau: tau, predictor: predictor, shift: -residuals[rank], quantile: quantile, training: training)
        return SegmentJNDHead(header: header, weights: w)
    }

    /// Gaussian elimination with partial pivoting; nil when the system is singular.
    static func solve3(_ a: [[Double]], _ b: [Double]) -> [Double]? {
        var m = zip(a, b).map { $0 + [$1] }
        for c in 0..<3 {
            guard let p = (c..<3).max(by: { abs(m[$0][c]) < abs(m[$1][c]) }), abs(m[p][c]) > 1e-9 else { return nil }
            m.swapAt(c, p)
            for r in 0..<3 where r != c {
                let f = m[r][c] / m[c][c]
                for k in c..<4 { m[r][k] -= f * m[c][k] }
            }
        }
        return (0..<3).map { m[$0][3] / m[$0][$0] }
    }

    public func serialized() throws -> Data {
        try WeightsFile.serialize(
            signature: SegmentJNDHead.signature, version: SegmentJNDHead.formatVersion, header: header, payload: weights.map(Float.init))
    }

    /// Writes the file atomically (temporary file + rename).
    public func write(to path: String) throws {
        try serialized().write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public init(path: String) throws {
        let (header, payload) = try WeightsFile.read(
            path: path, signature: SegmentJNDHead.signature, version: SegmentJNDHead.formatVersion, kind: "segment JND head",
            header: Header.self)
        try self.init(header: header, payload: payload, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        let (header, payload) = try WeightsFile.decode(
            data, signature: SegmentJNDHead.signature, version: SegmentJNDHead.formatVersion, path: path, kind: "segment JND head",
            header: Header.self)
        try self.init(header: header, payload: payload, path: path)
    }

    init(header: Header, payload: [Float], path: String) throws {
        func fail(_ reason: String) -> WeightsFileError { WeightsFileError(path: path, kind: "segment JND head", reason: reason) }
        guard header.architecture == SegmentJNDHead.architecture else {
            throw fail("architecture \"\(header.architecture)\" is not \"\(SegmentJNDHead.architecture)\"")
        }
        guard payload.count == 3, payload.allSatisfy(\.isFinite), header.shift.isFinite else {
            throw fail("expected three finite weights, found \(payload.count)")
        }
        self.init(header: header, weights: payload.map(Double.init))
    }

    /// Refuses a head fitted for another codec or τ.
    public func check(codec: String, tau: Double) throws(JNDModelMismatch) {
        guard codec == header.codec else { throw .codec(trained: header.codec, wanted: codec) }
        guard abs(tau - header.tau) < 1e-9 else { throw .tau(trained: header.tau, wanted: tau) }
    }
}

public enum SegmentJNDHeadFitError: Error, CustomStringConvertible, Equatable {
    case tooFewSamples(Int)
    case degenerate

    public var description: String {
        switch self {
        case .tooFewSamples(let n): return "fitting the segment JND head needs at least 3 segments, found \(n)"
        case .degenerate: return "the segments' features do not vary enough to fit the segment JND head"
        }
    }
}
