import Foundation
import NeuralNet
import TensorCore

/// The FR-JND predictor network (issue 5, after the seed paper's design).
///
/// ```
/// face crop (5×S×S) ─ stage 0: conv s2 → conv → decomposition ─┬─ identity ─ stage 1 … ─ stage K−1 ─ identity ─┬─ GAP ─ dense → embedding ≈ ResNet descriptor
///                                                               └─ residual ─────────┐                          │
///                                                residual features of every stage ─ U-Net decoder ─ residual map (3×S×S)
///        GAP(residual of every stage) ⊕ GAP(last identity) ⊕ (log face width, log sharpness) ─ MLP ─ JND QP
/// ```
/// Each stage extracts features from the previous stage's identity features and splits them with an attention mask
/// (`DecompositionShape`) into identity and residual parts; training pulls the identity branch onto the face
/// recogniser's embedding (cosine distillation), keeps the pooled identity and residual features uncorrelated
/// (cross-correlation loss), and makes the decoder reproduce the oracle's residual map from the residual features
/// only. The JND image is the crop minus the residual map.
public struct DecompositionNetwork: Sendable, Equatable {
    public struct Config: Sendable, Equatable, Codable {
        /// Side of the square network input (the face crop is resized to it).
        public var inputSize: Int
        /// Input planes: RGB, plus `inputChannels − 3` detail-energy planes measured at the crop's own resolution
        /// (`JNDInput.networkInput`).
        public var inputChannels: Int
        /// Feature channels of each stage (each stage halves the resolution).
        public var channels: [Int]
        /// Size of the distilled embedding (dlib's descriptor: 128).
        public var embedding: Int
        /// Scalar side inputs of the QP head.
        public var scalars: Int
        public var qpHidden: Int

        public init(
            inputSize: Int = 64, inputChannels: Int = 5, channels: [Int] = [16, 32, 64], embedding: Int = 128, scalars: Int = 2,
            qpHidden: Int = 32
        ) {
            self.inputSize = inputSize
            self.inputChannels = inputChannels
            self.channels = channels
            self.embedding = embedding
            self.scalars = scalars
            self.qpHidden = qpHidden
        }

        enum CodingKeys: String, CodingKey {
            case channels, embedding, scalars
            case inputSize = "input_size"
            case inputChannels = "input_channels"
            case qpHidden = "qp_hidden"
        }
    }

    public let config: Config
    // Layer shapes and their parameter offsets in the flat vector.
    let stageConvA: [ConvShape], stageConvB: [ConvShape], decomposition: [DecompositionShape]
    let decoderConv: [ConvShape], outputConv: ConvShape
    let offA: [Int], offB: [Int], offD: [Int], offDec: [Int], offOut: Int, offEmbed: Int, offQP1: Int, offQP2: Int
    public let parameterCount: Int

    public init(config: Config) {
        precondition(
            config.channels.count >= 2 && config.inputSize % (1 << config.channels.count) == 0,
            "DecompositionNetwork: input size must be divisible by 2^stages, at least 2 stages")
        self.config = config
        let c = config.channels, k = c.count
        var at = 0
        func take(_ n: Int) -> Int { defer { at += n }; return at }
        var a: [ConvShape] = [], b: [ConvShape] = [], d: [DecompositionShape] = []
        var oa: [Int] = [], ob: [Int] = [], od: [Int] = []
        for s in 0..<k {
            a.append(ConvShape(inputs: s == 0 ? config.inputChannels : c[s - 1], outputs: c[s], stride: 2))
            b.append(ConvShape(inputs: c[s], outputs: c[s]))
            d.append(DecompositionShape(channels: c[s]))
            oa.append(take(a[s].parameterCount))
            ob.append(take(b[s].parameterCount))
            od.append(take(d[s].parameterCount))
        }
        // Decoder conv s runs at stage s's resolution: the last takes the last residual features, the others the
        // upsampled decoder features concatenated with that stage's residual features.
        var dec = [ConvShape](repeating: ConvShape(inputs: 1, outputs: 1), count: k), odec = [Int](repeating: 0, count: k)
        for s in stride(from: k - 1, through: 0, by: -1) {
            let inputs = s == k - 1 ? c[s] : 2 * c[s]
            dec[s] = ConvShape(inputs: inputs, outputs: s == 0 ? c[0] : c[s - 1])
            odec[s] = take(dec[s].parameterCount)
        }
        stageConvA = a; stageConvB = b; decomposition = d; decoderConv = dec
        offA = oa; offB = ob; offD = od; offDec = odec
        outputConv = ConvShape(inputs: c[0], outputs: 3)
        offOut = take(outputConv.parameterCount)
        offEmbed = take(c[k - 1] * config.embedding + config.embedding)
        offQP1 = take(DecompositionNetwork.qpInputs(config) * config.qpHidden + config.qpHidden)
        offQP2 = take(config.qpHidden + 1)
        parameterCount = at
    }

