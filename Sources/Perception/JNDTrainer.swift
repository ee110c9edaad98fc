import Dispatch
import Foundation
import NeuralNet
import Synchronization
import TensorCore

/// One training face, already in network units.
public struct JNDTrainingSample: Sendable {
    /// inputChannels×S×S crop (`JNDInput.networkInput`).
    public var input: [Float]
    /// Standardised scalar inputs.
    public var scalars: [Float]
    /// 3×S×S oracle residual map, divided by the model's residual scale.
    public var residual: [Float]
    /// The face recogniser's descriptor of the original face (distillation target).
    public var embedding: [Float]
    /// (JND QP − centre) / scale.
    public var target: Float

    public init(input: [Float], scalars: [Float], residual: [Float], embedding: [Float], target: Float) {
        self.input = input
        self.scalars = scalars
        self.residual = residual
        self.embedding = embedding
        self.target = target
    }
}

public struct JNDTrainingOptions: Sendable {
    public var epochs = 30
    public var batch = 32
    public var learningRate: Float = 2e-3
    public var weightDecay: Float = 1e-4
    public var seed: UInt64 = 2026
    /// Pinball quantile of the QP head.
    public var quantile: Float = 0.5
    public var identityWeight: Float = 1
    public var residualWeight: Float = 1
    public var qpWeight: Float = 1
    public var decorrelationWeight: Float = 0.1
    public var threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    public init() {}
}

/// Losses of one epoch (means over samples).
public struct JNDEpochLog: Sendable, Codable {
    public var epoch: Int
    public var trainTotal: Double
    public var trainIdentity: Double
    public var trainResidual: Double
    public var trainQP: Double
    public var trainDecorrelation: Double
    public var validationIdentity: Double
    public var validationResidual: Double
    public var validationQP: Double
    /// Mean |predicted − target| in network units (× qp scale = QP).
    public var validationAbsoluteError: Double
    public var seconds: Double

    public static let csvHeader =
        "epoch,train_total,train_identity,train_residual,train_qp,train_decorrelation,val_identity,val_residual,val_qp,val_abs_error,seconds"
    public var csvLine: String {
        [
            Double(epoch), trainTotal, trainIdentity, trainResidual, trainQP, trainDecorrelation, validationIdentity, validationResidual,
            validationQP, validationAbsoluteError, seconds,
        ].map { String(format: "%.6g", $0) }.joined(separator: ",")
    }
}

/// Mini-batch Adam training of a `DecompositionNetwork` on two threads (each sample's forward and backward runs on
/// one core with single-threaded BLAS; the batch is split across cores and the gradients summed).
public struct JNDTrainer: Sendable {
    public let network: DecompositionNetwork
    public var options: JNDTrainingOptions

    public init(network: DecompositionNetwork, options: JNDTrainingOptions) {
        self.network = network
        self.options = options
    }

    /// Loss terms of a batch and the gradient of the weighted total with respect to the parameters.
    public struct BatchResult {
        public var identity: Double, residual: Double, qp: Double, decorrelation: Double
        public var total: Double { identity + residual + qp + decorrelation }
        public var gradients: [Float]
    }

