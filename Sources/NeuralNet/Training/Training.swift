import Foundation
import TensorCore

/// A fully connected layer that can learn: `Y = X·W + b` on a mini-batch (rows of X are samples), with the
/// backward pass. `W` is `[inputs][outputs]`, the inference `Linear`'s order.
public struct DenseLayer: Sendable, Equatable {
    public let inputs: Int
    public let outputs: Int
    public var weights: [Float]
    public var bias: [Float]
    /// Gradients accumulated by `backward` (zero them with `zeroGradients`).
    public var weightGradient: [Float]
    public var biasGradient: [Float]

    /// He-initialised weights from `rng` (fixed seeds give reproducible training).
    public init<G: RandomNumberGenerator>(inputs: Int, outputs: Int, using rng: inout G) {
        self.inputs = inputs
        self.outputs = outputs
        let scale = (2 / Float(inputs)).squareRoot()
        weights = (0..<(inputs * outputs)).map { _ in DenseLayer.gaussian(&rng) * scale }
        bias = [Float](repeating: 0, count: outputs)
        weightGradient = [Float](repeating: 0, count: inputs * outputs)
        biasGradient = [Float](repeating: 0, count: outputs)
    }

    public init(inputs: Int, outputs: Int, weights: [Float], bias: [Float]) {
        precondition(weights.count == inputs * outputs && bias.count == outputs, "DenseLayer: parameter sizes")
        self.inputs = inputs
        self.outputs = outputs
        self.weights = weights
        self.bias = bias
        weightGradient = [Float](repeating: 0, count: inputs * outputs)
        biasGradient = [Float](repeating: 0, count: outputs)
    }

    /// A standard normal sample (also used to initialise other layers).
    public static func gaussian<G: RandomNumberGenerator>(_ rng: inout G) -> Float {
        // Box–Muller.
        let u1 = Float.random(in: Float.ulpOfOne..<1, using: &rng), u2 = Float.random(in: 0..<1, using: &rng)
        return (-2 * log(u1)).squareRoot() * cos(2 * Float.pi * u2)
    }

    /// `batch` rows of `inputs` values in, `batch` rows of `outputs` values out.
    public func forward(_ x: [Float], batch: Int) -> [Float] {
        precondition(x.count == batch * inputs, "DenseLayer: input size")
        var y = [Float](repeating: 0, count: batch * outputs)
        for r in 0..<batch { for j in 0..<outputs { y[r * outputs + j] = bias[j] } }
        x.withUnsafeBufferPointer { xp in
            weights.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    BLAS.sgemm(
                        m: batch, n: outputs, k: inputs, a: xp.baseAddress!, lda: inputs, b: wp.baseAddress!, ldb: outputs,
                        beta: 1, c: yp.baseAddress!, ldc: outputs)
                }
            }
        }
        return y
    }

    /// Given the layer's input `x` and the loss gradient `dy` with respect to its output, accumulates the
    /// parameter gradients and returns the gradient with respect to `x`.
    public mutating func backward(_ x: [Float], _ dy: [Float], batch: Int) -> [Float] {
        precondition(x.count == batch * inputs && dy.count == batch * outputs, "DenseLayer: gradient size")
        // dW += Xᵀ·dY, db += Σ rows of dY, dX = dY·Wᵀ.
        x.withUnsafeBufferPointer { xp in
            dy.withUnsafeBufferPointer { dp in
                weightGradient.withUnsafeMutableBufferPointer { gp in
                    BLAS.sgemm(
                        transposeA: true, m: inputs, n: outputs, k: batch, a: xp.baseAddress!, lda: inputs,
                        b: dp.baseAddress!, ldb: outputs, beta: 1, c: gp.baseAddress!, ldc: outputs)
                }
            }
        }
        for r in 0..<batch { for j in 0..<outputs { biasGradient[j] += dy[r * outputs + j] } }
        var dx = [Float](repeating: 0, count: batch * inputs)
        dy.withUnsafeBufferPointer { dp in
            weights.withUnsafeBufferPointer { wp in
                dx.withUnsafeMutableBufferPointer { xp in
                    BLAS.sgemm(
                        transposeB: true, m: batch, n: inputs, k: outputs, a: dp.baseAddress!, lda: outputs,
                        b: wp.baseAddress!, ldb: outputs, c: xp.baseAddress!, ldc: inputs)
                }
            }
        }
        return dx
    }

    public mutating func zeroGradients() {
        for i in weightGradient.indices { weightGradient[i] = 0 }
        for i in biasGradient.indices { biasGradient[i] = 0 }
    }
}

/// The rectifier max(x, 0) and its backward pass: the one ReLU of the training code (inference runs TensorCore's
/// `reluInPlace` kernel, or `Affine.forward(_:relu:)`, which fuses the two).
public enum ReLU {
    public static func forward(_ x: [Float]) -> [Float] { x.map { max(0, $0) } }

    public static func apply(_ x: inout [Float]) {
        for i in x.indices where x[i] < 0 { x[i] = 0 }
    }

    /// Gradient through a ReLU given its OUTPUT: `dy` zeroed where the output is zero (the input was not positive).
    public static func backward(output y: [Float], _ dy: inout [Float]) {
        precondition(y.count == dy.count, "ReLU.backward: sizes")
        for i in dy.indices where y[i] <= 0 { dy[i] = 0 }
    }
}

/// Mean squared error over a batch and its gradient.
public enum MeanSquaredError {
    public static func loss(_ prediction: [Float], _ target: [Float]) -> Float {
        precondition(prediction.count == target.count, "MSE: sizes")
        return zip(prediction, target).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Float(max(1, target.count))
    }