    /// Every layer's name and its range in the flat parameter vector, in order (gradient checks report per layer).
    public var parameterLayout: [(name: String, range: Range<Int>)] {
        var layers: [(String, Range<Int>)] = []
        for s in stageConvA.indices {
            layers.append(("stage \(s) conv A", offA[s]..<(offA[s] + stageConvA[s].parameterCount)))
            layers.append(("stage \(s) conv B", offB[s]..<(offB[s] + stageConvB[s].parameterCount)))
            layers.append(("stage \(s) decomposition", offD[s]..<(offD[s] + decomposition[s].parameterCount)))
        }
        for s in decoderConv.indices.reversed() {
            layers.append(("decoder conv \(s)", offDec[s]..<(offDec[s] + decoderConv[s].parameterCount)))
        }
        layers.append(("output conv", offOut..<offEmbed))
        layers.append(("identity head", offEmbed..<offQP1))
        layers.append(("QP head hidden", offQP1..<offQP2))
        layers.append(("QP head output", offQP2..<parameterCount))
        return layers
    }

    static func qpInputs(_ c: Config) -> Int { c.channels.reduce(0, +) + c.channels.last! + c.scalars }

    /// He-initialised parameters (biases zero) from a seeded generator.
    public func initialParameters<G: RandomNumberGenerator>(using rng: inout G) -> [Float] {
        var p = [Float](repeating: 0, count: parameterCount)
        func fill(_ offset: Int, count: Int, fanIn: Int, gain: Float = 2) {
            let s = (gain / Float(fanIn)).squareRoot()
            for i in 0..<count { p[offset + i] = DenseLayer.gaussian(&rng) * s }
        }
        let c = config.channels
        for s in c.indices {
            fill(offA[s], count: stageConvA[s].weightCount, fanIn: stageConvA[s].inputs * 9)
            fill(offB[s], count: stageConvB[s].weightCount, fanIn: stageConvB[s].inputs * 9)
            fill(offD[s], count: c[s] * c[s], fanIn: c[s], gain: 0.1)  // masks start near ½ everywhere
            fill(offD[s] + c[s] * c[s] + c[s], count: c[s], fanIn: c[s], gain: 0.1)
            fill(offDec[s], count: decoderConv[s].weightCount, fanIn: decoderConv[s].inputs * 9)
        }
        fill(offOut, count: outputConv.weightCount, fanIn: outputConv.inputs * 9, gain: 0.1)
        fill(offEmbed, count: c.last! * config.embedding, fanIn: c.last!, gain: 1)
        fill(offQP1, count: DecompositionNetwork.qpInputs(config) * config.qpHidden, fanIn: DecompositionNetwork.qpInputs(config))
        fill(offQP2, count: config.qpHidden, fanIn: config.qpHidden, gain: 1)
        return p
    }

