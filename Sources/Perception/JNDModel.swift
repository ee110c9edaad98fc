import Foundation
import NeuralNet
import TensorCore

/// A trained FR-JND predictor: the network's parameters and everything needed to use them (input scaling, the QP
/// scale, the safety shift), for one codec and τ.
///
/// File: `WeightsFile` with signature "FJND"; the JSON header names the architecture, the network configuration, the
/// codec, τ, the preset and oracle mode the training JNDs were measured with, and a summary of the training data.
public struct JNDModel: Sendable {
    public static let signature = "FJND"
    public static let formatVersion: UInt32 = 1
    public static let architecture = "facejnd-jnd-decomposition-v1"

    public struct Header: Codable, Sendable, Equatable {
        public var architecture: String
        public var network: DecompositionNetwork.Config
        public var codec: String
        public var tau: Double
        public var preset: String
        /// JND QP = qpCentre + qpScale · (network output) − safetyShift.
        public var qpCentre: Float
        public var qpScale: Float
        public var safetyShift: Float
        /// The pinball-loss quantile the QP head was trained for.
        public var quantile: Float
        /// Standardisation of the QP head's scalar inputs (log2 face width, log2 sharpness).
        public var scalarMean: [Float]
        public var scalarScale: [Float]
        /// Residual-map pixels per network output unit.
        public var residualScale: Float
        /// What the decoder's output means (nil: `.map`, the v1 models).
        public var residualMode: ResidualMode?
        /// For `.detailMask`: the mask acts on the detail finer than this many binomial passes (nil: 1, the finest).
        public var detailPasses: Int?
        /// Free-text summary of the training run (dataset, split, sizes, epochs, seed, validation figures).
        public var training: [String: String]

        public init(
            network: DecompositionNetwork.Config, codec: String, tau: Double, preset: String, qpCentre: Float, qpScale: Float,
            safetyShift: Float, quantile: Float, scalarMean: [Float], scalarScale: [Float], residualScale: Float, training: [String: String]
        ) {
            architecture = JNDModel.architecture
            self.network = network
            self.codec = codec
            self.tau = tau
            self.preset = preset
            self.qpCentre = qpCentre
            self.qpScale = qpScale
            self.safetyShift = safetyShift
            self.quantile = quantile
            self.scalarMean = scalarMean
            self.scalarScale = scalarScale
            self.residualScale = residualScale
            self.training = training
        }

        enum CodingKeys: String, CodingKey {
            case architecture, network, codec, tau, preset, quantile, training
            case qpCentre = "qp_centre"
            case qpScale = "qp_scale"
            case safetyShift = "safety_shift"
            case scalarMean = "scalar_mean"
            case scalarScale = "scalar_scale"
            case residualScale = "residual_scale"
            case residualMode = "residual_mode"
            case detailPasses = "detail_passes"
        }
    }

    /// How the decoder's 3×size×size output becomes the residual map at the crop's size.
    public enum ResidualMode: String, Codable, Sendable {
        /// The residual itself, bilinearly upsampled and scaled by `residualScale` (levels).
        case map
        /// A mask m = σ(output), bilinearly upsampled, on the crop's own fine detail:
        /// residual = m ⊙ (crop − binomial5ᵏ(crop)), k = `detailPasses` (1 unless the header says otherwise).
        /// A 64×64 map upsampled to the crop can only subtract smooth changes, which cost the codec little; the mask
        /// decides where the detail that costs most may go.
        case detailMask = "detail-mask"
    }

    /// The residual map at the crop's size (interleaved RGB, levels) for the decoder's output `output`.
    /// `detail`, when given, is the crop's `detail(of:)` computed beforehand (training reuses it).
    public func residual(decoderOutput output: [Float], crop: RGBImage, detail: [Float]? = nil) -> [Float] {
        let size = header.network.inputSize
        switch header.residualMode ?? .map {
        case .map:
            return JNDInput.upsampleResidual(output, size: size, width: crop.width, height: crop.height, scale: header.residualScale)
        case .detailMask:
            let m = JNDInput.upsampleResidual(output.map { 1 / (1 + exp(-$0)) }, size: size, width: crop.width, height: crop.height, scale: 1)
            return zip(m, detail ?? self.detail(of: crop)).map { $0 * $1 }
        }
    }

    /// How many binomial passes a detail-mask model's detail is finer than (the header's, 1 when it names none).
    public var detailPassCount: Int { header.detailPasses ?? 1 }

