import Foundation
import TensorCore

/// A classical pixel-domain JND model: Yang et al.'s nonlinear additivity model for masking (NAMM), with Chou and
/// Li's luminance adaptation and texture masking. It predicts, per pixel, the luminance change a human viewer
/// would not notice — a baseline for the FR-JND predictor, which asks what the face-recognition model would not
/// notice.
///
/// ```
/// bg(x)  = 5×5 weighted mean luminance (Chou–Li's B operator, /32)
/// T_l(x) = 17·(1 − sqrt(bg/127)) + 3          bg ≤ 127
///          3/128·(bg − 127) + 3                bg > 127
/// G(x)   = max over Chou–Li's four 5×5 directional gradient operators of |grad|/16
/// T_t(x) = 0.117 · G(x) · W(x)                 W = 0.1 on edge pixels (Sobel magnitude > 48, dilated 1 px), else 1
/// JND(x) = T_l + T_t − 0.3 · min(T_l, T_t)
/// ```
public enum PixelJND {
    /// BT.601 luma of an RGB image, 0…255.
    static func luma(_ img: RGBImage) -> [Double] {
        (0..<(img.width * img.height)).map { i -> Double in
            let r = Double(img.pixels[3 * i]), g = Double(img.pixels[3 * i + 1]), b = Double(img.pixels[3 * i + 2])
            return 0.299 * r + 0.587 * g + 0.114 * b
        }
    }

    static let background: [[Double]] = [[1, 1, 1, 1, 1], [1, 2, 2, 2, 1], [1, 2, 0, 2, 1], [1, 2, 2, 2, 1], [1, 1, 1, 1, 1]]
    static let gradients: [[[Double]]] = [
        [[0, 0, 0, 0, 0], [1, 3, 8, 3, 1], [0, 0, 0, 0, 0], [-1, -3, -8, -3, -1], [0, 0, 0, 0, 0]],
        [[0, 0, 1, 0, 0], [0, 8, 3, 0, 0], [1, 3, 0, -3, -1], [0, 0, -3, -8, 0], [0, 0, -1, 0, 0]],
        [[0, 0, 1, 0, 0], [0, 0, 3, 8, 0], [-1, -3, 0, 3, 1], [0, -8, -3, 0, 0], [0, 0, -1, 0, 0]],
        [[0, 1, 0, -1, 0], [0, 3, 0, -3, 0], [0, 8, 0, -8, 0], [0, 3, 0, -3, 0], [0, 1, 0, -1, 0]],
    ]

    /// The per-pixel JND map (luminance levels).
    public static func map(_ img: RGBImage) -> [Double] {
        let w = img.width, h = img.height
        let y = luma(img)
        func at(_ x: Int, _ yy: Int) -> Double { y[min(h - 1, max(0, yy)) * w + min(w - 1, max(0, x))] }
        func apply(_ k: [[Double]], _ x: Int, _ yy: Int) -> Double {
            var s = 0.0
            for j in 0..<5 { for i in 0..<5 where k[j][i] != 0 { s += k[j][i] * at(x + i - 2, yy + j - 2) } }
            return s
        }
        // Edge weight from a Sobel magnitude, dilated by one pixel.
        var edge = [Bool](repeating: false, count: w * h)
        for yy in 0..<h {
            for x in 0..<w {
                let gx = at(x + 1, yy - 1) + 2 * at(x + 1, yy) + at(x + 1, yy + 1) - at(x - 1, yy - 1) - 2 * at(x - 1, yy) - at(x - 1, yy + 1)
                let gy = at(x - 1, yy + 1) + 2 * at(x, yy + 1) + at(x + 1, yy + 1) - at(x - 1, yy - 1) - 2 * at(x, yy - 1) - at(x + 1, yy - 1)
                edge[yy * w + x] = (gx * gx + gy * gy).squareRoot() > 48
            }
        }
        var out = [Double](repeating: 0, count: w * h)
        for yy in 0..<h {
            for x in 0..<w {
                var nearEdge = false
                for dy in -1...1 {
                    for dx in -1...1 {
                        let xx = x + dx, ty = yy + dy
                        if xx >= 0, xx < w, ty >= 0, ty < h, edge[ty * w + xx] { nearEdge = true }
                    }
                }
                let bg = apply(background, x, yy) / 32
                let tl = bg <= 127 ? 17 * (1 - (bg / 127).squareRoot()) + 3 : 3.0 / 128 * (bg - 127) + 3
                let g = gradients.map { abs(apply($0, x, yy)) / 16 }.max()!
                let tt = 0.117 * g * (nearEdge ? 0.1 : 1)
                out[yy * w + x] = tl + tt - 0.3 * min(tl, tt)
            }
        }
        return out
    }

    /// The face's mean JND amplitude.
    public static func mean(_ img: RGBImage) -> Double {
        let m = map(img)
        return m.reduce(0, +) / Double(max(1, m.count))
    }

    /// Maps a JND amplitude to a QP: a quantiser step proportional to the amplitude, i.e. QP = c + 6·log2(T)
    /// (H.264/HEVC double the step every 6 QP). `c` is fitted on training faces.
    public static func qp(amplitude: Double, offset c: Double) -> Int {
        min(51, max(0, Int((c + 6 * log2(max(amplitude, 1e-3))).rounded())))
    }
}
