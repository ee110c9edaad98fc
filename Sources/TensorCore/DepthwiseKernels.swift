import Dispatch

// Kernels for mobile-style networks: depthwise convolution and the scatter half of transposed convolution.
// Each has a naive reference in _TestSupport and is tested against it.

/// Depthwise convolution: every channel convolved with its own `kh×kw` filter, CHW, zero padding.
///
/// ```
/// dst[c][oy][ox] = bias[c] + Σ_{ky,kx} w[c][ky][kx] · src[c][oy·sy − py + ky][ox·sx − px + kx]
/// ```
/// A grouped convolution with one input and one output channel per group. im2col + sgemm would be a product of
/// one row per channel, so this runs directly: for each output row and tap, one multiply-add along the row.
public func depthwiseConvolution(
    _ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    kernelH kh: Int, kernelW kw: Int, strideY sy: Int, strideX sx: Int, padY py: Int, padX px: Int,
    into dst: UnsafeMutablePointer<Float>
) {
    let oh = outputSize(input: height, kernel: kh, stride: sy, padding: py)
    let ow = outputSize(input: width, kernel: kw, stride: sx, padding: px)
    guard oh > 0, ow > 0 else { return }
    nonisolated(unsafe) let s = src, w = weights, b = bias, d = dst
    let channelsRun: @Sendable (Range<Int>) -> Void = { range in
        for c in range {
            depthwiseChannel(
                s + c * height * width, height: height, width: width, weights: w + c * kh * kw, bias: b?[c] ?? 0,
                kh: kh, kw: kw, sy: sy, sx: sx, py: py, px: px, oh: oh, ow: ow, into: d + c * oh * ow)
        }
    }
    let threads = min(BLAS.threads, channels)
    if threads > 1 && channels * oh * ow * kh * kw >= 1 << 18 {
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            channelsRun((channels * t / threads)..<(channels * (t + 1) / threads))
        }
    } else {
        channelsRun(0..<channels)
    }
}

private func depthwiseChannel(
    _ plane: UnsafePointer<Float>, height: Int, width: Int, weights: UnsafePointer<Float>, bias: Float,
    kh: Int, kw: Int, sy: Int, sx: Int, py: Int, px: Int, oh: Int, ow: Int, into out: UnsafeMutablePointer<Float>
) {
    for oy in 0..<oh {
        let row = out + oy * ow
        row.update(repeating: bias, count: ow)
        for ky in 0..<kh {
            let iy = oy * sy - py + ky
            guard iy >= 0 && iy < height else { continue }
            let input = plane + iy * width
            for kx in 0..<kw {
                let wv = weights[ky * kw + kx]
                // Output columns whose input column ox·sx − px + kx lies inside [0, width): [lo, hi).
                let x0 = kx - px
                let lo = x0 >= 0 ? 0 : min(ow, (-x0 + sx - 1) / sx)
                let hi = width - 1 - x0 < 0 ? 0 : min(ow, (width - 1 - x0) / sx + 1)
                guard hi > lo else { continue }
                if sx == 1 {
                    let from = input + x0
                    for ox in lo..<hi { row[ox] += wv * from[ox] }
                } else {
                    for ox in lo..<hi { row[ox] += wv * input[ox * sx + x0] }
                }
            }
        }
    }
}

/// The scatter step of a transposed convolution: adds each column of `cols` into the output positions it
/// covers (the adjoint of `im2col`).
///
/// ```
/// dst[c][iy·sy − py + ky][ix·sx − px + kx] += cols[(c·kh + ky)·kw + kx][iy·width + ix]   (skipped outside dst)
/// ```
/// `cols` has `channels·kh·kw` rows of `height·width` (the input's size); `dst` is `channels × outH × outW` and is
/// added to, so it should hold the bias (or zeros) first.
public func col2imAdd(
    _ cols: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    kernelH kh: Int, kernelW kw: Int, strideY sy: Int, strideX sx: Int, padY py: Int, padX px: Int,
    outputHeight outH: Int, outputWidth outW: Int, into dst: UnsafeMutablePointer<Float>
) {
    let n = height * width
    for c in 0..<channels {
        let plane = dst + c * outH * outW
        for ky in 0..<kh {
            for kx in 0..<kw {
                let col = cols + ((c * kh + ky) * kw + kx) * n
                for iy in 0..<height {
                    let oy = iy * sy - py + ky
                    guard oy >= 0 && oy < outH else { continue }
                    let outRow = plane + oy * outW, inRow = col + iy * width
                    for ix in 0..<width {
                        let ox = ix * sx - px + kx
                        if ox >= 0 && ox < outW { outRow[ox] += inRow[ix] }
                    }
                }
            }
        }
    }
}
