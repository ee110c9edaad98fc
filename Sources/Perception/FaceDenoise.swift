import Foundation
import TensorCore

/// The classical baseline for the JND image: an edge-preserving (bilateral) denoise of the face crop, its strength
/// chosen per face as the strongest that keeps the FR descriptor within a margin of the original's.
///
/// ```
/// out(p) = Σ_q w(p, q) · in(q) / Σ_q w(p, q),   q in the (2r + 1)² window around p (clamped at the border)
/// w(p, q) = exp(−|p − q|² / 2σs²) · exp(−‖in(p) − in(q)‖² / 2σr²)      ‖·‖ over the three colour channels
/// ```
/// Flat skin (small colour differences) is averaged, edges (eyes, brows, mouth, the face outline) are kept; σr, the
/// range σ in 8-bit levels, is the strength. What it removes is sensor noise and fine texture, which cost the codec
/// most at the low QPs faces are encoded with.
public enum FaceDenoise {
    /// Spatial σ in pixels and the window's radius (3σ would be 4.5; the outer weights are below 2%).
    public static let spatialSigma: Float = 1.5
    public static let radius = 3
    /// Range σ of each strength, weakest first; strength 0 is no filtering.
    public static let ladder: [Float] = [2, 3, 4, 6, 8, 11, 15, 20, 28, 40]

    /// The bilateral filter of `image` with range σ `rangeSigma` (levels).
    public static func filter(_ image: RGBImage, rangeSigma: Float) -> RGBImage {
        let w = image.width, h = image.height, r = radius
        guard w > 0, h > 0, rangeSigma > 0 else { return image }
        var spatial = [Float](repeating: 0, count: (2 * r + 1) * (2 * r + 1))
        for dy in -r...r {
            for dx in -r...r { spatial[(dy + r) * (2 * r + 1) + dx + r] = exp(-Float(dx * dx + dy * dy) / (2 * spatialSigma * spatialSigma)) }
        }
        let inverse = 1 / (2 * rangeSigma * rangeSigma)
        let src = image.pixels.map(Float.init)
        var out = image
        out.pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                for x in 0..<w {
                    let p = 3 * (y * w + x)
                    let r0 = src[p], g0 = src[p + 1], b0 = src[p + 2]
                    var sr: Float = 0, sg: Float = 0, sb: Float = 0, sw: Float = 0
                    for dy in -r...r {
                        let yy = min(h - 1, max(0, y + dy))
                        for dx in -r...r {
                            let xx = min(w - 1, max(0, x + dx))
                            let q = 3 * (yy * w + xx)
                            let dr = src[q] - r0, dg = src[q + 1] - g0, db = src[q + 2] - b0
                            let wt = spatial[(dy + r) * (2 * r + 1) + dx + r] * exp(-(dr * dr + dg * dg + db * db) * inverse)
                            sr += wt * src[q]
                            sg += wt * src[q + 1]
                            sb += wt * src[q + 2]
                            sw += wt
                        }
                    }
                    dst[p] = UInt8((sr / sw).rounded())
                    dst[p + 1] = UInt8((sg / sw).rounded())
                    dst[p + 2] = UInt8((sb / sw).rounded())
                }
            }
        }
        return out
    }

    /// Per-pixel blend weight of the filtered picture: 1 on the face box, falling smoothly (smoothstep) to 0 at
    /// half the box's size beyond it. Without the feathering the filtered region's edge moves with the face in
    /// 16-pixel steps and motion compensation pays for the seam: on the bundled clip a hard-edged denoise made the
    /// first pass 2.5–9% larger, however strong.
    public static func feather(box: FaceBox, width: Int, height: Int) -> [Float] {
        let cx = Float(box.left + box.right) / 2, cy = Float(box.top + box.bottom) / 2
        let hw = Float(box.width) / 2, hh = Float(box.height) / 2
        var out = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                // 0 inside the box, 1 at half a box beyond it (per axis, the larger).
                let u = max(0, abs(Float(x) - cx) - hw) / max(1, hw), v = max(0, abs(Float(y) - cy) - hh) / max(1, hh)
                let t = min(1, max(u, v))
                out[y * width + x] = 1 - t * t * (3 - 2 * t)
            }
        }
        return out
    }

    /// The strongest strength (index into `ladder` plus one; 0 = none) for which `keepsIdentity` holds, by bisection:
    /// the descriptor's change grows with the strength, so the passing strengths are a prefix of the ladder. At most
    /// ⌈log2(ladder.count + 1)⌉ calls.
    public static func strongest(keepsIdentity: (Float) throws -> Bool) rethrows -> Int {
        var lo = 0, hi = ladder.count  // lo passes (0 = unfiltered always does); answer in lo...hi
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if try keepsIdentity(ladder[mid - 1]) { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The range σ of a strength from `strongest` (0 for none).
    public static func rangeSigma(strength: Int) -> Float { strength == 0 ? 0 : ladder[strength - 1] }
}
