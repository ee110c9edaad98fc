import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import NeuralNet
import Synchronization
import TensorCore

/// One line of an LFW-style pairs file.
public struct ImagePair: Sendable, Equatable {
    public var first: String
    public var second: String
    public var sameIdentity: Bool

    public init(first: String, second: String, sameIdentity: Bool) {
        self.first = first
        self.second = second
        self.sameIdentity = sameIdentity
    }
}

public enum PairsFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case malformed(line: Int, text: String)

    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read pairs file \(p)"
        case .malformed(let n, let t): return "pairs file line \(n) is not 'name i j' or 'name1 i name2 j': \(t.prefix(80))"
        }
    }
}

/// Verification figures over a set of pairs (`facejnd verify`).
public struct VerificationReport: Sendable, Encodable {
    public var pairs: Int
    public var genuinePairs: Int
    public var impostorPairs: Int
    public var threshold: Double
    /// Accuracy at `threshold`; pairs with a face missing count as wrong.
    public var accuracy: Double
    /// Best accuracy over all thresholds, and that threshold.
    public var bestAccuracy: Double
    public var bestThreshold: Double
    /// True accept rate at false accept rate 1e-2 and 1e-3 (thresholds from the impostor distances).
    public var tarAtFAR1e2: Double
    public var tarAtFAR1e3: Double
    /// Images in which no face was found, and pairs that therefore count as wrong.
    public var imagesWithoutFace: Int
    public var pairsWithMissingFace: Int
    public var missingImages: [String]

    enum CodingKeys: String, CodingKey {
        case pairs, threshold, accuracy
        case genuinePairs = "genuine_pairs"
        case impostorPairs = "impostor_pairs"
        case bestAccuracy = "best_accuracy"
        case bestThreshold = "best_threshold"
        case tarAtFAR1e2 = "tar_at_far_1e-2"
        case tarAtFAR1e3 = "tar_at_far_1e-3"
        case imagesWithoutFace = "images_without_face"
        case pairsWithMissingFace = "pairs_with_missing_face"
        case missingImages = "images_without_face_list"
    }
}

/// Face verification over an LFW-style pairs file: one descriptor per image (the face nearest the centre),
/// Euclidean distance, "same person" below the threshold.
public struct Verification: Sendable {
    public var analyzer: FaceAnalyzer
    public var upsample: Int
    public var threshold: Double
    public var threads: Int

    public init(analyzer: FaceAnalyzer, upsample: Int = 1, threshold: Double = 0.6, threads: Int = 2) {
        self.analyzer = analyzer
        self.upsample = upsample
        self.threshold = threshold
        self.threads = max(1, threads)
    }

