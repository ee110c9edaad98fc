import Foundation
import TensorCore

/// The residual map's own pieces for the self-supervised JND image: the detail a detail-mask model may remove, and
/// the adjoint of the residual's upsampling (gradients back to the network's map).
extension JNDInput {
    /// The pass counts a detail mask may name (model files, `jnd image-train`, `jnd image-study`).
    public static let detailPassRange = 1...8

    /// crop − binomial5ᵏ(crop), k = `passes`: the crop's detail finer than the blur of k binomial passes (σ ≈ √k px),
    /// per channel (interleaved, levels); the blur is the separable (1 4 6 4 1)/16 filter with the border replicated.
    /// One pass is the finest detail; more reach coarser texture, which the codec pays for at the QPs faces are coded
    /// at (docs/jnd-image.md, "How much detail there is to remove").
    public static func detail(_ crop: RGBImage, passes: Int) -> [Float] {
        precondition(passes >= 1, "detail: at least one pass")
        let x = crop.pixels.map(Float.init)
        var blur = x
        for _ in 0..<passes { blur = binomial5(blur, width: crop.width, height: crop.height) }
        return zip(x, blur).map { $0 - $1 }
    }

    /// The separable (1 4 6 4 1)/16 blur of an interleaved RGB picture, the border replicated.
    static func binomial5(_ x: [Float], width w: Int, height h: Int) -> [Float] {
        let taps: [Float] = [1, 4, 6, 4, 1]
        var rows = [Float](repeating: 0, count: x.count), blur = rows
        for y in 0..<h {
            for i in 0..<w {
                for c in 0..<3 {
                    var s: Float = 0
                    for k in -2...2 { s += taps[k + 2] * x[(y * w + min(w - 1, max(0, i + k))) * 3 + c] }
                    rows[(y * w + i) * 3 + c] = s / 16
                }
            }
        }
        for y in 0..<h {
            for i in 0..<w {
                for c in 0..<3 {
                    var s: Float = 0
                    for k in -2...2 { s += taps[k + 2] * rows[(min(h - 1, max(0, y + k)) * w + i) * 3 + c] }
                    blur[(y * w + i) * 3 + c] = s / 16
                }
            }
        }
        return blur
    }

    /// The adjoint of `upsampleResidual`: a gradient on the crop-sized residual (interleaved RGB) back onto the
    /// network's planar `size`×`size` map.
    public static func upsampleResidualTranspose(_ gradient: [Float], size: Int, width: Int, height: Int, scale: Float) -> [Float] {
        precondition(gradient.count == width * height * 3, "upsampleResidualTranspose: gradient size")
        var out = [Float](repeating: 0, count: 3 * size * size)
        for y in 0..<height {
            let (y0, y1, fy) = bilinearSource(y, of: height, size: size)
            for x in 0..<width {
                let (x0, x1, fx) = bilinearSource(x, of: width, size: size)
                for c in 0..<3 {
                    let p = c * size * size, g = gradient[(y * width + x) * 3 + c] * scale
                    out[p + y0 * size + x0] += g * (1 - fy) * (1 - fx)
                    out[p + y0 * size + x1] += g * (1 - fy) * fx
                    out[p + y1 * size + x0] += g * fy * (1 - fx)
                    out[p + y1 * size + x1] += g * fy * fx
                }
            }
        }
        return out
    }

    /// The JND image: `crop − residual`, rounded and clamped to bytes.
    public static func jndImage(crop: RGBImage, residual: [Float]) -> RGBImage {
        precondition(residual.count == crop.pixels.count, "jndImage: residual size")
        var out = crop
        for i in out.pixels.indices { out.pixels[i] = UInt8(clamping: Int((Float(crop.pixels[i]) - residual[i]).rounded())) }
        return out
    }
}
