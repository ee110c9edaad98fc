import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Perception
import Synchronization
import TensorCore

/// What a prefilter saves at the face's own JND: every face crop encoded at its crop JND QP as it is and after each
/// prefilter (the learned JND image, the bilateral-denoise baseline), the coded bytes and the descriptor distance to
/// the original's compared (docs/jnd-image.md). A placebo (±1 level dither) measures how often any change at all
/// re-rolls a face at its JND QP over τ.
public struct JNDImageStudy: Sendable {
    /// One face: its JND QP and, per prefilter, what the encode of the prefiltered crop at that QP gave.
    public struct Face: Sendable, Codable {
        public struct Filtered: Sendable, Codable {
            public var bytes: Int
            public var distance: Double
            /// Distance of the prefiltered crop itself, before encoding.
            public var prefilterDistance: Double
            /// Denoise strength (0 = none), for the baseline.
            public var strength: Int?
            /// At equal fidelity: the prefiltered crop's own JND QP (against the original descriptor) and its bytes
            /// there.
            public var ownJNDQP: Int
            public var ownJNDBytes: Int
            /// `RateProxy` of the prefiltered crop (the training's rate term), to set against its bytes.
            public var rateProxy: Double

            enum CodingKeys: String, CodingKey {
                case bytes, distance, strength
                case prefilterDistance = "prefilter_distance"
                case ownJNDQP = "own_jnd_qp"
                case ownJNDBytes = "own_jnd_bytes"
                case rateProxy = "rate_proxy"
            }
        }
        public var source: String
        public var face: Int
        public var faceWidth: Int
        public var jndQP: Int
        /// The original crop's bytes at its JND QP (the equal-fidelity reference).
        public var jndBytes: Int
        /// The original crop's bytes and distance at the QP the prefilters are compared at.
        public var bytes: Int
        public var distance: Double
        public var rateProxy: Double
        public var filtered: [String: Filtered]

        enum CodingKeys: String, CodingKey {
            case source, face, bytes, distance, filtered
            case rateProxy = "rate_proxy"
            case jndBytes = "jnd_bytes"
            case faceWidth = "face_width"
            case jndQP = "jnd_qp"
        }
    }

    /// One prefilter over all faces.
    public struct Row: Sendable, Codable, Equatable {
        public var prefilter: String
        public var faces: Int
        /// Median and mean of 1 − bytes(prefiltered) / bytes(original) at the face's JND QP.
        public var medianSaving: Double
        public var meanSaving: Double
        /// Share of faces whose prefiltered encode stays within τ of the original descriptor.
        public var withinTau: Double
        /// At equal fidelity (each crop at its own JND QP): median and mean of 1 − bytes(prefiltered) / bytes(original).
        public var medianSavingAtOwnJND: Double
        public var meanSavingAtOwnJND: Double
        /// The same share for the original crop's encode (the JND QP keeps it within τ by definition, up to noise).
        public var originalWithinTau: Double

        enum CodingKeys: String, CodingKey {
            case prefilter, faces
            case medianSaving = "median_saving"
            case meanSaving = "mean_saving"
            case withinTau = "within_tau"
            case medianSavingAtOwnJND = "median_saving_at_own_jnd"
            case meanSavingAtOwnJND = "mean_saving_at_own_jnd"
            case originalWithinTau = "original_within_tau"
        }
    }

    public struct Report: Sendable, Codable {
        public var codec: String
        public var tau: Double
        public var margin: Double
        public var qpOffset: Int
        public var rows: [Row]
        public var faces: [Face]

        enum CodingKeys: String, CodingKey {
            case codec, tau, margin, rows, faces
            case qpOffset = "qp_offset"
        }
    }

    public var oracle: JNDOracle
    /// The learned predictor whose JND image is measured (none: only the baseline).
    public var predictor: JNDModel?
    /// The denoise keeps the descriptor within `margin · τ` of the original's before encoding.
    public var margin: Double
    /// The faces are encoded this many QPs below their crop JND (0: at it; `encode` codes faces in video about
    /// ten below).
    public var qpOffset: Int
    public var upsample: Int
    public var threads: Int
    /// Also measure the crop with all its detail finer than k binomial passes removed ("detail-k", J =
    /// binomial5ᵏ(crop)), for each k here: what a detail mask of k passes could save if it were open everywhere.
    public var detailCeilings: [Int] = []

    public init(oracle: JNDOracle, predictor: JNDModel?, margin: Double = 0.5, qpOffset: Int = 0, upsample: Int = 1, threads: Int = 2) {
        self.oracle = oracle
        self.qpOffset = qpOffset
        self.predictor = predictor
        self.margin = margin
        self.upsample = upsample
        self.threads = max(1, threads)
    }

    /// Runs the study on the images (the caller picks them: LFW's held-out identities for the shipped table).
    public func run(images: [String], progress: @Sendable (Int, Int) -> Void = { _, _ in }, isCancelled: @Sendable () -> Bool = { false })
        throws -> Report
    {
        let found = Mutex<[Int: [Face]]>([:])
        let me = self
        try ParallelWork.forEach(count: images.count, threads: threads, progress: progress) { i, ws in
            if isCancelled() { throw CancellationError() }
            let image = try ImageFile.loadRGB(path: images[i])
            let faces = try me.measure(image, source: images[i], workspace: ws)
            found.withLock { $0[i] = faces }
        }
        let faces = found.withLock { f in images.indices.flatMap { f[$0] ?? [] } }
        return Report(
            codec: oracle.codec, tau: oracle.tau, margin: margin, qpOffset: qpOffset, rows: JNDImageStudy.rows(faces, tau: oracle.tau), faces: faces)
    }

