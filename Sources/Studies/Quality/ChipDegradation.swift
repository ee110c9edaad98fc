import CompressionPipeline
import FaceAnalysis
import Foundation
import MediaIO
import RateControl
import TensorCore

/// Ways a face chip is degraded to teach and test the quality measures: blur, loss of resolution, compression.
public enum ChipDegradation: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Gaussian blur with this σ in chip pixels.
    case blur(Double)
    /// Area-downscaled to this width, then bilinearly enlarged back.
    case downscale(Int)
    /// An intra picture at this QP (libx264).
    case qp(Int)

    public var description: String {
        switch self {
        case .blur(let s): return "blur\(s)"
        case .downscale(let w): return "down\(w)"
        case .qp(let q): return "qp\(q)"
        }
    }

    /// The strongest levels: what "unrecognisable" means when the centre of unrecognisable faces is computed.
    public static let strongest: [ChipDegradation] = [.blur(6), .downscale(16), .qp(51)]

    /// Increasing levels of each family (the training set draws from these; the tests walk them in order).
    public static let families: [[ChipDegradation]] = [
        [.blur(1), .blur(2), .blur(4), .blur(6)],
        [.downscale(64), .downscale(32), .downscale(24), .downscale(16)],
        [.qp(32), .qp(40), .qp(46), .qp(51)],
    ]

    /// Applies the degradation to a square RGB chip of `size`² pixels.
    public func apply(_ chip: [UInt8], size: Int, codec: PictureCodec? = nil) throws -> [UInt8] {
        switch self {
        case .blur(let sigma): return ChipDegradation.gaussianBlur(chip, size: size, sigma: sigma)
        case .downscale(let w): return ChipDegradation.enlarge(ChipDegradation.shrink(chip, size: size, to: w), from: w, to: size)
        case .qp(let q):
            let c = try codec ?? PictureCodec(codec: "libx264", width: size, height: size, preset: "medium")
            return try c.roundTrip(RGBImage(width: size, height: size, pixels: chip), qp: FrameQP(qp: q)).image.pixels
        }
    }

    static func gaussianBlur(_ px: [UInt8], size n: Int, sigma: Double) -> [UInt8] {
        let r = max(1, Int((3 * sigma).rounded(.up)))
        var k = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        var tmp = [Double](repeating: 0, count: px.count)
        for y in 0..<n {
            for x in 0..<n {
                for c in 0..<3 {
                    var acc = 0.0
                    for (i, w) in k.enumerated() { acc += w * Double(px[(y * n + min(n - 1, max(0, x + i - r))) * 3 + c]) }
                    tmp[(y * n + x) * 3 + c] = acc
                }
            }
        }
        var out = [UInt8](repeating: 0, count: px.count)
        for y in 0..<n {
            for x in 0..<n {
                for c in 0..<3 {
                    var acc = 0.0
                    for (i, w) in k.enumerated() { acc += w * tmp[(min(n - 1, max(0, y + i - r)) * n + x) * 3 + c] }
                    out[(y * n + x) * 3 + c] = UInt8(max(0, min(255, acc.rounded())))
                }
            }
        }
        return out
    }

    static func shrink(_ px: [UInt8], size n: Int, to w: Int) -> [Double] {
        var out = [Double](repeating: 0, count: w * w * 3)
        var counts = [Double](repeating: 0, count: w * w)
        for y in 0..<n {
            for x in 0..<n {
                let o = (y * w / n) * w + x * w / n
                counts[o] += 1
                for c in 0..<3 { out[o * 3 + c] += Double(px[(y * n + x) * 3 + c]) }
            }
        }
        for i in 0..<(w * w) { for c in 0..<3 { out[i * 3 + c] /= max(1, counts[i]) } }
        return out
    }

    static func enlarge(_ px: [Double], from w: Int, to n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: n * n * 3)
        let scale = Double(w) / Double(n)
        for y in 0..<n {
            for x in 0..<n {
                let fy = max(0, min(Double(w - 1), (Double(y) + 0.5) * scale - 0.5)), fx = max(0, min(Double(w - 1), (Double(x) + 0.5) * scale - 0.5))
                let y0 = Int(fy), x0 = Int(fx), y1 = min(w - 1, y0 + 1), x1 = min(w - 1, x0 + 1)
                let ay = fy - Double(y0), ax = fx - Double(x0)
                for c in 0..<3 {
                    let v =
                        (1 - ay) * ((1 - ax) * px[(y0 * w + x0) * 3 + c] + ax * px[(y0 * w + x1) * 3 + c])
                        + ay * ((1 - ax) * px[(y1 * w + x0) * 3 + c] + ax * px[(y1 * w + x1) * 3 + c])
                    out[(y * n + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                }
            }
        }
        return out
    }
}
