import Foundation

/// `1 − cos(prediction, target)` and its gradient with respect to the prediction (distillation of an embedding).
public enum CosineDistance {
    public static func loss(_ p: [Float], _ t: [Float]) -> (loss: Float, gradient: [Float]) {
        var pp: Float = 0, tt: Float = 0, pt: Float = 0
        for i in p.indices { pp += p[i] * p[i]; tt += t[i] * t[i]; pt += p[i] * t[i] }
        let np = max(pp.squareRoot(), 1e-12), nt = max(tt.squareRoot(), 1e-12)
        let cos = pt / (np * nt)
        // d cos / dp = t/(|p||t|) − cos·p/|p|²
        let g = p.indices.map { -(t[$0] / (np * nt) - cos * p[$0] / (np * np)) }
        return (1 - cos, g)
    }
}

/// The pinball (quantile) loss: minimised by the `quantile`-th quantile of the target given the inputs, so a
/// regressor trained with a small quantile predicts values the target rarely falls below.
public enum PinballLoss {
    public static func loss(_ prediction: Float, _ target: Float, quantile: Float) -> (loss: Float, gradient: Float) {
        let u = target - prediction
        return u >= 0 ? (quantile * u, -quantile) : ((quantile - 1) * u, 1 - quantile)
    }
}

/// Decorrelation of two feature sets over a mini-batch: the mean squared cross-correlation between every feature of
/// `a` and every feature of `b` (each standardised over the batch). Zero when the two sets are linearly uncorrelated.
/// `epsilon` is added to each variance: features that are nearly constant over the batch (a channel the ReLUs
/// switched off) would otherwise be divided by almost nothing, and their gradients explode.
public enum CrossCorrelationLoss {
    /// `a`: batch rows of `a[0].count` features, `b` likewise. Returns the loss and the gradients for each row.
    public static func loss(_ a: [[Float]], _ b: [[Float]], epsilon: Float = 1e-2) -> (loss: Float, da: [[Float]], db: [[Float]]) {
        let n = a.count
        precondition(n == b.count && n > 1, "CrossCorrelationLoss: needs two equal batches of at least 2 rows")
        let (za, sa) = standardize(a, epsilon: epsilon)
        let (zb, sb) = standardize(b, epsilon: epsilon)
        let p = a[0].count, q = b[0].count
        var c = [Float](repeating: 0, count: p * q)
        for r in 0..<n { for i in 0..<p { let v = za[r][i]; for j in 0..<q { c[i * q + j] += v * zb[r][j] } } }
        for k in c.indices { c[k] /= Float(n) }
        let norm = Float(p * q)
        let loss = c.reduce(0) { $0 + $1 * $1 } / norm
        // dL/dC = 2C/(pq); dL/dza[r][i] = Σ_j dC[i][j]·zb[r][j]/n; dL/dzb[r][j] = Σ_i dC[i][j]·za[r][i]/n.
        var dza = [[Float]](repeating: [Float](repeating: 0, count: p), count: n)
        var dzb = [[Float]](repeating: [Float](repeating: 0, count: q), count: n)
        let scale = 2 / (norm * Float(n))
        for r in 0..<n {
            for i in 0..<p {
                var s: Float = 0
                for j in 0..<q { s += c[i * q + j] * zb[r][j] }
                dza[r][i] = s * scale
            }
            for j in 0..<q {
                var s: Float = 0
                for i in 0..<p { s += c[i * q + j] * za[r][i] }
                dzb[r][j] = s * scale
            }
        }
        return (loss, standardizeBackward(za, sa, dza), standardizeBackward(zb, sb, dzb))
    }

    /// Per column: `z = (x − mean)/σ`, `σ = sqrt(var + ε)` (population variance).
    static func standardize(_ x: [[Float]], epsilon: Float) -> ([[Float]], [Float]) {
        let n = Float(x.count), d = x[0].count
        var mean = [Float](repeating: 0, count: d), sigma = [Float](repeating: 0, count: d)
        for row in x { for i in 0..<d { mean[i] += row[i] / n } }
        for row in x { for i in 0..<d { sigma[i] += (row[i] - mean[i]) * (row[i] - mean[i]) / n } }
        for i in 0..<d { sigma[i] = (sigma[i] + epsilon).squareRoot() }
        return (x.map { row in (0..<d).map { (row[$0] - mean[$0]) / sigma[$0] } }, sigma)
    }

    /// Batch-norm backward: `dx = (dz − mean(dz) − z·mean(dz·z)) / σ` per column.
    static func standardizeBackward(_ z: [[Float]], _ sigma: [Float], _ dz: [[Float]]) -> [[Float]] {
        let n = Float(z.count), d = sigma.count
        var m1 = [Float](repeating: 0, count: d), m2 = [Float](repeating: 0, count: d)
        for r in z.indices { for i in 0..<d { m1[i] += dz[r][i] / n; m2[i] += dz[r][i] * z[r][i] / n } }
        return z.indices.map { r in (0..<d).map { (dz[r][$0] - m1[$0] - z[r][$0] * m2[$0]) / sigma[$0] } }
    }
}
