import MediaIO

/// The prefilter's pixel edit: an RGB difference subtracted from a decoded frame's Y′CbCr planes.
enum RGBDifference {
    /// Subtracts an RGB difference from the pixels at `positions` (coded-picture coordinates), converted to Y′CbCr
    /// with the frame's matrix and range. Each chroma sample takes the mean of the differences of the listed luma
    /// positions it covers.
    /// - Parameter rgb: three values (R, G, B) per position, in 8-bit levels.
    static func subtract(from frame: Frame, at positions: [(x: Int, y: Int)], rgb: [Float]) throws {
        precondition(rgb.count == positions.count * 3, "RGBDifference: three values per position")
        try frame.withWritable420Planes { p in
            let w = p.width, h = p.height
            let (kr, kb): (Float, Float) = p.isBT709 ? (0.2126, 0.0722) : (0.299, 0.114)
            let kg = 1 - kr - kb
            let sy: Float = p.isFullRange ? 1 : 219.0 / 255.0, sc: Float = p.isFullRange ? 1 : 224.0 / 255.0
            let cw = (w + 1) / 2, ch = (h + 1) / 2
            var cb = [Float](repeating: 0, count: cw * ch), cr = cb, n = cb
            for (i, q) in positions.enumerated() where q.x >= 0 && q.x < w && q.y >= 0 && q.y < h {
                let r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2]
                let luma = kr * r + kg * g + kb * b
                let o = q.y * p.lumaStride + q.x
                p.luma[o] = UInt8(clamping: Int((Float(p.luma[o]) - sy * luma).rounded()))
                let c = (q.y / 2) * cw + q.x / 2
                cb[c] += sc * (b - luma) / (2 * (1 - kb))
                cr[c] += sc * (r - luma) / (2 * (1 - kr))
                n[c] += 1
            }
            for c in n.indices where n[c] > 0 {
                let x = c % cw, y = c / cw
                let uo = y * p.cbStride + x, vo = y * p.crStride + x
                p.cb[uo] = UInt8(clamping: Int((Float(p.cb[uo]) - cb[c] / n[c]).rounded()))
                p.cr[vo] = UInt8(clamping: Int((Float(p.cr[vo]) - cr[c] / n[c]).rounded()))
            }
        }
    }
}