    public static func gradient(_ prediction: [Float], _ target: [Float]) -> [Float] {
        let n = Float(max(1, target.count))
        return zip(prediction, target).map { 2 * ($0 - $1) / n }
    }
}

/// Adam (Kingma & Ba) for a list of parameter arrays.
public struct Adam: Sendable {
    public var learningRate: Float
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var weightDecay: Float = 0
    private var m: [[Float]] = []
    private var v: [[Float]] = []
    private var step = 0

    public init(learningRate: Float, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// One update of every parameter array from its gradient (same order every call).
    public mutating func update(_ parameters: inout [[Float]], gradients: [[Float]]) {
        precondition(parameters.count == gradients.count, "Adam: parameter and gradient lists differ")
        if m.isEmpty {
            m = parameters.map { [Float](repeating: 0, count: $0.count) }
            v = m
        }
        step += 1
        let c1 = 1 - pow(beta1, Float(step)), c2 = 1 - pow(beta2, Float(step))
        for p in parameters.indices {
            for i in parameters[p].indices {
                let g = gradients[p][i] + weightDecay * parameters[p][i]
                m[p][i] = beta1 * m[p][i] + (1 - beta1) * g
                v[p][i] = beta2 * v[p][i] + (1 - beta2) * g * g
                parameters[p][i] -= learningRate * (m[p][i] / c1) / ((v[p][i] / c2).squareRoot() + epsilon)
            }
        }
    }
}

/// A two-layer perceptron regressor `x → relu(x·W1 + b1)·W2 + b2` (one output), trained with MSE and Adam.
public struct MLPRegressor: Sendable, Equatable {
    public var hidden: DenseLayer
    public var output: DenseLayer

    public init<G: RandomNumberGenerator>(inputs: Int, hiddenUnits: Int, using rng: inout G) {
        hidden = DenseLayer(inputs: inputs, outputs: hiddenUnits, using: &rng)
        output = DenseLayer(inputs: hiddenUnits, outputs: 1, using: &rng)
    }

    public init(hidden: DenseLayer, output: DenseLayer) {
        precondition(output.outputs == 1 && output.inputs == hidden.outputs, "MLPRegressor: layer sizes")
        self.hidden = hidden
        self.output = output
    }

    public var inputs: Int { hidden.inputs }

    public func predict(_ x: [Float], batch: Int) -> [Float] {
        output.forward(ReLU.forward(hidden.forward(x, batch: batch)), batch: batch)
    }

    /// Loss and gradients for one mini-batch (gradients are left in the layers).
    @discardableResult
    public mutating func accumulateGradients(_ x: [Float], _ target: [Float], batch: Int) -> Float {
        let z = hidden.forward(x, batch: batch)
        let a = ReLU.forward(z)
        let y = output.forward(a, batch: batch)
        let dy = MeanSquaredError.gradient(y, target)
        let da = output.backward(a, dy, batch: batch)
        var dz = da
        ReLU.backward(output: a, &dz)
        _ = hidden.backward(x, dz, batch: batch)
        return MeanSquaredError.loss(y, target)
    }

    /// One Adam step on a mini-batch; returns the batch loss before the step.
    @discardableResult
    public mutating func trainStep(_ x: [Float], _ target: [Float], batch: Int, optimizer: inout Adam) -> Float {
        hidden.zeroGradients()
        output.zeroGradients()
        let loss = accumulateGradients(x, target, batch: batch)
        var params = [hidden.weights, hidden.bias, output.weights, output.bias]
        optimizer.update(&params, gradients: [hidden.weightGradient, hidden.biasGradient, output.weightGradient, output.biasGradient])
        hidden.weights = params[0]
        hidden.bias = params[1]
        output.weights = params[2]
        output.bias = params[3]
        return loss
    }
}

extension MLPRegressor {
    /// Mean squared error over the rows `rows` of `inputs` (0 for none).
    public func meanSquaredError(_ inputs: [[Float]], _ targets: [Float], rows: [Int]) -> Double {
        guard !rows.isEmpty else { return 0 }
        return Double(MeanSquaredError.loss(predict(rows.flatMap { inputs[$0] }, batch: rows.count), rows.map { targets[$0] }))
    }

    /// Mini-batch Adam training with early stopping: the `training` rows are shuffled every epoch with `rng`, and the
    /// weights of the epoch with the lowest MSE on the `validation` rows are kept (the last epoch's when there are no
    /// validation rows). Returns the per-epoch (training, validation) MSE.
    @discardableResult
    public mutating func fit<G: RandomNumberGenerator>(
        _ inputs: [[Float]], _ targets: [Float], training: [Int], validation: [Int],
        epochs: Int, batch: Int, optimizer: inout Adam, using rng: inout G
    ) -> [(train: Double, validation: Double)] {
        var curve: [(train: Double, validation: Double)] = []
        var best = (loss: Double.infinity, weights: self)
        var order = training
        for _ in 0..<epochs {
            order.shuffle(using: &rng)
            var start = 0
            while start < order.count {
                let b = Array(order[start..<min(order.count, start + batch)])
                trainStep(b.flatMap { inputs[$0] }, b.map { targets[$0] }, batch: b.count, optimizer: &optimizer)
                start += batch
            }
            let l = (train: meanSquaredError(inputs, targets, rows: training), validation: meanSquaredError(inputs, targets, rows: validation))
            curve.append(l)
            if validation.isEmpty || l.validation < best.loss { best = (l.validation, self) }
        }
        self = best.weights
        return curve
    }
}