    /// The detail a detail-mask model's mask acts on: `JNDInput.detail` with the model's pass count.
    public func detail(of crop: RGBImage) -> [Float] { JNDInput.detail(crop, passes: detailPassCount) }

    public var header: Header
    public let network: DecompositionNetwork
    public var parameters: [Float]

    public init(header: Header, parameters: [Float]) {
        self.header = header
        network = DecompositionNetwork(config: header.network)
        precondition(parameters.count == network.parameterCount, "JNDModel: parameter count does not match the network")
        self.parameters = parameters
    }

    public func serialized() throws -> Data {
        try WeightsFile.serialize(signature: JNDModel.signature, version: JNDModel.formatVersion, header: header, payload: parameters)
    }

    /// Writes the file atomically (temporary file + rename).
    public func write(to path: String) throws {
        try serialized().write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public init(path: String) throws {
        let (header, payload) = try WeightsFile.read(
            path: path, signature: JNDModel.signature, version: JNDModel.formatVersion,
            kind: "JND model", header: Header.self)
        try self.init(header: header, payload: payload, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws {
        let (header, payload) = try WeightsFile.decode(
            data, signature: JNDModel.signature, version: JNDModel.formatVersion, path: path,
            kind: "JND model", header: Header.self)
        try self.init(header: header, payload: payload, path: path)
    }

    /// Checks a decoded header against the payload and builds the network.
    init(header: Header, payload: [Float], path: String) throws {
        func fail(_ reason: String) -> WeightsFileError { WeightsFileError(path: path, kind: "JND model", reason: reason) }
        guard header.architecture == JNDModel.architecture else {
            throw fail("architecture \"\(header.architecture)\" is not \"\(JNDModel.architecture)\"")
        }
        let c = header.network
        guard c.channels.count >= 2, c.channels.allSatisfy({ $0 > 0 && $0 <= 1024 }), c.inputSize > 0, c.inputSize <= 1024,
            (3...5).contains(c.inputChannels),
            c.inputSize % (1 << c.channels.count) == 0, c.embedding > 0, c.scalars == 2, c.qpHidden > 0,
            header.scalarMean.count == 2, header.scalarScale.count == 2
        else {
            throw fail("network configuration \(c) is not one this facejnd can build")
        }
        let passes = JNDInput.detailPassRange
        if let k = header.detailPasses, !passes.contains(k) {
            throw fail("detail_passes \(k) is not between \(passes.lowerBound) and \(passes.upperBound)")
        }
        let net = DecompositionNetwork(config: c)
        guard payload.count == net.parameterCount else {
            throw fail("payload holds \(payload.count) values, the architecture needs \(net.parameterCount)")
        }
        self.header = header
        network = net
        parameters = payload
    }

    /// Refuses to predict for another codec or τ than the model was trained for.
    public func check(codec: String, tau: Double) throws(JNDModelMismatch) {
        guard codec == header.codec else { throw .codec(trained: header.codec, wanted: codec) }
        guard abs(tau - header.tau) < 1e-9 else { throw .tau(trained: header.tau, wanted: tau) }
    }

    /// One face's prediction.
    public struct Prediction: Sendable {
        /// The JND QP (rounded, safety shift applied, within −1…51).
        public var qp: Int
        /// The QP before rounding and before the safety shift.
        public var rawQP: Double
        /// The residual map at the crop's size, interleaved RGB, in pixel levels (signed).
        public var residual: [Float]
        /// The JND image: the crop minus the residual map.
        public var jndImage: RGBImage
    }

    /// The standardised scalar inputs for a face of `faceWidth` pixels whose crop has `sharpness`.
    public func scalars(faceWidth: Int, sharpness: Double) -> [Float] {
        let raw = JNDInput.rawScalars(faceWidth: faceWidth, sharpness: sharpness)
        return (0..<2).map { (raw[$0] - header.scalarMean[$0]) / header.scalarScale[$0] }
    }

    /// Predicts the JND QP of a face crop (the region the oracle encodes, `JNDOracle.cropRegion`) and, unless
    /// `maps` is false, the residual map and JND image at the crop's size.
    public func predict(crop: RGBImage, faceWidth: Int, sharpness: Double? = nil, maps: Bool = true) -> Prediction {
        let x = JNDInput.networkInput(crop, size: header.network.inputSize, channels: header.network.inputChannels)
        let s = scalars(faceWidth: faceWidth, sharpness: sharpness ?? JNDInput.sharpness(crop))
        let act = parameters.withUnsafeBufferPointer { network.forward(x, scalars: s, parameters: $0.baseAddress!, decoder: maps) }
        let raw = Double(header.qpCentre + header.qpScale * act.qp)
        // −1 is the oracle's "even QP 0 is noticeable".
        let qp = max(-1, min(51, Int((raw - Double(header.safetyShift)).rounded())))
        guard maps else { return Prediction(qp: qp, rawQP: raw, residual: [], jndImage: crop) }
        let residual = residual(decoderOutput: act.residual, crop: crop)
        return Prediction(qp: qp, rawQP: raw, residual: residual, jndImage: JNDInput.jndImage(crop: crop, residual: residual))
    }
}

/// How a face crop becomes network input and how the network's residual map returns to the crop.
public enum JNDInput {
    /// log2 face width and log2 (1 + sharpness): the QP head's side inputs before standardisation.
    public static func rawScalars(faceWidth: Int, sharpness: Double) -> [Float] {
        [Float(log2(Double(max(1, faceWidth)))), Float(log2(1 + max(0, sharpness)))]
    }

    /// The network input: the crop's RGB area-resized to `size`×`size` (planar, scaled to [−0.5, 0.5]), then up to
    /// two detail planes: log(1 + |Laplacian|) of the grey picture at the crop's own resolution and at half of it,
    /// area-resized the same way. Resizing to the network's size throws away the fine texture that decides how a
    /// face survives quantisation; the detail planes keep a measure of it.
    public static func networkInput(_ img: RGBImage, size: Int, channels: Int = 5) -> [Float] {
        let n = img.width * img.height
        var out = (0..<3).flatMap { c in
            areaResize((0..<n).map { Float(img.pixels[3 * $0 + c]) / 255 - 0.5 }, width: img.width, height: img.height, to: size)
        }
        guard channels > 3 else { return out }
        var grey = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let r = Float(img.pixels[3 * i]), g = Float(img.pixels[3 * i + 1]), b = Float(img.pixels[3 * i + 2])
            grey[i] = (r + g + b) / 3
        }
        var w = img.width, h = img.height
        for _ in 3..<channels {
            out += areaResize(detail(grey, width: w, height: h), width: w, height: h, to: size)
            // Next band: the grey picture at half the resolution (2×2 means).
            let hw = max(1, w / 2), hh = max(1, h / 2)
            grey = areaResize2(grey, width: w, height: h, toWidth: hw, toHeight: hh)
            w = hw; h = hh
        }
        return out
    }

    /// log(1 + |4-neighbour Laplacian|) / 4 per pixel (0 on the border).
    static func detail(_ g: [Float], width w: Int, height h: Int) -> [Float] {
        var d = [Float](repeating: 0, count: w * h)
        guard w > 2, h > 2 else { return d }
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let l = g[(y - 1) * w + x] + g[(y + 1) * w + x] + g[y * w + x - 1] + g[y * w + x + 1] - 4 * g[y * w + x]
                d[y * w + x] = log(1 + abs(l)) / 4
            }
        }
        return d
    }

