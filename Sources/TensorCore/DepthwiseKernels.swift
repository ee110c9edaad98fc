// Kernels for mobile-style networks: depthwise convolution and the scatter half of transposed convolution.
// Each has a naive reference in _TestSupport and is tested against it.

/// Depthwise convolution: every channel convolved with its own `kh×kw` filter, CHW, zero padding.
///
/// ```
/// dst[c][oy][ox] = bias[c] + Σ_{ky,kx} w[c][ky][kx] · src[c][oy·sy − py + ky][ox·sx − px + kx]
/// ```
/// (then `max(·, 0)` when `relu`). A grouped convolution with one input and one output channel per group. im2col +
/// sgemm would be a product of one row per channel, so this runs directly: each channel is first copied into
/// `sx` zero-padded column phases (phase p holds the padded input's columns p, p + sx, p + 2·sx, …), so that every
/// tap is one bounds-free, contiguous multiply-add along an output row — strided and border taps vectorise like
/// the rest. The copy is one pass over the input; the taps are kh·kw passes over rows that stay in L1.
public func depthwiseConvolution(
    _ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    kernelH kh: Int, kernelW kw: Int, strideY sy: Int, strideX sx: Int, padY py: Int, padX px: Int,
    relu: Bool = false, into dst: UnsafeMutablePointer<Float>
) {
    let oh = outputSize(input: height, kernel: kh, stride: sy, padding: py)
    let ow = outputSize(input: width, kernel: kw, stride: sx, padding: px)
    guard oh > 0, ow > 0 else { return }
    let band = DepthwiseBand(
        height: height, width: width, kernelH: kh, kernelW: kw, strideY: sy, strideX: sx, padTop: py, padX: px, outputRows: oh)
    nonisolated(unsafe) let s = src, w = weights, b = bias, d = dst
    let threads = min(BLAS.threads, channels)
    let parts = threads > 1 && channels * oh * ow * kh * kw >= 1 << 18 ? threads : 1
    forEachPart(of: channels, parts: parts) { _, range in
        let phases = UnsafeMutablePointer<Float>.allocate(capacity: band.scratchCount)
        defer { phases.deallocate() }
        band.run(
            s + range.lowerBound * height * width, channelStride: height * width, channels: range.count,
            weights: w + range.lowerBound * kh * kw, bias: b.map { $0 + range.lowerBound }, relu: relu,
            scratch: phases, into: d + range.lowerBound * oh * ow)
    }
}

/// A depthwise convolution over a band of rows, on the calling thread: the building block of
/// `depthwiseConvolution` and of mobile networks' fused blocks, which convolve a few rows of a freshly expanded
/// feature map while it is in cache.
///
/// The band's input is `height` rows of `width` (channel c at `src + c·channelStride`); output row j reads input
/// rows `j·strideY − padTop + ky`, and rows outside the band read zeros (so a band in the middle of a picture has
/// `padTop` 0 and carries the rows its taps need). `outputRows` rows of `outputSize(width, …)` columns are written
/// per channel, channels one after another.
public struct DepthwiseBand: Sendable {
    fileprivate let layout: PhaseLayout
    /// Floats of scratch `run` needs.
    public var scratchCount: Int { layout.count }

    public init(
        height: Int, width: Int, kernelH kh: Int, kernelW kw: Int, strideY sy: Int, strideX sx: Int, padTop: Int, padX px: Int,
        outputRows: Int
    ) {
        let ow = outputSize(input: width, kernel: kw, stride: sx, padding: px)
        layout = PhaseLayout(
            height: height, width: width, kh: kh, kw: kw, sy: sy, sx: sx, py: padTop, px: px, oh: outputRows, ow: ow)
    }

    public func run(
        _ src: UnsafePointer<Float>, channelStride: Int, channels: Int, weights: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, relu: Bool, scratch: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>
    ) {
        guard layout.oh > 0, layout.ow > 0 else { return }
        let taps = layout.kh * layout.kw, outPlane = layout.oh * layout.ow
        for c in 0..<channels {
            layout.fill(scratch, from: src + c * channelStride)
            layout.convolve(scratch, weights: weights + c * taps, bias: bias?[c] ?? 0, relu: relu, into: dst + c * outPlane)
        }
    }
}

/// One channel's padded input split into `sx` column phases: phase p, row r, column j holds the padded input at
/// row r, column j·sx + p, i.e. the input at (r − py, j·sx + p − px), or 0 outside it. Tap (ky, kx) of output
/// (oy, ox) reads padded (oy·sy + ky, ox·sx + kx) = phase kx % sx, row oy·sy + ky, column ox + kx / sx.
private struct PhaseLayout: Sendable {
    let height, width, kh, kw, sy, sx, py, px, oh, ow: Int
    /// Padded rows read by some output, and columns per phase row.
    let rows, columns: Int

    init(height: Int, width: Int, kh: Int, kw: Int, sy: Int, sx: Int, py: Int, px: Int, oh: Int, ow: Int) {
        (self.height, self.width, self.kh, self.kw, self.sy, self.sx, self.py, self.px, self.oh, self.ow) =
            (height, width, kh, kw, sy, sx, py, px, oh, ow)
        rows = (oh - 1) * sy + kh
        columns = ow + (kw - 1) / sx
    }

