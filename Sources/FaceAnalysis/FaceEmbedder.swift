import NeuralNet
import TensorCore

/// dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`): a 150×150 RGB face chip in,
/// a 128-D descriptor out. Two faces are the same person when the Euclidean distance of their descriptors is
/// below 0.6.
///
/// The model is immutable and `Sendable`; pass a `Workspace` per thread.
public final class FaceEmbedder: Sendable {
    /// Size of the square input chip.
    public let chipSize: Int
    let network: DlibNetwork
    let mean: (Float, Float, Float)
    /// The distance threshold stored in the model's loss layer (0.6).
    public let distanceThreshold: Float

    /// Loads the model from `models`.
    /// - Throws: `ModelMissingError`, `ModelFormatError` (with the byte offset of the problem).
    public convenience init(models: ModelDirectory = .default) throws {
        try self.init(bytes: try models.bytes(ModelDirectory.embedderFile), file: models.file(ModelDirectory.embedderFile))
    }

    public init(bytes: [UInt8], file: String) throws {
        var r = DlibArchiveReader(bytes: bytes, file: file)
        let v = try r.int("loss wrapper version")
        guard v == 1 else { throw r.fail("loss wrapper version 1, got \(v)", at: 0) }
        try r.expect("loss_metric_2")
        _ = try r.float("margin")
        distanceThreshold = try r.float("distance threshold")
        let (input, net) = try DlibNetworkParser.parse(&r)
        guard input.kind == "input_rgb_image_sized", let rows = input.rows, rows == input.cols, rows > 0 else {
            throw r.fail("a square input_rgb_image_sized input layer", at: 0)
        }
        guard case .linear(let last)? = net.operations.last, last.outputs == 128 else {
            throw r.fail("a network ending in a 128-output fc layer", at: 0)
        }
        chipSize = rows
        mean = input.mean
        network = net
    }

    /// The 128-D descriptor of one aligned chip (`chipSize`², interleaved RGB bytes).
    public func embed(chip pixels: [UInt8], workspace: Workspace = Workspace()) -> [Float] {
        embed(pixels, value: { Float($0) }, workspace: workspace)
    }

    /// The descriptor of a chip given as real-valued RGB levels (`chipSize`², interleaved), as `embed` computes it
    /// for bytes.
    public func embed(values pixels: [Float], workspace: Workspace = Workspace()) -> [Float] {
        embed(pixels, value: { $0 }, workspace: workspace)
    }

    private func embed<T>(_ pixels: [T], value: (T) -> Float, workspace: Workspace) -> [Float] {
        precondition(pixels.count == chipSize * chipSize * 3, "FaceEmbedder: chip must be \(chipSize)x\(chipSize) RGB")
        let input = FeatureMap(channels: 3, height: chipSize, width: chipSize, buffer: workspace.borrow())
        normalize(pixels, value: value, into: input.pointer)
        let out = network.forward(input, workspace: workspace)
        let result = Array(UnsafeBufferPointer(start: out.pointer, count: out.count))
        workspace.releaseAll()
        return result
    }

    /// The descriptor of a chip given as real-valued RGB levels (`chipSize`², interleaved; a JND image before
    /// rounding), and the gradient of a loss with respect to those values, given the loss's gradient with respect to
    /// the descriptor. The weights stay frozen. Slower than `embed` (it keeps every activation): a training tool.
    public func descriptorGradient(chip pixels: [Float], lossGradient: ([Float]) -> [Float]) -> (descriptor: [Float], gradient: [Float]) {
        precondition(pixels.count == chipSize * chipSize * 3, "FaceEmbedder: chip must be \(chipSize)x\(chipSize) RGB")
        let n = chipSize * chipSize
        var input = Tensor(channels: 3, height: chipSize, width: chipSize)
        input.data.withUnsafeMutableBufferPointer { normalize(pixels, value: { $0 }, into: $0.baseAddress!) }
        let (out, g) = network.inputGradient(input) { e in
            Tensor(channels: e.channels, height: e.height, width: e.width, data: lossGradient(e.data))
        }
        var gradient = [Float](repeating: 0, count: 3 * n)
        for c in 0..<3 { for i in 0..<n { gradient[i * 3 + c] = g.data[c * n + i] / 256 } }
        return (out.data, gradient)
    }

    /// Planar R, G, B with `(pixel − mean)/256` (dlib divides by 256, not 255).
    func normalize<T>(_ pixels: [T], value: (T) -> Float, into dst: UnsafeMutablePointer<Float>) {
        let n = chipSize * chipSize
        let m = [mean.0, mean.1, mean.2]
        pixels.withUnsafeBufferPointer { p in
            for c in 0..<3 {
                let mc = m[c]
                for i in 0..<n { dst[c * n + i] = (value(p[i * 3 + c]) - mc) / 256 }
            }
        }
    }

    /// Runs the network and records every operation's output (for layer-by-layer comparison with dlib).
    /// Testing aid, not API: every operation's output in order, starting with the normalised input.
    public func _trace(chip pixels: [UInt8]) -> [Tensor] {
        // Each prefix of the network is run from scratch: quadratic, but this is a testing aid, and it keeps the
        // shared forward pass free of tracing hooks.
        func run(_ net: DlibNetwork) -> Tensor {
            let ws = Workspace()
            let input = FeatureMap(channels: 3, height: chipSize, width: chipSize, buffer: ws.borrow())
            normalize(pixels, value: { Float($0) }, into: input.pointer)
            return net.forward(input, workspace: ws).tensor()
        }
        var outs = [run(DlibNetwork(operations: []))]
        for i in network.operations.indices {
            switch network.operations[i] {
            case .tag: continue  // dlib's trace lists skips but not tags
            default: break
            }
            outs.append(run(DlibNetwork(operations: Array(network.operations[...i]))))
        }
        return outs
    }
}

/// Euclidean distance between two descriptors.
public func descriptorDistance(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "descriptorDistance: lengths differ")
    var s: Float = 0
    for i in a.indices { let d = a[i] - b[i]; s += d * d }
    return s.squareRoot()
}