    static func areaResize2(_ plane: [Float], width w: Int, height h: Int, toWidth ow: Int, toHeight oh: Int) -> [Float] {
        var out = [Float](repeating: 0, count: ow * oh)
        for y in 0..<oh {
            for x in 0..<ow {
                var s: Float = 0, k: Float = 0
                for dy in 0..<2 {
                    for dx in 0..<2 {
                        let sy = min(h - 1, 2 * y + dy), sx = min(w - 1, 2 * x + dx)
                        s += plane[sy * w + sx]; k += 1
                    }
                }
                out[y * ow + x] = s / k
            }
        }
        return out
    }

    /// Area-averaged resize of one plane (each output pixel averages the input area it covers, with fractional
    /// weights at the edges): no aliasing when shrinking a crop several times.
    public static func areaResize(_ plane: [Float], width w: Int, height h: Int, to size: Int) -> [Float] {
        let wx = weights(from: w, to: size), wy = weights(from: h, to: size)
        // Rows first: size × h intermediate.
        var tmp = [Float](repeating: 0, count: size * h)
        for y in 0..<h {
            for (o, taps) in wx.enumerated() {
                var s: Float = 0
                for (i, wgt) in taps { s += plane[y * w + i] * wgt }
                tmp[y * size + o] = s
            }
        }
        var out = [Float](repeating: 0, count: size * size)
        for (o, taps) in wy.enumerated() {
            for x in 0..<size {
                var s: Float = 0
                for (i, wgt) in taps { s += tmp[i * size + x] * wgt }
                out[o * size + x] = s
            }
        }
        return out
    }