    var count: Int { sx * rows * columns }

    func fill(_ phases: UnsafeMutablePointer<Float>, from plane: UnsafePointer<Float>) {
        if sx == 2 && px == 1 {
            fillStride2Pad1(phases, from: plane)
            return
        }
        for p in 0..<sx {
            // Phase columns j whose input column j·sx + p − px lies inside [0, width): [lo, hi).
            let first = px - p  // j·sx ≥ first
            let lo = first <= 0 ? 0 : min(columns, (first + sx - 1) / sx)
            let hi = max(lo, min(columns, width - 1 + px - p < 0 ? 0 : (width - 1 + px - p) / sx + 1))
            for r in 0..<rows {
                let row = phases + (p * rows + r) * columns
                let iy = r - py
                guard iy >= 0 && iy < height else {
                    row.update(repeating: 0, count: columns)
                    continue
                }
                if lo > 0 { row.update(repeating: 0, count: lo) }
                let input = plane + iy * width + p - px
                if sx == 1 {
                    (row + lo).update(from: input + lo, count: hi - lo)
                } else {
                    for j in lo..<hi { row[j] = input[j * sx] }
                }
                if hi < columns { (row + hi).update(repeating: 0, count: columns - hi) }
            }
        }
    }

    /// `fill` for stride 2, padding 1 (MobileNet's downsampling layers) in one pass per input row: padded column
    /// 2j is input column 2j − 1 (phase 0), padded column 2j + 1 is input column 2j (phase 1).
    private func fillStride2Pad1(_ phases: UnsafeMutablePointer<Float>, from plane: UnsafePointer<Float>) {
        let even = phases, odd = phases + rows * columns
        for r in 0..<rows {
            let e = even + r * columns, o = odd + r * columns
            let iy = r - py
            guard iy >= 0 && iy < height else {
                e.update(repeating: 0, count: columns)
                o.update(repeating: 0, count: columns)
                continue
            }
            let input = plane + iy * width
            e[0] = 0
            let pairs = min(columns - 1, (width - 1) / 2)  // j ≥ 1 with both 2j − 1 and 2j − 2 inside
            for j in 0..<pairs {
                o[j] = input[2 * j]
                e[j + 1] = input[2 * j + 1]
            }
            for j in pairs..<columns { o[j] = 2 * j < width ? input[2 * j] : 0 }
            for j in (pairs + 1)..<columns { e[j] = 2 * j - 1 < width ? input[2 * j - 1] : 0 }
        }
    }

    /// Where tap (ky, kx) of output row oy starts: the phase row holding padded row oy·sy + ky, at column kx / sx.
    private func tap(_ phases: UnsafePointer<Float>, _ oy: Int, _ ky: Int, _ kx: Int) -> UnsafePointer<Float> {
        phases + ((kx % sx) * rows + oy * sy + ky) * columns + kx / sx
    }

    func convolve(
        _ phases: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: Float, relu: Bool, into out: UnsafeMutablePointer<Float>
    ) {
        let n = ow
        if kh == 3 && kw == 3 {
            convolve3x3(phases, weights: weights, bias: bias, relu: relu, into: out)
            return
        }
        for oy in 0..<oh {
            let row = out + oy * ow
            row.update(repeating: bias, count: n)
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let wv = weights[ky * kw + kx]
                    let from = tap(phases, oy, ky, kx)
                    for ox in 0..<n { row[ox] += wv * from[ox] }
                }
            }
            if relu { for ox in 0..<n { row[ox] = max(row[ox], 0) } }
        }
    }

    /// The 3×3 case (every depthwise layer of MobileNet-style networks): all nine taps summed in registers in one
    /// pass per output row, instead of nine read-modify-write passes over it.
    private func convolve3x3(
        _ phases: UnsafePointer<Float>, weights w: UnsafePointer<Float>, bias: Float, relu: Bool, into out: UnsafeMutablePointer<Float>
    ) {
        let (w0, w1, w2, w3, w4, w5, w6, w7, w8) = (w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8])
        for oy in 0..<oh {
            let row = out + oy * ow
            let (a0, a1, a2) = (tap(phases, oy, 0, 0), tap(phases, oy, 0, 1), tap(phases, oy, 0, 2))
            let (b0, b1, b2) = (tap(phases, oy, 1, 0), tap(phases, oy, 1, 1), tap(phases, oy, 1, 2))
            let (c0, c1, c2) = (tap(phases, oy, 2, 0), tap(phases, oy, 2, 1), tap(phases, oy, 2, 2))
            for ox in 0..<ow {
                let top = w0 * a0[ox] + w1 * a1[ox] + w2 * a2[ox]
                let middle = w3 * b0[ox] + w4 * b1[ox] + w5 * b2[ox]
                let bottom = w6 * c0[ox] + w7 * c1[ox] + w8 * c2[ox]
                let v = bias + top + middle + bottom
                row[ox] = relu ? max(v, 0) : v
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