    /// Everything the forward pass computed for one sample (kept for the backward pass).
    public struct Activations: Sendable {
        public var embedding: [Float]
        /// The residual map in network units (3×S×S).
        public var residual: [Float]
        public var qp: Float
        /// Per stage: channel means of the identity and residual features.
        public var pooledIdentity: [[Float]]
        public var pooledResidual: [[Float]]
        // Internals.
        var stageInput: [[Float]] = [], colsA: [[Float]] = [], outA: [[Float]] = [], colsB: [[Float]] = [], features: [[Float]] = []
        var split: [DecompositionShape.Output] = []
        var decInput: [[Float]] = [], decCols: [[Float]] = [], decOut: [[Float]] = [], outCols: [Float] = []
        var qpInput: [Float] = [], qpHidden: [Float] = []
        var size: [Int] = []
    }

    /// One sample: `x` is inputChannels×S×S, `scalars` the QP head's side inputs. Without `decoder` the residual
    /// map is not computed (the JND QP and the embedding do not depend on it; about half the work).
    public func forward(_ x: [Float], scalars: [Float], parameters: UnsafePointer<Float>, decoder: Bool = true) -> Activations {
        let c = config.channels, k = c.count
        var act = Activations(embedding: [], residual: [], qp: 0, pooledIdentity: [], pooledResidual: [])
        var input = x, side = config.inputSize
        for s in 0..<k {
            act.stageInput.append(input)
            var (a, colsA) = ConvTraining.forward(stageConvA[s], parameters: parameters + offA[s], x: input, height: side, width: side)
            ReLU.apply(&a)
            side /= 2
            act.size.append(side)
            var (f, colsB) = ConvTraining.forward(stageConvB[s], parameters: parameters + offB[s], x: a, height: side, width: side)
            ReLU.apply(&f)
            let split = decomposition[s].forward(f, parameters: parameters + offD[s])
            act.colsA.append(colsA); act.outA.append(a); act.colsB.append(colsB); act.features.append(f); act.split.append(split)
            act.pooledIdentity.append(TrainingOps.globalAveragePool(split.identity, channels: c[s]))
            act.pooledResidual.append(TrainingOps.globalAveragePool(split.residual, channels: c[s]))
            input = split.identity
        }
        if decoder { runDecoder(&act, parameters: parameters) }
        act.embedding = TrainingOps.dense(act.pooledIdentity[k - 1], outputs: config.embedding, parameters: parameters + offEmbed)
        act.qpInput = act.pooledResidual.flatMap { $0 } + act.pooledIdentity[k - 1] + scalars
        var h = TrainingOps.dense(act.qpInput, outputs: config.qpHidden, parameters: parameters + offQP1)
        ReLU.apply(&h)
        act.qpHidden = h
        act.qp = TrainingOps.dense(h, outputs: 1, parameters: parameters + offQP2)[0]
        return act
    }

    /// The U-Net decoder from every stage's residual features to the residual map.
    func runDecoder(_ act: inout Activations, parameters: UnsafePointer<Float>) {
        let k = config.channels.count
        act.decInput = [[Float]](repeating: [], count: k)
        act.decCols = [[Float]](repeating: [], count: k)
        act.decOut = [[Float]](repeating: [], count: k)
        var up: [Float] = []
        for s in stride(from: k - 1, through: 0, by: -1) {
            let side = act.size[s]
            let din = s == k - 1 ? act.split[s].residual : up + act.split[s].residual
            var (o, cols) = ConvTraining.forward(decoderConv[s], parameters: parameters + offDec[s], x: din, height: side, width: side)
            ReLU.apply(&o)
            act.decInput[s] = din; act.decCols[s] = cols; act.decOut[s] = o
            up = TrainingOps.upsample2(o, channels: decoderConv[s].outputs, height: side, width: side)
        }
        let (r, outCols) = ConvTraining.forward(outputConv, parameters: parameters + offOut, x: up, height: config.inputSize, width: config.inputSize)
        act.residual = r
        act.outCols = outCols
    }

