import Foundation

/// A differentiable stand-in for what the codec pays for a picture, the rate term of the JND image's training
/// (issue 17): the magnitude of the block-DCT AC coefficients of the picture as the encoder sees it.
///
/// ```
/// RGB (levels) → Y′CbCr, BT.601 limited range:  Y = (219/255)(kr R + kg G + kb B)
///                                               Cb = (224/255)(B − Y′)/(2(1 − kb)),  Cr likewise with kr
/// chroma 4:2:0: the mean of each 2×2 block
/// per plane, per block size n ∈ {4, 8}, per n×n block of the grid (a partial block at the edge is left out):
///     C = D · B · Dᵀ                       D: the orthonormal n-point DCT-II
///     R_n += Σ_{(u,v) ≠ (0,0)} √(C_uv² + ε²) − ε        (|C| smoothed at 0, so the gradient exists)
/// rate = (R_4 + R_8) / 2
/// ```
/// With the flat scaling lists x264 and x265 use by default, the quantiser step is the same for every coefficient of
/// the orthonormal transform, so the coefficients are weighed equally; the DC is left out because it is predicted.
/// The two block sizes stand for the encoder's choice between 4×4 and 8×8 transforms.
public enum RateProxy {
    static let (kr, kb): (Float, Float) = (0.299, 0.114)
    static let lumaScale: Float = 219.0 / 255.0
    static let chromaScale: Float = 224.0 / 255.0

    /// The rate of an interleaved RGB picture (`width · height · 3` values in levels) and its gradient with respect
    /// to every value.
    public static func evaluate(_ rgb: [Float], width: Int, height: Int, epsilon: Float = 1) -> (rate: Float, gradient: [Float]) {
        precondition(rgb.count == width * height * 3, "RateProxy: three values per pixel")
        let kg = 1 - kr - kb
        let n = width * height
        var y = [Float](repeating: 0, count: n), cb = y, cr = y
        for i in 0..<n {
            let r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2]
            let l = kr * r + kg * g + kb * b
            y[i] = lumaScale * l
            cb[i] = chromaScale * (b - l) / (2 * (1 - kb))
            cr[i] = chromaScale * (r - l) / (2 * (1 - kr))
        }
        let cw = width / 2, ch = height / 2
        let cbHalf = halve(cb, width: width, height: height), crHalf = halve(cr, width: width, height: height)
        var rate: Float = 0
        var dy = [Float](repeating: 0, count: n)
        var dcb = [Float](repeating: 0, count: cw * ch), dcr = dcb
        for size in [4, 8] {
            rate += 0.5 * blockRate(y, width: width, height: height, size: size, epsilon: epsilon, gradient: &dy, scale: 0.5)
            rate += 0.5 * blockRate(cbHalf, width: cw, height: ch, size: size, epsilon: epsilon, gradient: &dcb, scale: 0.5)
            rate += 0.5 * blockRate(crHalf, width: cw, height: ch, size: size, epsilon: epsilon, gradient: &dcr, scale: 0.5)
        }
        // Back through the 2×2 means (each of the four pixels gets a quarter) and the colour transform.
        var gradient = [Float](repeating: 0, count: 3 * n)
        for py in 0..<height {
            for px in 0..<width {
                let i = py * width + px
                var gcb: Float = 0, gcr: Float = 0
                if px / 2 < cw && py / 2 < ch {
                    gcb = dcb[(py / 2) * cw + px / 2] / 4
                    gcr = dcr[(py / 2) * cw + px / 2] / 4
                }
                // ∂/∂l of the three planes, then l = kr R + kg G + kb B plus the direct B and R terms of Cb and Cr.
                let sb = chromaScale / (2 * (1 - kb)), sr = chromaScale / (2 * (1 - kr))
                let gl = lumaScale * dy[i] - sb * gcb - sr * gcr
                gradient[3 * i] = kr * gl + sr * gcr
                gradient[3 * i + 1] = kg * gl
                gradient[3 * i + 2] = kb * gl + sb * gcb
            }
        }
        return (rate, gradient)
    }

    /// The 2×2 means of a plane (an odd last row or column is dropped, as 4:2:0 subsampling of an even picture).
    static func halve(_ p: [Float], width: Int, height: Int) -> [Float] {
        let w = width / 2, h = height / 2
        var out = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                let a = p[(2 * y) * width + 2 * x], b = p[(2 * y) * width + 2 * x + 1]
                let c = p[(2 * y + 1) * width + 2 * x], d = p[(2 * y + 1) * width + 2 * x + 1]
                out[y * w + x] = (a + b + c + d) / 4
            }
        }
        return out
    }

    /// The orthonormal n-point DCT-II matrix, row u = frequency.
    static func dctMatrix(_ size: Int) -> [Float] {
        var d = [Float](repeating: 0, count: size * size)
        for u in 0..<size {
            let alpha = u == 0 ? (1 / Double(size)).squareRoot() : (2 / Double(size)).squareRoot()
            for x in 0..<size { d[u * size + x] = Float(alpha * cos(Double(2 * x + 1) * Double(u) * Double.pi / Double(2 * size))) }
        }
        return d
    }

    /// Σ over the plane's n×n blocks of the smoothed AC magnitudes; adds `scale` · ∂/∂plane to `gradient`.
    static func blockRate(_ plane: [Float], width: Int, height: Int, size n: Int, epsilon: Float, gradient: inout [Float], scale: Float)
        -> Float
    {
        let d = dctMatrix(n)
        var total: Float = 0
        var block = [Float](repeating: 0, count: n * n), tmp = block, coef = block, dc = block
        for by in 0..<(height / n) {
            for bx in 0..<(width / n) {
                for y in 0..<n { for x in 0..<n { block[y * n + x] = plane[(by * n + y) * width + bx * n + x] } }
                // coef = D · block · Dᵀ
                for u in 0..<n {
                    for x in 0..<n {
                        var s: Float = 0
                        for y in 0..<n { s += d[u * n + y] * block[y * n + x] }
                        tmp[u * n + x] = s
                    }
                }
                for u in 0..<n {
                    for v in 0..<n {
                        var s: Float = 0
                        for x in 0..<n { s += tmp[u * n + x] * d[v * n + x] }
                        coef[u * n + v] = s
                    }
                }
                for k in 1..<(n * n) {
                    let m = (coef[k] * coef[k] + epsilon * epsilon).squareRoot()
                    total += m - epsilon
                    dc[k] = scale * coef[k] / m
                }
                dc[0] = 0
                // ∂/∂block = Dᵀ · dC · D
                for y in 0..<n {
                    for v in 0..<n {
                        var s: Float = 0
                        for u in 0..<n { s += d[u * n + y] * dc[u * n + v] }
                        tmp[y * n + v] = s
                    }
                }
                for y in 0..<n {
                    for x in 0..<n {
                        var s: Float = 0
                        for v in 0..<n { s += tmp[y * n + v] * d[v * n + x] }
                        gradient[(by * n + y) * width + bx * n + x] += s
                    }
                }
            }
        }
        return total
    }
}