    /// For each output sample, the input samples it covers and their normalised weights.
    static func weights(from n: Int, to m: Int) -> [[(Int, Float)]] {
        let step = Double(n) / Double(m)
        return (0..<m).map { o in
            let a = Double(o) * step, b = Double(o + 1) * step
            var taps: [(Int, Float)] = []
            var i = Int(a.rounded(.down))
            while Double(i) < b && i < n {
                let cover = min(b, Double(i + 1)) - max(a, Double(i))
                if cover > 1e-9 { taps.append((i, Float(cover / step))) }
                i += 1
            }
            return taps
        }
    }

    /// Where target index `t` of `count` samples the `size`-long source, pixel centres aligned: the two source
    /// indices and the weight of the second. `upsampleResidual` and its adjoint both use it, so they stay adjoint.
    static func bilinearSource(_ t: Int, of count: Int, size: Int) -> (Int, Int, Float) {
        let s = max(0, min(Double(size - 1), (Double(t) + 0.5) * Double(size) / Double(count) - 0.5))
        let lo = Int(s)
        return (lo, min(size - 1, lo + 1), Float(s - Double(lo)))
    }

    /// Bilinear upsampling of a planar 3×S×S map to an interleaved width×height map, times `scale`.
    public static func upsampleResidual(_ map: [Float], size: Int, width: Int, height: Int, scale: Float) -> [Float] {
        var out = [Float](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let (y0, y1, fy) = bilinearSource(y, of: height, size: size)
            for x in 0..<width {
                let (x0, x1, fx) = bilinearSource(x, of: width, size: size)
                for c in 0..<3 {
                    let p = c * size * size
                    let top = map[p + y0 * size + x0] * (1 - fx) + map[p + y0 * size + x1] * fx
                    let bottom = map[p + y1 * size + x0] * (1 - fx) + map[p + y1 * size + x1] * fx
                    out[(y * width + x) * 3 + c] = (top * (1 - fy) + bottom * fy) * scale
                }
            }
        }
        return out
    }

    /// Variance of the 4-neighbour Laplacian of the grey image (channel mean): the crop's sharpness.
    public static func sharpness(_ img: RGBImage) -> Double {
        let w = img.width, h = img.height
        guard w > 2, h > 2 else { return 0 }
        var g = [Double](repeating: 0, count: w * h)
        for i in 0..<(w * h) { g[i] = (Double(img.pixels[3 * i]) + Double(img.pixels[3 * i + 1]) + Double(img.pixels[3 * i + 2])) / 3 }
        var sum = 0.0, sq = 0.0, n = 0.0
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let l = g[(y - 1) * w + x] + g[(y + 1) * w + x] + g[y * w + x - 1] + g[y * w + x + 1] - 4 * g[y * w + x]
                sum += l; sq += l * l; n += 1
            }
        }
        return sq / n - (sum / n) * (sum / n)
    }
}

extension JNDModel {
    /// The resource name of the weights shipped for `codec`.
    public static func bundledName(codec: String) -> String { "jnd-\(codec)-v1" }

    /// The shipped model when there is one for `codec` trained at `tau`, else nil.
    public static func shipped(codec: String, tau: Double) -> JNDModel? {
        guard let model = try? bundled(codec: codec), (try? model.check(codec: codec, tau: tau)) != nil else { return nil }
        return model
    }

    /// The model shipped with facejnd for `codec` (docs/jnd-predictor.md says how it was trained).
    public static func bundled(codec: String) throws -> JNDModel {
        guard let url = Bundle.module.url(forResource: bundledName(codec: codec), withExtension: "fjnd", subdirectory: "Resources") else {
            throw WeightsFileError(
                path: "\(bundledName(codec: codec)).fjnd", kind: "JND model",
                reason: "no predictor is shipped for \(codec); train one with facejnd jnd train and pass it with --jnd-model, or use --jnd oracle")
        }
        return try JNDModel(path: url.path)
    }
}

/// A sound JND model asked for a codec or τ it was not trained for (a usage error, not a damaged file).
public enum JNDModelMismatch: Error, CustomStringConvertible, Equatable, Sendable {
    case codec(trained: String, wanted: String)
    case tau(trained: Double, wanted: Double)

    public var description: String {
        switch self {
        case .codec(let trained, let wanted): return "the JND model was trained for \(trained), not \(wanted)"
        case .tau(let trained, let wanted): return "the JND model was trained for τ \(trained), not \(wanted)"
        }
    }
}