    /// Adds the gradients of one sample's loss to `gradients`, given the loss's gradients with respect to the outputs
    /// (`dPooledIdentity`/`dPooledResidual` per stage, from the batch decorrelation loss; empty arrays for none).
    public func backward(
        _ act: Activations, dEmbedding: [Float], dResidual: [Float], dQP: Float,
        dPooledIdentity: [[Float]], dPooledResidual: [[Float]],
        parameters: UnsafePointer<Float>, gradients: UnsafeMutablePointer<Float>
    ) {
        let c = config.channels, k = c.count
        var dPooledId = (0..<k).map { s in
            dPooledIdentity.count > s && !dPooledIdentity[s].isEmpty ? dPooledIdentity[s] : [Float](repeating: 0, count: c[s])
        }
        var dPooledRes = (0..<k).map { s in
            dPooledResidual.count > s && !dPooledResidual[s].isEmpty ? dPooledResidual[s] : [Float](repeating: 0, count: c[s])
        }
        // Heads.
        var dh = TrainingOps.denseBackward(act.qpHidden, [dQP], parameters: parameters + offQP2, gradients: gradients + offQP2)
        ReLU.backward(output: act.qpHidden, &dh)
        let dq = TrainingOps.denseBackward(act.qpInput, dh, parameters: parameters + offQP1, gradients: gradients + offQP1)
        var at = 0
        for s in 0..<k { for i in 0..<c[s] { dPooledRes[s][i] += dq[at + i] }; at += c[s] }
        for i in 0..<c[k - 1] { dPooledId[k - 1][i] += dq[at + i] }
        let de = TrainingOps.denseBackward(act.pooledIdentity[k - 1], dEmbedding, parameters: parameters + offEmbed, gradients: gradients + offEmbed)
        for i in 0..<c[k - 1] { dPooledId[k - 1][i] += de[i] }
        // Decoder, from the output back to each stage's residual features.
        var dUp = ConvTraining.backward(
            outputConv, parameters: parameters + offOut, cols: act.outCols, dy: dResidual,
            height: config.inputSize, width: config.inputSize, gradients: gradients + offOut)
        var dRes = (0..<k).map { s in [Float](repeating: 0, count: act.split[s].residual.count) }
        for s in 0..<k {
            let side = act.size[s]
            var dOut = TrainingOps.upsample2Backward(dUp, channels: decoderConv[s].outputs, height: side, width: side)
            ReLU.backward(output: act.decOut[s], &dOut)
            let dIn = ConvTraining.backward(
                decoderConv[s], parameters: parameters + offDec[s], cols: act.decCols[s], dy: dOut,
                height: side, width: side, gradients: gradients + offDec[s])
            if s == k - 1 {
                for i in dIn.indices { dRes[s][i] += dIn[i] }
            } else {
                let nUp = dIn.count - dRes[s].count
                dUp = Array(dIn[0..<nUp])
                for i in 0..<dRes[s].count { dRes[s][i] += dIn[nUp + i] }
            }
        }
        // Encoder, last stage first.
        var dId = [Float](repeating: 0, count: act.split[k - 1].identity.count)
        for s in stride(from: k - 1, through: 0, by: -1) {
            TrainingOps.globalAveragePoolBackward(dPooledId[s], into: &dId)
            TrainingOps.globalAveragePoolBackward(dPooledRes[s], into: &dRes[s])
            var df = decomposition[s].backward(
                act.features[s], act.split[s], dIdentity: dId, dResidual: dRes[s],
                parameters: parameters + offD[s], gradients: gradients + offD[s])
            ReLU.backward(output: act.features[s], &df)
            let side = act.size[s]
            var da = ConvTraining.backward(
                stageConvB[s], parameters: parameters + offB[s], cols: act.colsB[s], dy: df,
                height: side, width: side, gradients: gradients + offB[s])
            ReLU.backward(output: act.outA[s], &da)
            dId = ConvTraining.backward(
                stageConvA[s], parameters: parameters + offA[s], cols: act.colsA[s], dy: da,
                height: 2 * side, width: 2 * side, gradients: gradients + offA[s], inputGradient: s > 0)
        }
    }
}
