internal import CFFmpeg
import TensorCore

/// libjpeg's default decoding colour path, applied to the YCbCr planes FFmpeg decoded: "fancy" (triangular)
/// chroma upsampling and fixed-point YCbCr→RGB with 16 fractional bits (IJG jdsample.c / jdcolor.c behaviour).
enum LibjpegColor {
    /// nil when the frame is not full-range 8-bit YCbCr 4:2:0, 4:2:2 or 4:4:4.
    static func rgb(_ frame: Frame) -> RGBImage? {
        let f = frame.pointer
        let fmt = AVPixelFormat(rawValue: f.pointee.format)
        let (hs, vs): (Int, Int)
        switch fmt {
        case AV_PIX_FMT_YUVJ420P: (hs, vs) = (2, 2)
        case AV_PIX_FMT_YUVJ422P: (hs, vs) = (2, 1)
        case AV_PIX_FMT_YUVJ444P: (hs, vs) = (1, 1)
        default: return nil
        }
        return rgb(
            y: f.pointee.data.0!, yStride: Int(f.pointee.linesize.0), cb: f.pointee.data.1!, cr: f.pointee.data.2!,
            cStride: Int(f.pointee.linesize.1), chromaStrideCr: Int(f.pointee.linesize.2), width: frame.width, height: frame.height,
            hs: hs, vs: vs)
    }

    /// RGB from full-range YCbCr planes with chroma subsampled by `hs`×`vs`.
    static func rgb(
        y yPlane: UnsafeMutablePointer<UInt8>, yStride: Int, cb cbPlane: UnsafeMutablePointer<UInt8>,
        cr crPlane: UnsafeMutablePointer<UInt8>, cStride: Int, chromaStrideCr: Int? = nil, width w: Int, height h: Int,
        hs: Int, vs: Int
    ) -> RGBImage {
        let cw = (w + hs - 1) / hs, ch = (h + vs - 1) / vs
        let cb = upsample(cbPlane, stride: cStride, width: cw, height: ch, hs: hs, vs: vs)
        let cr = upsample(crPlane, stride: chromaStrideCr ?? cStride, width: cw, height: ch, hs: hs, vs: vs)
        let uw = cw * hs
        // Tables as jdcolor.c builds them (FIX(x) = x·2^16 rounded; ONE_HALF = 2^15).
        func fix(_ x: Double) -> Int { Int(x * 65536 + 0.5) }
        var crR = [Int](repeating: 0, count: 256), cbB = crR, crG = crR, cbG = crR
        for i in 0..<256 {
            let x = i - 128
            crR[i] = (fix(1.40200) * x + 32768) >> 16
            cbB[i] = (fix(1.77200) * x + 32768) >> 16
            crG[i] = -fix(0.71414) * x
            cbG[i] = -fix(0.34414) * x + 32768
        }
        var out = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let Y = Int(yPlane[y * yStride + x])
                let b = Int(cb[y * uw + x]), r = Int(cr[y * uw + x])
                let o = (y * w + x) * 3
                out[o] = UInt8(clamping: Y + crR[r])
                out[o + 1] = UInt8(clamping: Y + ((cbG[b] + crG[r]) >> 16))
                out[o + 2] = UInt8(clamping: Y + cbB[b])
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }

    /// Upsamples one chroma plane to (width·hs) × (height·vs) with libjpeg's fancy upsampling; edge rows and
    /// columns are replicated as libjpeg's context rows do.
    static func upsample(_ p: UnsafeMutablePointer<UInt8>, stride: Int, width: Int, height: Int, hs: Int, vs: Int) -> [UInt8] {
        let ow = width * hs
        var out = [UInt8](repeating: 0, count: ow * height * vs)
        if hs == 1 && vs == 1 {
            for y in 0..<height { for x in 0..<width { out[y * ow + x] = p[y * stride + x] } }
            return out
        }
        for r in 0..<height {
            for v in 0..<vs {
                // Column sums: h2v2 mixes this row (×3) with the row above (v = 0) or below (v = 1); h2v1 uses the row ×4.
                var sums = [Int](repeating: 0, count: width)
                let row = p + r * stride
                if vs == 2 {
                    let nr = v == 0 ? max(r - 1, 0) : min(r + 1, height - 1)
                    let other = p + nr * stride
                    for c in 0..<width { sums[c] = Int(row[c]) * 3 + Int(other[c]) }
                } else {
                    for c in 0..<width { sums[c] = Int(row[c]) }
                }
                let o = (r * vs + v) * ow
                if vs == 2 {
                    // h2v2: (3·this + neighbour + 8 or 7) >> 4, edges (4·this + 8 or 7) >> 4
                    if width == 1 {
                        out[o] = UInt8((sums[0] * 4 + 8) >> 4); out[o + 1] = UInt8((sums[0] * 4 + 7) >> 4)
                        continue
                    }
                    out[o] = UInt8((sums[0] * 4 + 8) >> 4)
                    out[o + 1] = UInt8((sums[0] * 3 + sums[1] + 7) >> 4)
                    for c in 1..<(width - 1) {
                        out[o + 2 * c] = UInt8((sums[c] * 3 + sums[c - 1] + 8) >> 4)
                        out[o + 2 * c + 1] = UInt8((sums[c] * 3 + sums[c + 1] + 7) >> 4)
                    }
                    out[o + 2 * width - 2] = UInt8((sums[width - 1] * 3 + sums[width - 2] + 8) >> 4)
                    out[o + 2 * width - 1] = UInt8((sums[width - 1] * 4 + 7) >> 4)
                } else {
                    // h2v1: (3·this + neighbour + 1 or 2) >> 2, edge pixels copied
                    if width == 1 { out[o] = UInt8(sums[0]); out[o + 1] = UInt8(sums[0]); continue }
                    out[o] = UInt8(sums[0])
                    out[o + 1] = UInt8((sums[0] * 3 + sums[1] + 2) >> 2)
                    for c in 1..<(width - 1) {
                        out[o + 2 * c] = UInt8((sums[c] * 3 + sums[c - 1] + 1) >> 2)
                        out[o + 2 * c + 1] = UInt8((sums[c] * 3 + sums[c + 1] + 2) >> 2)
                    }
                    out[o + 2 * width - 2] = UInt8((sums[width - 1] * 3 + sums[width - 2] + 1) >> 2)
                    out[o + 2 * width - 1] = UInt8(sums[width - 1])
                }
            }
        }
        return out
    }
}
