import Foundation
import NeuralNet

/// Why a quality weights file was refused (the shared weights-file error, kind "quality model").
public typealias QualityModelError = WeightsFileError

/// Everything the face-quality scores need besides dlib's ResNet: the certainty-ratio head, the centre of
/// unrecognisable faces, the prototype set and the score distributions of the training data.
///
/// File layout (little-endian): "FJQM", UInt32 format version, UInt32 header length, the JSON header, then the
/// Float32 payload in the order of `payloadLayout`. The header names the architecture and carries the payload's
/// length and CRC-32, so a truncated, corrupted or foreign file is refused with a clear reason.
public struct QualityModel: Sendable, Equatable {
    public static let formatVersion: UInt32 = 1
    public static let architecture = "facejnd-quality-v1: CR head MLP(pooled ResNet features) + RI + sub-decision consistency"

    public struct Header: Codable, Sendable, Equatable {
        public var architecture: String
        /// Pooled ResNet feature size (the CR head's input) and descriptor size.
        public var inputs: Int
        public var hidden: Int
        public var embedding: Int
        public var prototypes: Int
        /// Softmax temperature of the sub-decisions (similarities are multiplied by it).
        public var temperature: Float
        /// Regions of the sub-decisions, in order.
        public var regions: [String]
        /// Number of quantiles stored per score.
        public var quantiles: Int
        /// What the model was trained on (free text: data, folds, sizes, seeds).
        public var training: [String: String]
        public var payloadFloats: Int
        public var payloadCRC32: UInt32

        enum CodingKeys: String, CodingKey {
            case architecture, inputs, hidden, embedding, prototypes, temperature, regions, quantiles, training
            case payloadFloats = "payload_floats"
            case payloadCRC32 = "payload_crc32"
        }

        public init(
            architecture: String, inputs: Int, hidden: Int, embedding: Int, prototypes: Int, temperature: Float,
            regions: [String], quantiles: Int, training: [String: String], payloadFloats: Int = 0, payloadCRC32: UInt32 = 0
        ) {
            self.architecture = architecture
            self.inputs = inputs
            self.hidden = hidden
            self.embedding = embedding
            self.prototypes = prototypes
            self.temperature = temperature
            self.regions = regions
            self.quantiles = quantiles
            self.training = training
            self.payloadFloats = payloadFloats
            self.payloadCRC32 = payloadCRC32
        }
    }

    public var header: Header
    public var featureMean: [Float]
    public var featureScale: [Float]
    /// Mean descriptor of the training faces. dlib's descriptors share a large common component, so cosine
    /// similarities are taken after subtracting it (otherwise every pair of faces is about 0.9 similar).
    public var descriptorMean: [Float]
    public var crHead: MLPRegressor
    public var unrecognisableCentre: [Float]
    /// Unit-length prototype descriptors.
    public var prototypes: [[Float]]
    /// Quantiles (ascending) of CR, RI and consistency on the training faces: the combined score's scale.
    public var crQuantiles: [Float]
    public var riQuantiles: [Float]
    public var consistencyQuantiles: [Float]

    public init(
        header: Header, featureMean: [Float], featureScale: [Float], descriptorMean: [Float], crHead: MLPRegressor, unrecognisableCentre: [Float],
        prototypes: [[Float]], crQuantiles: [Float], riQuantiles: [Float], consistencyQuantiles: [Float]
    ) {
        self.header = header
        self.featureMean = featureMean
        self.featureScale = featureScale
        self.descriptorMean = descriptorMean
        self.crHead = crHead
        self.unrecognisableCentre = unrecognisableCentre
        self.prototypes = prototypes
        self.crQuantiles = crQuantiles
        self.riQuantiles = riQuantiles
        self.consistencyQuantiles = consistencyQuantiles
        self.header.payloadFloats = payload.count
        self.header.payloadCRC32 = CRC32.checksum(WeightsFile.payloadBytes(payload))
    }

    var payload: [Float] {
        featureMean + featureScale + descriptorMean + crHead.hidden.weights + crHead.hidden.bias + crHead.output.weights + crHead.output.bias
            + unrecognisableCentre + prototypes.flatMap { $0 } + crQuantiles + riQuantiles + consistencyQuantiles
    }

    /// The file's bytes (`WeightsFile` with signature "FJQM").
    public func serialized() throws -> Data {
        try WeightsFile.serialize(signature: "FJQM", version: QualityModel.formatVersion, header: header, payload: payload)
    }

    /// Writes the file atomically.
    public func write(to path: String) throws {
        try serialized().write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public init(path: String) throws {
        let (header, floats) = try WeightsFile.read(
            path: path, signature: "FJQM", version: QualityModel.formatVersion,
            kind: "quality model", header: Header.self)
        try self.init(header: header, floats: floats, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        let (header, floats) = try WeightsFile.decode(
            data, signature: "FJQM", version: QualityModel.formatVersion, path: path,
            kind: "quality model", header: Header.self)
        try self.init(header: header, floats: floats, path: path)
    }

    /// Checks a decoded header against the payload and takes the model's arrays out of it.
    init(header: Header, floats: [Float], path: String) throws {
        func fail(_ reason: String) -> QualityModelError { QualityModelError(path: path, kind: "quality model", reason: reason) }
        guard header.architecture == QualityModel.architecture else {
            throw fail("architecture \"\(header.architecture)\" is not \"\(QualityModel.architecture)\"")
        }
        let (n, h, e, k, q) = (header.inputs, header.hidden, header.embedding, header.prototypes, header.quantiles)
        let expected = 2 * n + e + n * h + h + h + 1 + e + k * e + 3 * q
        guard n > 0, h > 0, e > 0, k > 1, q > 1, floats.count == expected else {
            throw fail("payload holds \(floats.count) values, the architecture needs \(expected)")
        }
        var at = 0
        func take(_ count: Int) -> [Float] { defer { at += count }; return Array(floats[at..<(at + count)]) }
        self.header = header
        featureMean = take(n)
        featureScale = take(n)
        descriptorMean = take(e)
        let w1 = take(n * h), b1 = take(h), w2 = take(h), b2 = take(1)
        crHead = MLPRegressor(
            hidden: DenseLayer(inputs: n, outputs: h, weights: w1, bias: b1), output: DenseLayer(inputs: h, outputs: 1, weights: w2, bias: b2))
        unrecognisableCentre = take(e)
        prototypes = (0..<k).map { _ in take(e) }
        crQuantiles = take(q)
        riQuantiles = take(q)
        consistencyQuantiles = take(q)
    }
}

extension QualityModel {
    /// The model shipped with facejnd (trained on LFW dev folds 1–4; docs/face-quality.md).
    public static func bundled() throws -> QualityModel {
        guard let url = Bundle.module.url(forResource: "face-quality-v1", withExtension: "fjqm", subdirectory: "Resources") else {
            throw QualityModelError(
                path: "face-quality-v1.fjqm", kind: "quality model",
                reason: "not found in the FaceAnalysis resource bundle (\(Bundle.module.bundlePath))")
        }
        return try QualityModel(path: url.path)
    }
}
