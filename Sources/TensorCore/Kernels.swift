// Optimised kernels on raw buffers. Each has a naive reference in _TestSupport and is tested against it.

/// Unrolls the windows of a CHW input into columns for convolution as one matrix product.
///
/// ```
/// cols[(c·kh + ky)·kw + kx][oy·ow + ox] = src[c][oy·sy − py + ky][ox·sx − px + kx]   (0 outside the input)
/// ```
/// Only output rows `rowStart ..< rowStart + rowCount` are written (tiling keeps the buffer small for large inputs);
/// `cols` then has `rowCount · ow` columns.
public func im2col(
    _ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    kernelH kh: Int, kernelW kw: Int, strideY sy: Int, strideX sx: Int, padY py: Int, padX px: Int,
    outputWidth ow: Int, rowStart: Int, rowCount: Int, into cols: UnsafeMutablePointer<Float>
) {
    // Channels write disjoint rows of `cols`, so large inputs are split over the process's kernel threads.
    let threads = min(BLAS.threads, channels)
    let parts = threads > 1 && channels * kh * kw * rowCount * ow >= 1 << 20 ? threads : 1
    nonisolated(unsafe) let s = src, d = cols
    forEachPart(of: channels, parts: parts) { _, range in
        im2colChannels(
            s, range, height: height, width: width, kh: kh, kw: kw, sy: sy, sx: sx, py: py, px: px,
            ow: ow, rowStart: rowStart, rowCount: rowCount, cols: d)
    }
}

private func im2colChannels(
    _ src: UnsafePointer<Float>, _ channelRange: Range<Int>, height: Int, width: Int, kh: Int, kw: Int, sy: Int, sx: Int,
    py: Int, px: Int, ow: Int, rowStart: Int, rowCount: Int, cols: UnsafeMutablePointer<Float>
) {
    let ncols = rowCount * ow
    for c in channelRange {
        let plane = src + c * height * width
        for ky in 0..<kh {
            for kx in 0..<kw {
                var dst = cols + ((c * kh + ky) * kw + kx) * ncols
                for oy in rowStart..<(rowStart + rowCount) {
                    let iy = oy * sy - py + ky
                    if iy < 0 || iy >= height {
                        dst.update(repeating: 0, count: ow)
                        dst += ow
                        continue
                    }
                    let row = plane + iy * width
                    // Output columns whose input column ox·sx − px + kx lies inside [0, width): [lo, hi).
                    let x0 = kx - px
                    let lo = x0 >= 0 ? 0 : min(ow, (-x0 + sx - 1) / sx)
                    let hi = width - 1 - x0 < 0 ? 0 : min(ow, (width - 1 - x0) / sx + 1)
                    if lo > 0 { dst.update(repeating: 0, count: lo) }
                    if hi > lo {
                        if sx == 1 {
                            (dst + lo).update(from: row + x0 + lo, count: hi - lo)
                        } else {
                            var src = row + x0 + lo * sx
                            for ox in lo..<hi {
                                dst[ox] = src.pointee
                                src += sx
                            }
                        }
                    }
                    if hi < ow { (dst + max(hi, lo)).update(repeating: 0, count: ow - max(hi, lo)) }
                    dst += ow
                }
            }
        }
    }
}

/// Applies `y = x·scale[c] + shift[c]` per channel, in place.
public func affineInPlace(
    _ x: UnsafeMutablePointer<Float>, channels: Int, planeSize: Int,
    scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
) {
    for c in 0..<channels {
        let p = x + c * planeSize
        let s = scale[c], b = shift[c]
        for i in 0..<planeSize { p[i] = p[i] * s + b }
    }
}

/// `max(x, 0)` in place.
public func reluInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
    // Branch-free so the compiler vectorises it.
    for i in 0..<count { x[i] = max(x[i], 0) }
}

/// `y = max(x·scale[c] + shift[c], 0)` per channel, in place: affine and relu in one pass over memory.
public func affineReluInPlace(
    _ x: UnsafeMutablePointer<Float>, channels: Int, planeSize: Int,
    scale: UnsafePointer<Float>, shift: UnsafePointer<Float>
) {
    for c in 0..<channels {
        let p = x + c * planeSize
        let s = scale[c], b = shift[c]
        for i in 0..<planeSize { p[i] = max(p[i] * s + b, 0) }
    }
}

/// Max or average pooling with windows clipped to the input (padding never counts towards an average).
/// `kernel 0` means the whole plane.
public func pool(
    _ src: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
    kernelH: Int, kernelW: Int, strideY: Int, strideX: Int, padY: Int, padX: Int,
    average: Bool, into dst: UnsafeMutablePointer<Float>
) {
    let kh = kernelH == 0 ? height : kernelH, kw = kernelW == 0 ? width : kernelW
    let oh = outputSize(input: height, kernel: kh, stride: strideY, padding: padY)
    let ow = outputSize(input: width, kernel: kw, stride: strideX, padding: padX)
    for c in 0..<channels {
        let plane = src + c * height * width
        let out = dst + c * oh * ow
        for oy in 0..<oh {
            let y0 = max(0, oy * strideY - padY), y1 = min(height, oy * strideY - padY + kh)
            for ox in 0..<ow {
                let x0 = max(0, ox * strideX - padX), x1 = min(width, ox * strideX - padX + kw)
                if average {
                    var s: Float = 0
                    for y in y0..<y1 { for x in x0..<x1 { s += plane[y * width + x] } }
                    let n = (y1 - y0) * (x1 - x0)
                    out[oy * ow + ox] = n > 0 ? s / Float(n) : 0
                } else {
                    var m = -Float.infinity
                    for y in y0..<y1 { for x in x0..<x1 { m = max(m, plane[y * width + x]) } }
                    out[oy * ow + ox] = m
                }
            }
        }
    }
}

/// Adds two CHW tensors of possibly different shapes into `dst` of the element-wise maximum shape;
/// each input counts only where it exists (implicit zero padding at the high end of every axis, as dlib's add_prev).
public func addZeroPadded(
    _ a: UnsafePointer<Float>, _ ac: Int, _ ah: Int, _ aw: Int,
    _ b: UnsafePointer<Float>, _ bc: Int, _ bh: Int, _ bw: Int,
    into dst: UnsafeMutablePointer<Float>
) {
    let c = max(ac, bc), h = max(ah, bh), w = max(aw, bw)
    if ac == bc && ah == bh && aw == bw {
        for i in 0..<(c * h * w) { dst[i] = a[i] + b[i] }
        return
    }
    dst.update(repeating: 0, count: c * h * w)
    for k in 0..<ac { for y in 0..<ah { for x in 0..<aw { dst[(k * h + y) * w + x] += a[(k * ah + y) * aw + x] } } }
    for k in 0..<bc { for y in 0..<bh { for x in 0..<bw { dst[(k * h + y) * w + x] += b[(k * bh + y) * bw + x] } } }
}