    /// Every face of one picture.
    func measure(_ image: RGBImage, source: String, workspace: Workspace) throws -> [Face] {
        var out: [Face] = []
        for (k, face) in try oracle.analyzer.analyze(image, upsample: upsample, workspace: workspace).enumerated() {
            let s = try oracle.session(image, face: face)
            /// The JND QP of `picture` (nil: the original) against e0, and every encode the search made.
            func search(_ picture: RGBImage?) throws -> (jnd: Int, encoded: [Int: (bytes: Int, distance: Double)]) {
                var encoded: [Int: (bytes: Int, distance: Double)] = [:]
                func encode(_ q: Int) throws -> Double {
                    if let e = encoded[q] { return e.distance }
                    let r = try s.encodePicture(at: q, substitute: picture)
                    encoded[q] = (r.bytes, Double(descriptorDistance(s.e0, r.descriptor)))
                    return encoded[q]!.distance
                }
                let jnd = try JNDSearch.firstCrossing(range: oracle.qpRange, step: oracle.coarseStep, tau: oracle.tau, distance: encode)
                _ = try encode(max(jnd, oracle.qpRange.lowerBound))
                return (jnd, encoded)
            }
            /// The encode of `picture` at `q`, from `encoded` when the search already made it.
            func encode(_ picture: RGBImage?, at q: Int, from encoded: [Int: (bytes: Int, distance: Double)]) throws -> (bytes: Int, distance: Double)
            {
                if let e = encoded[q] { return e }
                let r = try s.encodePicture(at: q, substitute: picture)
                return (r.bytes, Double(descriptorDistance(s.e0, r.descriptor)))
            }
            let (jnd, encoded) = try search(nil)
            let q = max(jnd - qpOffset, oracle.qpRange.lowerBound)
            let original = try encode(nil, at: q, from: encoded)
            var filtered: [String: Face.Filtered] = [:]
            func measure(_ picture: RGBImage, strength: Int? = nil) throws -> Face.Filtered {
                let before = Double(descriptorDistance(s.e0, s.descriptor(of: picture)))
                let own = try search(picture)
                let atOriginalJND = try encode(picture, at: q, from: own.encoded)
                let ownQ = max(own.jnd, oracle.qpRange.lowerBound)
                return Face.Filtered(
                    bytes: atOriginalJND.bytes, distance: atOriginalJND.distance, prefilterDistance: before, strength: strength,
                    ownJNDQP: own.jnd, ownJNDBytes: own.encoded[ownQ]!.bytes, rateProxy: JNDImageStudy.rateProxy(picture))
            }
            let limit = margin * oracle.tau
            let strength = FaceDenoise.strongest { sigma in
                Double(descriptorDistance(s.e0, s.descriptor(of: FaceDenoise.filter(s.original, rangeSigma: sigma)))) <= limit
            }
            filtered["denoise"] = try measure(
                FaceDenoise.filter(s.original, rangeSigma: FaceDenoise.rangeSigma(strength: strength)), strength: strength)
            // The placebo: ±1 level on a random half of the samples, a change no codec or FR model should care
            // about. How often it tips the encode at the JND QP over τ is the criterion's own noise floor.
            var rng = SplitMix(seed: UInt64(k) &+ 2026)
            var dithered = s.original
            for i in dithered.pixels.indices {
                let r = rng.next()
                if r & 1 == 0 { dithered.pixels[i] = UInt8(clamping: Int(dithered.pixels[i]) + (r & 2 == 0 ? 1 : -1)) }
            }
            filtered["placebo"] = try measure(dithered)
            for k in detailCeilings {
                filtered["detail-\(k)"] = try measure(JNDInput.jndImage(crop: s.original, residual: JNDInput.detail(s.original, passes: k)))
            }
            if let predictor {
                let p = predictor.predict(crop: s.original, faceWidth: face.box.width)
                filtered["jnd"] = try measure(p.jndImage)
            }
            out.append(
                Face(
                    source: source, face: k, faceWidth: face.box.width, jndQP: jnd, jndBytes: encoded[max(jnd, oracle.qpRange.lowerBound)]!.bytes,
                    bytes: original.bytes, distance: original.distance, rateProxy: JNDImageStudy.rateProxy(s.original),
                    filtered: filtered))
        }
        return out
    }

    static func rateProxy(_ picture: RGBImage) -> Double {
        Double(RateProxy.evaluate(picture.pixels.map(Float.init), width: picture.width, height: picture.height).rate)
    }

    /// The summary rows, one per prefilter, in name order.
    public static func rows(_ faces: [Face], tau: Double) -> [Row] {
        let names = Set(faces.flatMap { $0.filtered.keys }).sorted()
        return names.map { name in
            let measured = faces.compactMap { f in f.filtered[name].map { (f, $0) } }
            let n = Double(max(1, measured.count))
            func median(_ v: [Double]) -> Double {
                let v = v.sorted()
                return v.isEmpty ? 0 : (v[(v.count - 1) / 2] + v[v.count / 2]) / 2
            }
            let savings = measured.map { 1 - Double($0.1.bytes) / Double(max(1, $0.0.bytes)) }
            let equal = measured.map { 1 - Double($0.1.ownJNDBytes) / Double(max(1, $0.0.jndBytes)) }
            return Row(
                prefilter: name, faces: measured.count, medianSaving: median(savings), meanSaving: savings.reduce(0, +) / n,
                withinTau: Double(measured.filter { $0.1.distance <= tau }.count) / n,
                medianSavingAtOwnJND: median(equal), meanSavingAtOwnJND: equal.reduce(0, +) / n,
                originalWithinTau: Double(measured.filter { $0.0.distance <= tau }.count) / n)
        }
    }
}
