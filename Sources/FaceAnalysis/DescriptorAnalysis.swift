import NeuralNet
import TensorCore

/// A rectangle of the ResNet's last feature map, as fractions of its height and width.
public struct FeatureRegion: Sendable, Equatable {
    public var name: String
    public var top: Double
    public var bottom: Double
    public var left: Double
    public var right: Double

    public init(name: String, top: Double, bottom: Double, left: Double, right: Double) {
        self.name = name
        self.top = top
        self.bottom = bottom
        self.left = left
        self.right = right
    }

    /// The five regions of the sub-decision consistency measure: upper, lower, left and right halves and the
    /// central half.
    public static let standard: [FeatureRegion] = [
        FeatureRegion(name: "upper", top: 0, bottom: 0.5, left: 0, right: 1),
        FeatureRegion(name: "lower", top: 0.5, bottom: 1, left: 0, right: 1),
        FeatureRegion(name: "left", top: 0, bottom: 1, left: 0, right: 0.5),
        FeatureRegion(name: "right", top: 0, bottom: 1, left: 0.5, right: 1),
        FeatureRegion(name: "centre", top: 0.25, bottom: 0.75, left: 0.25, right: 0.75),
    ]

    /// Rows and columns covered on an `h`×`w` map (at least one of each).
    func span(height h: Int, width w: Int) -> (rows: Range<Int>, cols: Range<Int>) {
        func range(_ a: Double, _ b: Double, _ n: Int) -> Range<Int> {
            let lo = min(n - 1, Int((a * Double(n)).rounded(.down)))
            return lo..<max(lo + 1, min(n, Int((b * Double(n)).rounded(.up))))
        }
        return (range(top, bottom, h), range(left, right, w))
    }
}

/// What the face-recognition ResNet says about one chip beyond its descriptor.
public struct DescriptorAnalysis: Sendable {
    /// The 128-D descriptor (identical to `FaceEmbedder.embed`).
    public var descriptor: [Float]
    /// The penultimate features: the last feature map averaged over all positions (the fc layer's input).
    public var pooled: [Float]
    /// One descriptor per requested region: the last feature map averaged over that region only, through the fc
    /// layer — the network's decision with everything outside the region dropped.
    public var regionDescriptors: [[Float]]
}

extension FaceEmbedder {
    /// Runs the network once and returns the descriptor, the pooled penultimate features and region descriptors.
    public func analyze(
        chip pixels: [UInt8], regions: [FeatureRegion] = FeatureRegion.standard,
        workspace: Workspace = Workspace()
    ) -> DescriptorAnalysis {
        precondition(pixels.count == chipSize * chipSize * 3, "FaceEmbedder: chip must be \(chipSize)x\(chipSize) RGB")
        let ops = network.operations
        guard ops.count >= 2, case .linear(let fc) = ops[ops.count - 1], case .pool = ops[ops.count - 2] else {
            preconditionFailure("FaceEmbedder: the network must end in a global pool and an fc layer")
        }
        let body = DlibNetwork(operations: Array(ops[..<(ops.count - 2)]))
        let input = FeatureMap(channels: 3, height: chipSize, width: chipSize, buffer: workspace.borrow())
        normalize(pixels, value: { Float($0) }, into: input.pointer)
        let map = body.forward(input, workspace: workspace)
        let (c, h, w) = (map.channels, map.height, map.width)
        func pooled(_ rows: Range<Int>, _ cols: Range<Int>) -> [Float] {
            let p = map.pointer
            let n = Float(rows.count * cols.count)
            return (0..<c).map { ch in
                var s: Float = 0
                for y in rows { for x in cols { s += p[(ch * h + y) * w + x] } }
                return s / n
            }
        }
        func project(_ v: [Float]) -> [Float] {
            precondition(v.count == fc.inputs, "FaceEmbedder: pooled size \(v.count) != fc inputs \(fc.inputs)")
            var out = fc.bias ?? [Float](repeating: 0, count: fc.outputs)
            fc.weights.withUnsafeBufferPointer { wt in
                for i in 0..<fc.inputs where v[i] != 0 {
                    let xi = v[i]
                    for j in 0..<fc.outputs { out[j] += xi * wt[i * fc.outputs + j] }
                }
            }
            return out
        }
        let all = pooled(0..<h, 0..<w)
        let result = DescriptorAnalysis(
            descriptor: project(all), pooled: all,
            regionDescriptors: regions.map { r in
                let s = r.span(height: h, width: w)
                return project(pooled(s.rows, s.cols))
            })
        workspace.releaseAll()
        return result
    }
}
