import NeuralNet
import Testing
import _TestSupport

/// Backward passes against central finite differences, and Adam on a tiny regression.
@Suite struct TrainingTests {
    /// Loss = Σ c·y for fixed random c, so dLoss/dy = c.
    private func weightedSum(_ y: [Float], _ c: [Float]) -> Double { zip(y, c).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    @Test func denseLayerGradientsMatchFiniteDifferences() {
        var rng = SeededGenerator(seed: 11)
        let batch = 3, inputs = 5, outputs = 4
        var layer = DenseLayer(inputs: inputs, outputs: outputs, using: &rng)
        layer.bias = (0..<outputs).map { _ in Float.random(in: -1...1, using: &rng) }
        let x = (0..<(batch * inputs)).map { _ in Float.random(in: -1...1, using: &rng) }
        let c = (0..<(batch * outputs)).map { _ in Float.random(in: -1...1, using: &rng) }
        var probe = layer
        let dx = probe.backward(x, c, batch: batch)
        let h: Float = 1e-2
        func numeric(_ f: (Float) -> Double) -> Double { (f(h) - f(-h)) / Double(2 * h) }
        for i in 0..<(inputs * outputs) {
            let g = numeric { d in
                var l = layer; l.weights[i] += d; return weightedSum(l.forward(x, batch: batch), c)
            }
            #expect(abs(g - Double(probe.weightGradient[i])) < 1e-3, "dW[\(i)]")
        }
        for j in 0..<outputs {
            let g = numeric { d in
                var l = layer; l.bias[j] += d; return weightedSum(l.forward(x, batch: batch), c)
            }
            #expect(abs(g - Double(probe.biasGradient[j])) < 1e-3, "db[\(j)]")
        }
        for i in x.indices {
            let g = numeric { d in
                var xx = x; xx[i] += d; return weightedSum(layer.forward(xx, batch: batch), c)
            }
            #expect(abs(g - Double(dx[i])) < 1e-3, "dx[\(i)]")
        }
    }

    @Test func mlpGradientsThroughReLUAndMSEMatchFiniteDifferences() {
        var rng = SeededGenerator(seed: 5)
        let batch = 4, inputs = 3
        let mlp = MLPRegressor(inputs: inputs, hiddenUnits: 6, using: &rng)
        let x = (0..<(batch * inputs)).map { _ in Float.random(in: -2...2, using: &rng) }
        let t = (0..<batch).map { _ in Float.random(in: -1...1, using: &rng) }
        var probe = mlp
        probe.hidden.zeroGradients()
        probe.output.zeroGradients()
        probe.accumulateGradients(x, t, batch: batch)
        let h: Float = 1e-3
        func loss(_ m: MLPRegressor) -> Double { Double(MeanSquaredError.loss(m.predict(x, batch: batch), t)) }
        for i in stride(from: 0, to: mlp.hidden.weights.count, by: 1) {
            var a = mlp, b = mlp
            a.hidden.weights[i] += h
            b.hidden.weights[i] -= h
            let g = (loss(a) - loss(b)) / Double(2 * h)
            #expect(abs(g - Double(probe.hidden.weightGradient[i])) < 2e-3, "hidden dW[\(i)] \(g) vs \(probe.hidden.weightGradient[i])")
        }
        for i in mlp.output.weights.indices {
            var a = mlp, b = mlp
            a.output.weights[i] += h
            b.output.weights[i] -= h
            #expect(abs((loss(a) - loss(b)) / Double(2 * h) - Double(probe.output.weightGradient[i])) < 2e-3, "output dW[\(i)]")
        }
    }

    @Test func adamOverfitsAHandfulOfSamples() {
        var rng = SeededGenerator(seed: 3)
        let n = 8, inputs = 6
        let x = (0..<(n * inputs)).map { _ in Float.random(in: -1...1, using: &rng) }
        let t = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
        var mlp = MLPRegressor(inputs: inputs, hiddenUnits: 16, using: &rng)
        var adam = Adam(learningRate: 1e-2)
        let before = MeanSquaredError.loss(mlp.predict(x, batch: n), t)
        for _ in 0..<500 { mlp.trainStep(x, t, batch: n, optimizer: &adam) }
        let after = MeanSquaredError.loss(mlp.predict(x, batch: n), t)
        #expect(after < before / 10, "loss \(before) → \(after)")
    }

    @Test func trainingIsDeterministicForAFixedSeed() {
        func run() -> [Float] {
            var rng = SeededGenerator(seed: 9)
            var mlp = MLPRegressor(inputs: 2, hiddenUnits: 4, using: &rng)
            var adam = Adam(learningRate: 1e-2)
            for _ in 0..<20 { mlp.trainStep([0.1, 0.2, -0.3, 0.4], [1, -1], batch: 2, optimizer: &adam) }
            return mlp.hidden.weights + mlp.output.weights
        }
        #expect(run() == run())
    }

    @Test func fitKeepsTheEpochWithTheLowestValidationLoss() {
        var rng = SeededGenerator(seed: 21)
        // Noisy targets: validation loss goes down, then up as the small net overfits the training rows.
        let inputs = (0..<60).map { _ in (0..<4).map { _ in Float.random(in: -1...1, using: &rng) } }
        let targets = inputs.map { $0[0] + Float.random(in: -1...1, using: &rng) }
        var mlp = MLPRegressor(inputs: 4, hiddenUnits: 32, using: &rng)
        var adam = Adam(learningRate: 3e-2)
        let curve = mlp.fit(
            inputs, targets, training: Array(0..<40), validation: Array(40..<60), epochs: 80, batch: 8,
            optimizer: &adam, using: &rng)
        #expect(curve.count == 80)
        let best = curve.map(\.validation).min()!
        #expect(abs(mlp.meanSquaredError(inputs, targets, rows: Array(40..<60)) - best) < 1e-9)
        #expect(curve.last!.train < curve.first!.train)
    }
}
