import NeuralNet
import TensorCore
import Testing

/// Each backward pass of the training operations against central finite differences of its forward pass, with no
/// disagreement allowed (tolerance 1% relative + 1e-3 absolute; these operations are smooth, so no kink excuses).
@Suite struct LayerGradientTests {
    static func random(_ n: Int, _ rng: inout SplitMix) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &rng) } }

    /// Σ y·r for a fixed random r: its gradient with respect to y is r.
    static func weighted(_ y: [Float], _ r: [Float]) -> Double { zip(y, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }

    static func numeric(_ v: [Float], _ i: Int, _ f: ([Float]) -> Double) -> Double {
        let e: Float = 1e-2
        var a = v
        a[i] += e
        var b = v
        b[i] -= e
        return (f(a) - f(b)) / Double(2 * e)
    }

    static func expectClose(_ numeric: Double, _ analytic: Float, _ what: String) {
        #expect(abs(numeric - Double(analytic)) <= 1e-2 * max(abs(numeric), abs(Double(analytic))) + 1e-3, "\(what): \(numeric) vs \(analytic)")
    }

    @Test func dense() {
        var rng = SplitMix(seed: 21)
        let (n, m) = (5, 3)
        let p = Self.random(m * n + m, &rng), x = Self.random(n, &rng), r = Self.random(m, &rng)
        var g = [Float](repeating: 0, count: p.count)
        let dx = p.withUnsafeBufferPointer { pp in
            g.withUnsafeMutableBufferPointer { TrainingOps.denseBackward(x, r, parameters: pp.baseAddress!, gradients: $0.baseAddress!) }
        }
        for i in p.indices {
            Self.expectClose(
                Self.numeric(p, i) { q in
                    q.withUnsafeBufferPointer { Self.weighted(TrainingOps.dense(x, outputs: m, parameters: $0.baseAddress!), r) }
                }, g[i], "parameter \(i)")
        }
        for i in x.indices {
            Self.expectClose(
                Self.numeric(x, i) { v in
                    p.withUnsafeBufferPointer { Self.weighted(TrainingOps.dense(v, outputs: m, parameters: $0.baseAddress!), r) }
                }, dx[i], "input \(i)")
        }
    }

    @Test func globalAveragePool() {
        var rng = SplitMix(seed: 22)
        let (channels, plane) = (3, 6)
        let x = Self.random(channels * plane, &rng), r = Self.random(channels, &rng)
        var dx = [Float](repeating: 0, count: x.count)
        TrainingOps.globalAveragePoolBackward(r, into: &dx)
        for i in x.indices {
            Self.expectClose(Self.numeric(x, i) { Self.weighted(TrainingOps.globalAveragePool($0, channels: channels), r) }, dx[i], "input \(i)")
        }
    }

    @Test func upsampling() {
        var rng = SplitMix(seed: 23)
        let (c, h, w) = (2, 3, 4)
        let x = Self.random(c * h * w, &rng), r = Self.random(c * 4 * h * w, &rng)
        let dx = TrainingOps.upsample2Backward(r, channels: c, height: h, width: w)
        for i in x.indices {
            Self.expectClose(
                Self.numeric(x, i) { Self.weighted(TrainingOps.upsample2($0, channels: c, height: h, width: w), r) }, dx[i], "input \(i)")
        }
    }

    @Test func reluForwardAndBackwardExactly() {
        let x: [Float] = [-2, -0.5, 0, 0.25, 3]
        #expect(ReLU.forward(x) == [0, 0, 0, 0.25, 3])
        var inPlace = x
        ReLU.apply(&inPlace)
        #expect(inPlace == [0, 0, 0, 0.25, 3])
        var dy: [Float] = [1, 2, 3, 4, 5]
        ReLU.backward(output: ReLU.forward(x), &dy)
        #expect(dy == [0, 0, 0, 4, 5])
    }

    @Test func meanSquaredError() {
        var rng = SplitMix(seed: 24)
        let p = Self.random(7, &rng), t = Self.random(7, &rng)
        let g = MeanSquaredError.gradient(p, t)
        for i in p.indices { Self.expectClose(Self.numeric(p, i) { Double(MeanSquaredError.loss($0, t)) }, g[i], "prediction \(i)") }
    }

    @Test func pinballLossOnBothSidesOfTheTarget() {
        for q: Float in [0.1, 0.5, 0.9] {
            for (prediction, target) in [(Float(0.3), Float(1.0)), (1.4, 0.2)] {
                let g = PinballLoss.loss(prediction, target, quantile: q).gradient
                Self.expectClose(
                    Self.numeric([prediction], 0) { Double(PinballLoss.loss($0[0], target, quantile: q).loss) }, g, "q \(q) at \(prediction)")
            }
        }
    }
}
