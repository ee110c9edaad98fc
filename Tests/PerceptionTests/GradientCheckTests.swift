import Foundation
import NeuralNet
import Perception
import TensorCore
import Testing

/// Every backward pass of the JND predictor checked against central finite differences of its forward pass.
@Suite struct GradientCheckTests {
    static func random(_ n: Int, _ rng: inout SplitMix, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) }
    }

    /// Central difference of `loss` in coordinate `i` of `values`, with step `e`.
    static func numeric(_ values: [Float], _ i: Int, step e: Float, _ loss: ([Float]) -> Double) -> Double {
        var v = values
        v[i] = values[i] + e
        let a = loss(v)
        v[i] = values[i] - e
        return (a - loss(v)) / Double(2 * e)
    }

    /// |numeric − analytic| within a relative tolerance (plus an absolute floor for Float32 rounding).
    static func close(_ numeric: Double, _ analytic: Double, relative: Double = 2e-2, absolute: Double = 2e-3) -> Bool {
        abs(numeric - analytic) <= relative * max(abs(numeric), abs(analytic)) + absolute
    }

    @Test(arguments: [(3, 5, 3, 2, 7, 9), (4, 2, 3, 1, 6, 5), (2, 3, 1, 1, 4, 4)])
    func convolution(_ c: (Int, Int, Int, Int, Int, Int)) {
        let (cin, cout, k, stride, h, w) = c
        var rng = SplitMix(seed: 7)
        let shape = ConvShape(inputs: cin, outputs: cout, kernel: k, stride: stride)
        let p = Self.random(shape.parameterCount, &rng)
        let x = Self.random(cin * h * w, &rng)
        let oh = shape.outputSize(h), ow = shape.outputSize(w)
        let r = Self.random(cout * oh * ow, &rng)  // loss = Σ y·r
        func loss(_ p: [Float], _ x: [Float]) -> Double {
            let y = p.withUnsafeBufferPointer { ConvTraining.forward(shape, parameters: $0.baseAddress!, x: x, height: h, width: w).y }
            return zip(y, r).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        }
        var g = [Float](repeating: 0, count: shape.parameterCount)
        let cols = p.withUnsafeBufferPointer { ConvTraining.forward(shape, parameters: $0.baseAddress!, x: x, height: h, width: w).cols }
        let dx = p.withUnsafeBufferPointer { pp in
            g.withUnsafeMutableBufferPointer {
                ConvTraining.backward(shape, parameters: pp.baseAddress!, cols: cols, dy: r, height: h, width: w, gradients: $0.baseAddress!)
            }
        }
        let e: Float = 1e-2
        for i in p.indices {
            #expect(Self.close(Self.numeric(p, i, step: e) { loss($0, x) }, Double(g[i])), "parameter \(i)")
        }
        for i in x.indices {
            #expect(Self.close(Self.numeric(x, i, step: e) { loss(p, $0) }, Double(dx[i])), "input \(i)")
        }
    }

    @Test func decomposition() {
        var rng = SplitMix(seed: 11)
        let shape = DecompositionShape(channels: 3)
        let n = 5
        let p = Self.random(shape.parameterCount, &rng)
        let f = Self.random(3 * n, &rng)
        let ri = Self.random(3 * n, &rng), rr = Self.random(3 * n, &rng)
        func loss(_ p: [Float], _ f: [Float]) -> Double {
            let o = p.withUnsafeBufferPointer { shape.forward(f, parameters: $0.baseAddress!) }
            return (0..<(3 * n)).reduce(0.0) { $0 + Double(o.identity[$1] * ri[$1] + o.residual[$1] * rr[$1]) }
        }
        var g = [Float](repeating: 0, count: shape.parameterCount)
        let out = p.withUnsafeBufferPointer { shape.forward(f, parameters: $0.baseAddress!) }
        #expect(zip(zip(out.identity, out.residual), f).allSatisfy { abs($0.0 + $0.1 - $1) < 1e-6 }, "identity + residual = features")
        let df = p.withUnsafeBufferPointer { pp in
            g.withUnsafeMutableBufferPointer {
                shape.backward(f, out, dIdentity: ri, dResidual: rr, parameters: pp.baseAddress!, gradients: $0.baseAddress!)
            }
        }
        let e: Float = 1e-2
        for i in p.indices {
            #expect(Self.close(Self.numeric(p, i, step: e) { loss($0, f) }, Double(g[i])), "parameter \(i)")
        }
        for i in f.indices {
            #expect(Self.close(Self.numeric(f, i, step: e) { loss(p, $0) }, Double(df[i])), "input \(i)")
        }
    }

    @Test func losses() {
        var rng = SplitMix(seed: 3)
        let p = Self.random(6, &rng)
        let t = Self.random(6, &rng)
        let g = CosineDistance.loss(p, t).gradient
        let e: Float = 1e-3
        for i in p.indices {
            #expect(Self.close(Self.numeric(p, i, step: e) { Double(CosineDistance.loss($0, t).loss) }, Double(g[i]), absolute: 5e-3))
        }
        // Cross-correlation on a batch of 6 rows of 3 and 4 features.
        var a = (0..<6).map { _ in Self.random(3, &rng) }
        var b = (0..<6).map { _ in Self.random(4, &rng) }
        let (l0, da, db) = CrossCorrelationLoss.loss(a, b)
        #expect(l0 > 0)
        for r in 0..<6 {
            for i in 0..<3 {
                let v = a[r][i]
                a[r][i] = v + e; let up = CrossCorrelationLoss.loss(a, b).loss
                a[r][i] = v - e; let dn = CrossCorrelationLoss.loss(a, b).loss
                a[r][i] = v
                #expect(Self.close(Double(up - dn) / Double(2 * e), Double(da[r][i]), absolute: 5e-3))
            }
            for j in 0..<4 {
                let v = b[r][j]
                b[r][j] = v + e; let up = CrossCorrelationLoss.loss(a, b).loss
                b[r][j] = v - e; let dn = CrossCorrelationLoss.loss(a, b).loss
                b[r][j] = v
                #expect(Self.close(Double(up - dn) / Double(2 * e), Double(db[r][j]), absolute: 5e-3))
            }
        }
        // Identical columns are perfectly correlated: the loss is then (var/(var + ε))², 1 but for the ε that keeps
        // nearly constant features from exploding the gradients.
        let same = (0..<5).map { [Float($0)] }
        #expect(abs(CrossCorrelationLoss.loss(same, same).loss - Float((2 / 2.01) * (2 / 2.01))) < 1e-4)
        #expect(PinballLoss.loss(0, 1, quantile: 0.1) == (0.1, -0.1))
        #expect(PinballLoss.loss(1, 0, quantile: 0.1).loss == 0.9)
    }

    static let tiny = DecompositionNetwork.Config(inputSize: 16, channels: [3, 4, 5], embedding: 6, scalars: 2, qpHidden: 5)

    static func samples(_ n: Int, config: DecompositionNetwork.Config, seed: UInt64) -> [JNDTrainingSample] {
        var rng = SplitMix(seed: seed)
        let s = config.inputSize * config.inputSize * 3
        return (0..<n).map { _ in
            JNDTrainingSample(
                input: random(s / 3 * config.inputChannels, &rng, scale: 0.5), scalars: random(2, &rng), residual: random(s, &rng, scale: 0.3),
                embedding: random(config.embedding, &rng), target: Float.random(in: -1...1, using: &rng))
        }
    }

    /// The whole network and every loss term (identity distillation, residual map, pinball QP, decorrelation) at once.
    @Test func wholeNetwork() {
        let net = DecompositionNetwork(config: Self.tiny)
        var rng = SplitMix(seed: 5)
        var p = net.initialParameters(using: &rng)
        // Larger random biases and mask weights so every path carries gradient.
        for i in p.indices where p[i] == 0 { p[i] = Float.random(in: -0.2...0.2, using: &rng) }
        var o = JNDTrainingOptions()
        o.quantile = 0.3
        o.decorrelationWeight = 0.5
        o.threads = 2
        let trainer = JNDTrainer(network: net, options: o)
        let batch = Self.samples(4, config: Self.tiny, seed: 9)
        let r = trainer.lossAndGradient(batch, parameters: p)
        #expect(r.identity > 0 && r.residual > 0 && r.qp > 0 && r.decorrelation > 0)
        // Per layer, every parameter: the analytic gradient must match the central difference, or (where the ±ε probe
        // straddles a ReLU or the pinball kink, so the central difference averages two slopes) one of the one-sided
        // differences. Tolerance: 3% relative + 3e-3 absolute; zero disagreements allowed in any layer.
        let e: Float = 1e-3
        let layout = net.parameterLayout
        #expect(layout.map(\.range.count).reduce(0, +) == net.parameterCount && layout.first?.range.lowerBound == 0)
        #expect(zip(layout, layout.dropFirst()).allSatisfy { $0.range.upperBound == $1.range.lowerBound })
        let f0 = r.total
        for (name, range) in layout {
            var disagree: [Int] = []
            for i in range {
                let v = p[i]
                p[i] = v + e
                let a = trainer.lossAndGradient(batch, parameters: p).total
                p[i] = v - e
                let b = trainer.lossAndGradient(batch, parameters: p).total
                p[i] = v
                let g = Double(r.gradients[i])
                let central = (a - b) / Double(2 * e), forward = (a - f0) / Double(e), backward = (f0 - b) / Double(e)
                let ok = [central, forward, backward].contains { Self.close($0, g, relative: 3e-2, absolute: 3e-3) }
                if !ok { disagree.append(i - range.lowerBound) }
            }
            #expect(disagree.isEmpty, "\(name): parameters \(disagree.prefix(10)) of \(range.count) disagree")
        }
    }

    /// Two threads and one thread give the same gradients (the batch split must not change the sum).
    @Test func threadsAgree() {
        let net = DecompositionNetwork(config: Self.tiny)
        var rng = SplitMix(seed: 8)
        let p = net.initialParameters(using: &rng)
        var o = JNDTrainingOptions()
        o.threads = 1
        let one = JNDTrainer(network: net, options: o).lossAndGradient(Self.samples(5, config: Self.tiny, seed: 1), parameters: p)
        o.threads = 2
        let two = JNDTrainer(network: net, options: o).lossAndGradient(Self.samples(5, config: Self.tiny, seed: 1), parameters: p)
        #expect(abs(one.total - two.total) < 1e-6)
        #expect(zip(one.gradients, two.gradients).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
    }
}