    /// The weighted loss of `batch` samples and its gradient (each term already multiplied by its weight).
    public func lossAndGradient(_ samples: [JNDTrainingSample], parameters: [Float]) -> BatchResult {
        let n = samples.count, k = network.config.channels.count
        let threads = max(1, min(options.threads, n))
        let act = forward(samples, parameters: parameters)
        let net = network
        let o = options
        var idLoss = 0.0, resLoss = 0.0, qpLoss = 0.0, decLoss = 0.0
        var dEmb: [[Float]] = [], dRes: [[Float]] = [], dQP: [Float] = []
        for i in 0..<n {
            let a = act[i]!, s = samples[i]
            let (l, g) = CosineDistance.loss(a.embedding, s.embedding)
            idLoss += Double(o.identityWeight * l) / Double(n)
            dEmb.append(g.map { $0 * o.identityWeight / Float(n) })
            let m = Float(s.residual.count)
            var r: Float = 0
            var dr = [Float](repeating: 0, count: s.residual.count)
            for j in s.residual.indices {
                let e = a.residual[j] - s.residual[j]
                r += e * e
                dr[j] = 2 * e / m * o.residualWeight / Float(n)
            }
            resLoss += Double(o.residualWeight * r / m) / Double(n)
            dRes.append(dr)
            let (q, dq) = PinballLoss.loss(a.qp, s.target, quantile: o.quantile)
            qpLoss += Double(o.qpWeight * q) / Double(n)
            dQP.append(dq * o.qpWeight / Float(n))
        }
        var dPid = [[[Float]]](repeating: [], count: n), dPres = [[[Float]]](repeating: [], count: n)
        for i in 0..<n { dPid[i] = [[Float]](repeating: [], count: k); dPres[i] = [[Float]](repeating: [], count: k) }
        if n > 1 && o.decorrelationWeight > 0 {
            for s in 0..<k {
                let (l, da, db) = CrossCorrelationLoss.loss((0..<n).map { act[$0]!.pooledIdentity[s] }, (0..<n).map { act[$0]!.pooledResidual[s] })
                decLoss += Double(o.decorrelationWeight * l)
                for i in 0..<n {
                    dPid[i][s] = da[i].map { $0 * o.decorrelationWeight }
                    dPres[i][s] = db[i].map { $0 * o.decorrelationWeight }
                }
            }
        }
        let (gEmb, gRes, gQP, gPid, gPres) = (dEmb, dRes, dQP, dPid, dPres)
        // One gradient buffer per worker, summed in worker order afterwards: no lock, and the same floating-point sum
        // whatever order the workers finish in.
        let perWorker = PerIndexSlots<[Float]>(count: threads)
        parameters.withUnsafeBufferPointer { pp in
            nonisolated(unsafe) let p = pp.baseAddress!
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                var g = [Float](repeating: 0, count: net.parameterCount)
                g.withUnsafeMutableBufferPointer { gp in
                    for i in stride(from: t, to: n, by: threads) {
                        net.backward(
                            act[i]!, dEmbedding: gEmb[i], dResidual: gRes[i], dQP: gQP[i], dPooledIdentity: gPid[i],
                            dPooledResidual: gPres[i], parameters: p, gradients: gp.baseAddress!)
                    }
                }
                perWorker[t] = g
            }
        }
        var total = [Float](repeating: 0, count: network.parameterCount)
        for t in 0..<threads {
            let g = perWorker[t]!
            for j in total.indices { total[j] += g[j] }
        }
        return BatchResult(identity: idLoss, residual: resLoss, qp: qpLoss, decorrelation: decLoss, gradients: total)
    }

    /// Forward passes of every sample, spread over `options.threads` cores (one sample per core at a time).
    func forward(_ samples: [JNDTrainingSample], parameters: [Float]) -> [Int: DecompositionNetwork.Activations] {
        let net = network, n = samples.count, threads = max(1, min(options.threads, n))
        let acts = PerIndexSlots<DecompositionNetwork.Activations>(count: n)
        parameters.withUnsafeBufferPointer { pp in
            nonisolated(unsafe) let p = pp.baseAddress!
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                for i in stride(from: t, to: n, by: threads) {
                    acts[i] = net.forward(samples[i].input, scalars: samples[i].scalars, parameters: p)
                }
            }
        }
        var out: [Int: DecompositionNetwork.Activations] = [:]
        for i in 0..<n { out[i] = acts[i] }
        return out
    }

    /// Forward passes only: per sample the network's QP output, identity loss and residual MSE (unweighted).
    /// Runs in chunks of 64 samples: the activations kept for a backward pass are a few MB per sample.
    public func evaluate(_ samples: [JNDTrainingSample], parameters: [Float]) -> [(qp: Float, identity: Float, residual: Float)] {
        var out: [(qp: Float, identity: Float, residual: Float)] = []
        for start in stride(from: 0, to: samples.count, by: 64) {
            let chunk = Array(samples[start..<min(samples.count, start + 64)])
            let act = forward(chunk, parameters: parameters)
            for (i, s) in chunk.enumerated() {
                let a = act[i]!
                var r: Float = 0
                for j in a.residual.indices { r += (a.residual[j] - s.residual[j]) * (a.residual[j] - s.residual[j]) }
                out.append((a.qp, CosineDistance.loss(a.embedding, s.embedding).loss, r / Float(a.residual.count)))
            }
        }
        return out
    }

    /// Trains from `initial` on the `training` samples, keeping the parameters of the epoch with the lowest
    /// validation QP loss (the last epoch's without validation samples). `epochDone` is called after every epoch
    /// with the log and the current best parameters (for checkpoints and progress).
    public func train(
        _ samples: [JNDTrainingSample], training: [Int], validation: [Int], initial: [Float],
        epochDone: (JNDEpochLog, [Float]) throws -> Void = { _, _ in }
    ) rethrows -> (parameters: [Float], log: [JNDEpochLog], bestEpoch: Int) {
        BLAS.setThreads(1)
        var rng = SplitMix(seed: options.seed)
        var params = initial
        var adam = Adam(learningRate: options.learningRate, weightDecay: options.weightDecay)
        var order = training
        var log: [JNDEpochLog] = []
        var best = (loss: Double.infinity, parameters: initial, epoch: 0)
        for epoch in 1...max(1, options.epochs) {
            let start = Date()
            // Cosine learning-rate decay to 5% of the initial rate.
            let progress = Float(epoch - 1) / Float(max(1, options.epochs - 1))
            adam.learningRate = options.learningRate * (0.05 + 0.95 * 0.5 * (1 + cos(Float.pi * progress)))
            order.shuffle(using: &rng)
            var sums = (total: 0.0, id: 0.0, res: 0.0, qp: 0.0, dec: 0.0), batches = 0.0
            var at = 0
            while at < order.count {
                let idx = Array(order[at..<min(order.count, at + options.batch)])
                at += options.batch
                if idx.count < 2 { continue }
                let r = lossAndGradient(idx.map { samples[$0] }, parameters: params)
                var list = [params]
                adam.update(&list, gradients: [r.gradients])
                params = list[0]
                sums.total += r.total; sums.id += r.identity; sums.res += r.residual; sums.qp += r.qp; sums.dec += r.decorrelation
                batches += 1
            }
            let v = validation.isEmpty ? [] : evaluate(validation.map { samples[$0] }, parameters: params)
            let nv = Double(max(1, v.count))
            var vq = 0.0, vi = 0.0, vr = 0.0, vabs = 0.0
            for (j, e) in v.enumerated() {
                let t = samples[validation[j]].target
                vq += Double(PinballLoss.loss(e.qp, t, quantile: options.quantile).loss) / nv
                vabs += Double(abs(e.qp - t)) / nv
                vi += Double(e.identity) / nv
                vr += Double(e.residual) / nv
            }
            let b = max(1, batches)
            let entry = JNDEpochLog(
                epoch: epoch, trainTotal: sums.total / b, trainIdentity: sums.id / b, trainResidual: sums.res / b,
                trainQP: sums.qp / b, trainDecorrelation: sums.dec / b, validationIdentity: vi, validationResidual: vr,
                validationQP: vq, validationAbsoluteError: vabs, seconds: Date().timeIntervalSince(start))
            log.append(entry)
            if validation.isEmpty || vq < best.loss { best = (vq, params, epoch) }
            try epochDone(entry, validation.isEmpty ? params : best.parameters)
        }
        return validation.isEmpty ? (params, log, log.count) : (best.parameters, log, best.epoch)
    }
}

/// One slot per index, each written by exactly one worker of a `concurrentPerform` and read after it returns (which
/// orders the writes before the reads). Writes to distinct slots need no lock; an `Array` would (copy-on-write).
final class PerIndexSlots<Value>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Value?>
    let count: Int

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    subscript(i: Int) -> Value? {
        get {
            precondition(i >= 0 && i < count, "PerIndexSlots: index out of range")
            return slots[i]
        }
        set {
            precondition(i >= 0 && i < count, "PerIndexSlots: index out of range")
            slots[i] = newValue
        }
    }
}
