import Foundation
import TensorCore

// Trainable building blocks for small convolutional networks, one sample at a time (CHW, no batch dimension).
// Parameters live in one flat Float vector so that a whole network is a single array for Adam, for the weights file
// and for gradient checks; every layer reads its parameters at an offset and adds its gradients at the same offset
// of a gradient vector of the same size. Several threads can run forward/backward on different samples with the
// same parameters and their own gradient vectors.

/// A 2-D convolution's shape. Parameters: weights `[outputs][inputs·kernel·kernel]`, then `outputs` biases.
public struct ConvShape: Sendable, Equatable, Codable {
    public let inputs: Int
    public let outputs: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    public init(inputs: Int, outputs: Int, kernel: Int = 3, stride: Int = 1, padding: Int? = nil) {
        self.inputs = inputs
        self.outputs = outputs
        self.kernel = kernel
        self.stride = stride
        self.padding = padding ?? kernel / 2
    }

    public var weightCount: Int { outputs * inputs * kernel * kernel }
    public var parameterCount: Int { weightCount + outputs }
    public func outputSize(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }
}

public enum ConvTraining {
    /// `y[o][p] = b[o] + Σ_r W[o][r]·cols[r][p]` (im2col + sgemm). Returns the output and the columns, which the
    /// backward pass needs.
    public static func forward(_ s: ConvShape, parameters: UnsafePointer<Float>, x: [Float], height h: Int, width w: Int)
        -> (y: [Float], cols: [Float])
    {
        precondition(x.count == s.inputs * h * w, "ConvTraining.forward: input size")
        let oh = s.outputSize(h), ow = s.outputSize(w), n = oh * ow, r = s.inputs * s.kernel * s.kernel
        var cols = [Float](repeating: 0, count: r * n)
        x.withUnsafeBufferPointer { xp in
            cols.withUnsafeMutableBufferPointer { cp in
                im2col(
                    xp.baseAddress!, channels: s.inputs, height: h, width: w, kernelH: s.kernel, kernelW: s.kernel,
                    strideY: s.stride, strideX: s.stride, padY: s.padding, padX: s.padding, outputWidth: ow,
                    rowStart: 0, rowCount: oh, into: cp.baseAddress!)
            }
        }
        var y = [Float](repeating: 0, count: s.outputs * n)
        for o in 0..<s.outputs {
            let b = parameters[s.weightCount + o]
            for p in 0..<n { y[o * n + p] = b }
        }
        cols.withUnsafeBufferPointer { cp in
            y.withUnsafeMutableBufferPointer { yp in
                BLAS.sgemm(
                    m: s.outputs, n: n, k: r, a: parameters, lda: r, b: cp.baseAddress!, ldb: n, beta: 1,
                    c: yp.baseAddress!, ldc: n)
            }
        }
        return (y, cols)
    }

    /// Adds `dW = dY·colsᵀ` and `db = Σ_p dY` to `gradients` (at the layer's offset) and returns `dX` (col2im of
    /// `Wᵀ·dY`), or an empty array when `inputGradient` is false (the first layer).
    public static func backward(
        _ s: ConvShape, parameters: UnsafePointer<Float>, cols: [Float], dy: [Float], height h: Int, width w: Int,
        gradients: UnsafeMutablePointer<Float>, inputGradient: Bool = true
    ) -> [Float] {
        let oh = s.outputSize(h), ow = s.outputSize(w), n = oh * ow, r = s.inputs * s.kernel * s.kernel
        precondition(dy.count == s.outputs * n && cols.count == r * n, "ConvTraining.backward: sizes")
        dy.withUnsafeBufferPointer { dp in
            cols.withUnsafeBufferPointer { cp in
                BLAS.sgemm(
                    transposeB: true, m: s.outputs, n: r, k: n, a: dp.baseAddress!, lda: n, b: cp.baseAddress!, ldb: n,
                    beta: 1, c: gradients, ldc: r)
            }
        }
        for o in 0..<s.outputs {
            var sum: Float = 0
            for p in 0..<n { sum += dy[o * n + p] }
            gradients[s.weightCount + o] += sum
        }
        guard inputGradient else { return [] }
        var dcols = [Float](repeating: 0, count: r * n)
        dy.withUnsafeBufferPointer { dp in
            dcols.withUnsafeMutableBufferPointer { cp in
                BLAS.sgemm(
                    transposeA: true, m: r, n: n, k: s.outputs, a: parameters, lda: r, b: dp.baseAddress!, ldb: n,
                    c: cp.baseAddress!, ldc: n)
            }
        }
        return col2im(dcols, channels: s.inputs, height: h, width: w, shape: s)
    }

