import Foundation
import TensorCore

/// A double-valued rectangle with dlib's +1 convention (`width = right − left + 1`).
struct DRect {
    var left: Double
    var top: Double
    var right: Double
    var bottom: Double

    var area: Double {
        (right < left || bottom < top) ? 0 : (right - left + 1) * (bottom - top + 1)
    }
    var center: Point { Point(x: (left + right) / 2, y: (top + bottom) / 2) }

    /// `pyramid_down<2>`'s map from a level to the next smaller one: `p → p/2 − (1.25, 0.75)`.
    var down: DRect {
        DRect(left: left / 2 - 1.25, top: top / 2 - 0.75, right: right / 2 - 1.25, bottom: bottom / 2 - 0.75)
    }
}

/// `lround`: half away from zero (dlib's rectangle rounding).
@inline(__always) func roundHalfAway(_ v: Double) -> Int { Int(v.rounded(.toNearestOrAwayFromZero)) }

/// A 2-D similarity transform `p → M·p + t` with `M = [[a, −b], [b, a]]`.
struct Similarity {
    var a: Double
    var b: Double
    var tx: Double
    var ty: Double

    func apply(_ p: Point) -> Point { Point(x: a * p.x - b * p.y + tx, y: b * p.x + a * p.y + ty) }
    func linear(_ p: Point) -> Point { Point(x: a * p.x - b * p.y, y: b * p.x + a * p.y) }

    /// Least-squares similarity from `from` to `to` (Umeyama). In 2-D it has a closed form: with
    /// `C = mean (tᵢ − μt)(fᵢ − μf)ᵀ` and `σf² = mean |fᵢ − μf|²`, the rotation angle is
    /// `atan2(C₁₀ − C₀₁, C₀₀ + C₁₁)` and `c·R = [[C₀₀ + C₁₁, −(C₁₀ − C₀₁)], [C₁₀ − C₀₁, C₀₀ + C₁₁]] / σf²`;
    /// this equals Umeyama's SVD solution including its reflection handling.
    static func fit(from: [Point], to: [Point]) -> Similarity {
        precondition(from.count == to.count && !from.isEmpty, "Similarity.fit: point counts")
        let n = Double(from.count)
        var mf = Point(x: 0, y: 0), mt = Point(x: 0, y: 0)
        for i in from.indices {
            mf.x += from[i].x; mf.y += from[i].y
            mt.x += to[i].x; mt.y += to[i].y
        }
        mf.x /= n; mf.y /= n; mt.x /= n; mt.y /= n
        var c00 = 0.0, c01 = 0.0, c10 = 0.0, c11 = 0.0, sigma = 0.0
        for i in from.indices {
            let fx = from[i].x - mf.x, fy = from[i].y - mf.y
            let tx = to[i].x - mt.x, ty = to[i].y - mt.y
            c00 += tx * fx; c01 += tx * fy; c10 += ty * fx; c11 += ty * fy
            sigma += fx * fx + fy * fy
        }
        c00 /= n; c01 /= n; c10 /= n; c11 /= n; sigma /= n
        let s = sigma == 0 ? 1 : sigma
        var a = (c00 + c11) / s, b = (c10 - c01) / s
        if sigma == 0 {
            // Degenerate source: scale 1, rotation from C.
            let r = ((c00 + c11) * (c00 + c11) + (c10 - c01) * (c10 - c01)).squareRoot()
            a = r > 0 ? (c00 + c11) / r : 1
            b = r > 0 ? (c10 - c01) / r : 0
        }
        let t = Point(x: mt.x - (a * mf.x - b * mf.y), y: mt.y - (b * mf.x + a * mf.y))
        return Similarity(a: a, b: b, tx: t.x, ty: t.y)
    }
}