    /// Parses the standard format: a header line, then `name i j` (same person) or `name1 i name2 j` (different);
    /// image paths are `DIR/name/name_000i.jpg`.
    public static func parsePairs(path: String, imageDirectory: String) throws -> [ImagePair] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw PairsFileError.unreadable(path) }
        func image(_ name: String, _ i: String, line: Int, text: String) throws -> String {
            guard let n = Int(i), n > 0 else { throw PairsFileError.malformed(line: line, text: text) }
            return "\(imageDirectory)/\(name)/\(name)_\(String(format: "%04d", n)).jpg"
        }
        var pairs: [ImagePair] = []
        for (k, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init)
            if k == 0 || fields.isEmpty { continue }
            switch fields.count {
            case 3:
                pairs.append(
                    ImagePair(
                        first: try image(fields[0], fields[1], line: k + 1, text: String(line)),
                        second: try image(fields[0], fields[2], line: k + 1, text: String(line)), sameIdentity: true))
            case 4:
                pairs.append(
                    ImagePair(
                        first: try image(fields[0], fields[1], line: k + 1, text: String(line)),
                        second: try image(fields[2], fields[3], line: k + 1, text: String(line)), sameIdentity: false))
            default:
                throw PairsFileError.malformed(line: k + 1, text: String(line))
            }
        }
        return pairs
    }

    /// The descriptor of the face nearest the image centre, or nil when there is none.
    public func descriptor(path: String, workspace: Workspace) throws -> [Float]? {
        try analyzer.centralFace(try ImageFile.loadRGB(path: path), upsample: upsample, workspace: workspace)?.embedding
    }

    /// Computes descriptors for every image (in parallel) and the report.
    /// - Throws: the first error reading an image (a missing image file is an error, not a missing face).
    public func run(pairs: [ImagePair], progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> VerificationReport {
        let images = Array(Set(pairs.flatMap { [$0.first, $0.second] })).sorted()
        let results = Mutex<[String: [Float]?]>([:])
        let me = self
        try ParallelWork.forEach(count: images.count, threads: threads, progress: progress) { i, workspace in
            let d = try me.descriptor(path: images[i], workspace: workspace)
            results.withLock { $0[images[i]] = .some(d) }
        }
        return Verification.report(pairs: pairs, descriptors: results.withLock { $0 }, threshold: threshold)
    }

    /// The figures, from per-image descriptors (nil = no face).
    public static func report(pairs: [ImagePair], descriptors: [String: [Float]?], threshold: Double) -> VerificationReport {
        var genuine: [Double] = [], impostor: [Double] = []
        var missingPairs = 0, missingGenuine = 0, missingImpostor = 0
        for p in pairs {
            guard let a = descriptors[p.first] ?? nil, let b = descriptors[p.second] ?? nil else {
                missingPairs += 1
                if p.sameIdentity { missingGenuine += 1 } else { missingImpostor += 1 }
                continue
            }
            let d = Double(descriptorDistance(a, b))
            if p.sameIdentity { genuine.append(d) } else { impostor.append(d) }
        }
        let n = Double(pairs.count)
        func correct(at t: Double) -> Int {
            genuine.filter { $0 < t }.count + impostor.filter { $0 >= t }.count
        }
        let accuracy = n > 0 ? Double(correct(at: threshold)) / n : 0
        // Best threshold: try midpoints between consecutive sorted distances.
        let all = (genuine + impostor).sorted()
        var bestT = threshold, bestC = correct(at: threshold)
        var candidates = [0.0] + all.map { $0 + 1e-9 }
        if all.count > 1 { candidates += zip(all, all.dropFirst()).map { ($0 + $1) / 2 } }
        // Sweep efficiently: sorted genuine/impostor with two pointers.
        let g = genuine.sorted(), im = impostor.sorted()
        for t in candidates.sorted() {
            let acceptedGenuine = lowerBound(g, t), rejectedImpostor = im.count - lowerBound(im, t)
            if acceptedGenuine + rejectedImpostor > bestC { bestC = acceptedGenuine + rejectedImpostor; bestT = t }
        }
        // TAR at FAR x: the largest threshold accepting at most x of all impostor pairs (missing ones never accept).
        func tar(atFAR far: Double) -> Double {
            let totalImpostors = im.count + missingImpostor
            let allowed = Int((far * Double(totalImpostors)).rounded(.down))
            let t = allowed < im.count ? im[allowed] : Double.infinity
            let totalGenuine = g.count + missingGenuine
            return totalGenuine > 0 ? Double(lowerBound(g, t)) / Double(totalGenuine) : 0
        }
        let missingImages = descriptors.filter { $0.value == nil }.map(\.key).sorted()
        return VerificationReport(
            pairs: pairs.count, genuinePairs: g.count + missingGenuine, impostorPairs: im.count + missingImpostor,
            threshold: threshold, accuracy: accuracy, bestAccuracy: n > 0 ? Double(bestC) / n : 0, bestThreshold: bestT,
            tarAtFAR1e2: tar(atFAR: 1e-2), tarAtFAR1e3: tar(atFAR: 1e-3), imagesWithoutFace: missingImages.count,
            pairsWithMissingFace: missingPairs, missingImages: missingImages)
    }

    /// Number of elements of sorted `a` strictly below `t`.
    static func lowerBound(_ a: [Double], _ t: Double) -> Int {
        var lo = 0, hi = a.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if a[mid] < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