    /// The adjoint of im2col: every column entry is added back to the input pixel it was copied from.
    public static func col2im(_ cols: [Float], channels: Int, height h: Int, width w: Int, shape s: ConvShape) -> [Float] {
        let oh = s.outputSize(h), ow = s.outputSize(w), n = oh * ow
        var dx = [Float](repeating: 0, count: channels * h * w)
        cols.withUnsafeBufferPointer { cp in
            dx.withUnsafeMutableBufferPointer { xp in
                for c in 0..<channels {
                    let plane = xp.baseAddress! + c * h * w
                    for ky in 0..<s.kernel {
                        for kx in 0..<s.kernel {
                            let row = cp.baseAddress! + ((c * s.kernel + ky) * s.kernel + kx) * n
                            for oy in 0..<oh {
                                let iy = oy * s.stride - s.padding + ky
                                if iy < 0 || iy >= h { continue }
                                for ox in 0..<ow {
                                    let ix = ox * s.stride - s.padding + kx
                                    if ix < 0 || ix >= w { continue }
                                    plane[iy * w + ix] += row[oy * ow + ox]
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// Per-sample elementwise and pooling operations with their backward passes.
public enum TrainingOps {
    public static func sigmoid(_ z: Float) -> Float { 1 / (1 + exp(-z)) }

    /// Mean of each channel's plane.
    public static func globalAveragePool(_ x: [Float], channels: Int) -> [Float] {
        let n = x.count / channels
        return (0..<channels).map { c in
            var s: Float = 0
            for p in 0..<n { s += x[c * n + p] }
            return s / Float(n)
        }
    }

    /// Adds the gradient of a global average pool (spread evenly over each plane) to `dx`.
    public static func globalAveragePoolBackward(_ dg: [Float], into dx: inout [Float]) {
        let n = dx.count / dg.count
        for c in dg.indices {
            let v = dg[c] / Float(n)
            for p in 0..<n { dx[c * n + p] += v }
        }
    }

    /// Nearest-neighbour upsampling by 2 in both directions.
    public static func upsample2(_ x: [Float], channels: Int, height h: Int, width w: Int) -> [Float] {
        var y = [Float](repeating: 0, count: channels * 4 * h * w)
        let w2 = 2 * w
        for c in 0..<channels {
            for yy in 0..<(2 * h) {
                for xx in 0..<w2 { y[(c * 2 * h + yy) * w2 + xx] = x[(c * h + yy / 2) * w + xx / 2] }
            }
        }
        return y
    }

    public static func upsample2Backward(_ dy: [Float], channels: Int, height h: Int, width w: Int) -> [Float] {
        var dx = [Float](repeating: 0, count: channels * h * w)
        let w2 = 2 * w
        for c in 0..<channels {
            for yy in 0..<(2 * h) {
                for xx in 0..<w2 { dx[(c * h + yy / 2) * w + xx / 2] += dy[(c * 2 * h + yy) * w2 + xx] }
            }
        }
        return dx
    }

    /// `y = W·x + b` with `W` stored `[outputs][inputs]` at `parameters`, then `outputs` biases.
    public static func dense(_ x: [Float], outputs: Int, parameters p: UnsafePointer<Float>) -> [Float] {
        let n = x.count
        return (0..<outputs).map { o in
            var s = p[outputs * n + o]
            for i in 0..<n { s += p[o * n + i] * x[i] }
            return s
        }
    }

    /// Adds the dense layer's parameter gradients and returns `dx`.
    public static func denseBackward(_ x: [Float], _ dy: [Float], parameters p: UnsafePointer<Float>, gradients g: UnsafeMutablePointer<Float>)
        -> [Float]
    {
        let n = x.count, m = dy.count
        var dx = [Float](repeating: 0, count: n)
        for o in 0..<m {
            let d = dy[o]
            if d == 0 { continue }
            g[m * n + o] += d
            for i in 0..<n {
                g[o * n + i] += d * x[i]
                dx[i] += d * p[o * n + i]
            }
        }
        return dx
    }
}

/// Attention-based feature decomposition: a soft mask `m = σ(channel logit + spatial logit)` splits a feature map
/// `f` into identity features `f·m` and residual features `f·(1 − m)`, so the two parts always add back to `f`.
/// Channel logits come from a dense layer on the channel means (what kind of feature), spatial logits from a 1×1
/// convolution (where in the face). Parameters: channel dense `[C][C]` + `C` biases, then spatial `C` weights + 1 bias.
public struct DecompositionShape: Sendable, Equatable, Codable {
    public let channels: Int
    public init(channels: Int) { self.channels = channels }
    public var parameterCount: Int { channels * channels + channels + channels + 1 }

    public struct Output: Sendable {
        public var identity: [Float]
        public var residual: [Float]
        public var mask: [Float]
        public var pooled: [Float]
    }

    public func forward(_ f: [Float], parameters p: UnsafePointer<Float>) -> Output {
        let c = channels, n = f.count / c
        let g = TrainingOps.globalAveragePool(f, channels: c)
        let zc = TrainingOps.dense(g, outputs: c, parameters: p)
        let ws = p + c * c + c
        var zs = [Float](repeating: ws[c], count: n)
        for ch in 0..<c {
            let w = ws[ch]
            for q in 0..<n { zs[q] += w * f[ch * n + q] }
        }
        var id = f, res = f, mask = f
        for ch in 0..<c {
            for q in 0..<n {
                let m = TrainingOps.sigmoid(zc[ch] + zs[q])
                mask[ch * n + q] = m
                id[ch * n + q] = f[ch * n + q] * m
                res[ch * n + q] = f[ch * n + q] * (1 - m)
            }
        }
        return Output(identity: id, residual: res, mask: mask, pooled: g)
    }

    /// Adds the parameter gradients and returns `df` given the gradients of both parts.
    public func backward(
        _ f: [Float], _ out: Output, dIdentity: [Float], dResidual: [Float], parameters p: UnsafePointer<Float>,
        gradients gr: UnsafeMutablePointer<Float>
    ) -> [Float] {
        let c = channels, n = f.count / c
        var df = [Float](repeating: 0, count: f.count)
        var dzc = [Float](repeating: 0, count: c)
        var dzs = [Float](repeating: 0, count: n)
        for i in 0..<f.count {
            let m = out.mask[i]
            df[i] = dIdentity[i] * m + dResidual[i] * (1 - m)
            let dz = (dIdentity[i] - dResidual[i]) * f[i] * m * (1 - m)
            dzc[i / n] += dz
            dzs[i % n] += dz
        }
        let dg = TrainingOps.denseBackward(out.pooled, dzc, parameters: p, gradients: gr)
        TrainingOps.globalAveragePoolBackward(dg, into: &df)
        let ws = p + c * c + c, gs = gr + c * c + c
        for ch in 0..<c {
            var s: Float = 0
            let w = ws[ch]
            for q in 0..<n {
                s += f[ch * n + q] * dzs[q]
                df[ch * n + q] += w * dzs[q]
            }
            gs[ch] += s
        }
        gs[c] += dzs.reduce(0, +)
        return df
    }
}
