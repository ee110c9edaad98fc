internal import CFFmpeg

extension Frame {
    /// Whether `subtractRGBDifference` can edit this frame (8-bit 4:2:0 planar Y′CbCr).
    public var isEditable420: Bool {
        let f = AVPixelFormat(rawValue: pointer.pointee.format)
        return f == AV_PIX_FMT_YUV420P || f == AV_PIX_FMT_YUVJ420P
    }

    /// Subtracts an RGB difference from the pixels at `positions` (coded-picture coordinates), converted to
    /// Y′CbCr with the frame's matrix (BT.709 when tagged so, BT.601 otherwise) and range (full for JPEG formats
    /// and full-range tags, limited otherwise). Each chroma sample takes the mean of the differences of the luma
    /// positions it covers that are listed. The frame is made writable first (decoders share their buffers).
    /// - Parameter rgb: three values (R, G, B) per position, in 8-bit levels.
    public func subtractRGBDifference(at positions: [(x: Int, y: Int)], rgb: [Float]) throws {
        precondition(rgb.count == positions.count * 3, "subtractRGBDifference: three values per position")
        guard isEditable420 else {
            throw MediaError.frameNotEditable(
                pixelFormat: av_get_pix_fmt_name(AVPixelFormat(rawValue: pointer.pointee.format)).map { String(cString: $0) } ?? "?")
        }
        try check(av_frame_make_writable(pointer), "av_frame_make_writable")
        let f = pointer.pointee
        let w = Int(f.width), h = Int(f.height)
        let bt709 = f.colorspace == AVCOL_SPC_BT709
        let (kr, kb): (Float, Float) = bt709 ? (0.2126, 0.0722) : (0.299, 0.114)
        let kg = 1 - kr - kb
        let full = f.color_range == AVCOL_RANGE_JPEG || AVPixelFormat(rawValue: f.format) == AV_PIX_FMT_YUVJ420P
        let sy: Float = full ? 1 : 219.0 / 255.0, sc: Float = full ? 1 : 224.0 / 255.0
        let cw = (w + 1) / 2, ch = (h + 1) / 2
        var cb = [Float](repeating: 0, count: cw * ch), cr = cb, n = cb
        let yPlane = f.data.0!, yStride = Int(f.linesize.0)
        for (i, p) in positions.enumerated() where p.x >= 0 && p.x < w && p.y >= 0 && p.y < h {
            let r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2]
            let luma = kr * r + kg * g + kb * b
            let o = p.y * yStride + p.x
            yPlane[o] = UInt8(clamping: Int((Float(yPlane[o]) - sy * luma).rounded()))
            let c = (p.y / 2) * cw + p.x / 2
            cb[c] += sc * (b - luma) / (2 * (1 - kb))
            cr[c] += sc * (r - luma) / (2 * (1 - kr))
            n[c] += 1
        }
        let uPlane = f.data.1!, vPlane = f.data.2!, uStride = Int(f.linesize.1), vStride = Int(f.linesize.2)
        for c in n.indices where n[c] > 0 {
            let x = c % cw, y = c / cw
            let uo = y * uStride + x, vo = y * vStride + x
            uPlane[uo] = UInt8(clamping: Int((Float(uPlane[uo]) - cb[c] / n[c]).rounded()))
            vPlane[vo] = UInt8(clamping: Int((Float(vPlane[vo]) - cr[c] / n[c]).rounded()))
        }
    }
}
