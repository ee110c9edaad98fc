// Naive reference implementations: the independent oracle for the optimised kernels (dav1d's C-reference model).

/// Direct convolution, CHW, zero padding, `y[o][r][c] = b[o] + Σ W[o][i][ky][kx] · x[i][r·sy−py+ky][c·sx−px+kx]`.
public func referenceConvolution(
    input: [Float], channels: Int, height: Int, width: Int, weights: [Float], bias: [Float], outputs: Int,
    kernelH: Int, kernelW: Int, strideY: Int, strideX: Int, padY: Int, padX: Int
) -> (data: [Float], height: Int, width: Int) {
    let oh = (height + 2 * padY - kernelH) / strideY + 1
    let ow = (width + 2 * padX - kernelW) / strideX + 1
    var out = [Float](repeating: 0, count: outputs * oh * ow)
    for o in 0..<outputs {
        for r in 0..<oh {
            for c in 0..<ow {
                var s = Double(bias[o])
                for i in 0..<channels {
                    for ky in 0..<kernelH {
                        for kx in 0..<kernelW {
                            let y = r * strideY - padY + ky, x = c * strideX - padX + kx
                            guard y >= 0, y < height, x >= 0, x < width else { continue }
                            s += Double(weights[((o * channels + i) * kernelH + ky) * kernelW + kx]) * Double(input[(i * height + y) * width + x])
                        }
                    }
                }
                out[(o * oh + r) * ow + c] = Float(s)
            }
        }
    }
    return (out, oh, ow)
}

/// Triple-loop row-major matrix product `C = A(m×k) · B(k×n)`.
public func referenceMatrixProduct(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
            c[i * n + j] = Float(s)
        }
    }
    return c
}

/// Pooling with windows clipped to the input; average over the clipped window.
public func referencePool(
    _ x: [Float], channels: Int, height: Int, width: Int, kernel: Int, stride: Int, pad: Int,
    average: Bool
) -> (data: [Float], height: Int, width: Int) {
    let oh = (height + 2 * pad - kernel) / stride + 1, ow = (width + 2 * pad - kernel) / stride + 1
    var out = [Float](repeating: 0, count: channels * oh * ow)
    for ch in 0..<channels {
        for r in 0..<oh {
            for c in 0..<ow {
                var vals: [Float] = []
                for ky in 0..<kernel {
                    for kx in 0..<kernel {
                        let y = r * stride - pad + ky, xx = c * stride - pad + kx
                        if y >= 0, y < height, xx >= 0, xx < width { vals.append(x[(ch * height + y) * width + xx]) }
                    }
                }
                out[(ch * oh + r) * ow + c] = average ? vals.reduce(0, +) / Float(vals.count) : vals.max()!
            }
        }
    }
    return (out, oh, ow)
}

/// Seeded uniform floats in [-1, 1).
public func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -1..<1, using: &g) }
}

/// Largest absolute difference and where it is.
public func maxAbsDifference(_ a: [Float], _ b: [Float]) -> (value: Float, index: Int) {
    precondition(a.count == b.count, "maxAbsDifference: lengths \(a.count) vs \(b.count)")
    var worst: Float = 0, at = -1
    for i in a.indices where abs(a[i] - b[i]) > worst { worst = abs(a[i] - b[i]); at = i }
    return (worst, at)
}

/// Direct grouped convolution: output channel o of group g = o / (outputs / groups) sees input channels
/// g·(channels / groups) ..< (g + 1)·(channels / groups). Weights `[out][in / groups][kh][kw]`.
public func referenceGroupedConvolution(
    input: [Float], channels: Int, height: Int, width: Int, weights: [Float], bias: [Float], outputs: Int, groups: Int,
    kernel k: Int, stride s: Int, pad p: Int
) -> (data: [Float], height: Int, width: Int) {
    let oh = (height + 2 * p - k) / s + 1, ow = (width + 2 * p - k) / s + 1
    let gi = channels / groups, go = outputs / groups
    var out = [Float](repeating: 0, count: outputs * oh * ow)
    for o in 0..<outputs {
        let g = o / go
        for r in 0..<oh {
            for c in 0..<ow {
                var sum = Double(bias[o])
                for i in 0..<gi {
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let y = r * s - p + ky, x = c * s - p + kx
                            guard y >= 0, y < height, x >= 0, x < width else { continue }
                            sum += Double(weights[((o * gi + i) * k + ky) * k + kx]) * Double(input[((g * gi + i) * height + y) * width + x])
                        }
                    }
                }
                out[(o * oh + r) * ow + c] = Float(sum)
            }
        }
    }
    return (out, oh, ow)
}

/// Direct transposed convolution: every input value spreads `x · W[i][o][ky][kx]` to output
/// `(iy·s − p + ky, ix·s − p + kx)`. Weights `[in][out][kh][kw]`; output `(in − 1)·s − 2p + k + outputPadding`.
public func referenceTransposedConvolution(
    input: [Float], channels: Int, height: Int, width: Int, weights: [Float], bias: [Float], outputs: Int,
    kernel k: Int, stride s: Int, pad p: Int, outputPadding op: Int = 0
) -> (data: [Float], height: Int, width: Int) {
    let oh = (height - 1) * s - 2 * p + k + op, ow = (width - 1) * s - 2 * p + k + op
    var acc = [Double](repeating: 0, count: outputs * oh * ow)
    for o in 0..<outputs { for j in 0..<(oh * ow) { acc[o * oh * ow + j] = Double(bias[o]) } }
    for i in 0..<channels {
        for iy in 0..<height {
            for ix in 0..<width {
                let v = Double(input[(i * height + iy) * width + ix])
                for o in 0..<outputs {
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let y = iy * s - p + ky, x = ix * s - p + kx
                            guard y >= 0, y < oh, x >= 0, x < ow else { continue }
                            acc[(o * oh + y) * ow + x] += v * Double(weights[((i * outputs + o) * k + ky) * k + kx])
                        }
                    }
                }
            }
        }
    }
    return (acc.map { Float($0) }, oh, ow)
}
