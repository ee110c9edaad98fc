import TensorCore

/// Transposed convolution (the adjoint of `Conv2d`; "deconvolution" in detector necks), CHW, one group.
///
/// ```
/// y[o][iy·sy − py + ky][ix·sx − px + kx] += W[i][o][ky][kx] · x[i][iy][ix]      then + bias[o]
/// output size: (in − 1)·stride − 2·pad + kernel + outputPadding
/// ```
/// `weights` is `[in][out][kh][kw]` (ONNX's and PyTorch's order). One sgemm makes every tap's contribution,
/// `col2imAdd` scatters them into place.
public struct ConvTranspose2d: Sendable {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelH: Int
    public let kernelW: Int
    public let strideY: Int
    public let strideX: Int
    public let padY: Int
    public let padX: Int
    public let outputPaddingY: Int
    public let outputPaddingX: Int
    public let weights: [Float]
    public let bias: [Float]

    public init(
        inputChannels: Int, outputChannels: Int, kernelH: Int, kernelW: Int, strideY: Int, strideX: Int,
        padY: Int, padX: Int, outputPaddingY: Int = 0, outputPaddingX: Int = 0, weights: [Float], bias: [Float]
    ) {
        precondition(weights.count == inputChannels * outputChannels * kernelH * kernelW, "ConvTranspose2d: weight count")
        precondition(bias.count == outputChannels, "ConvTranspose2d: bias count")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideY = strideY
        self.strideX = strideX
        self.padY = padY
        self.padX = padX
        self.outputPaddingY = outputPaddingY
        self.outputPaddingX = outputPaddingX
        self.weights = weights
        self.bias = bias
    }

    public func outputShape(height: Int, width: Int) -> (Int, Int) {
        (
            max(0, (height - 1) * strideY - 2 * padY + kernelH + outputPaddingY),
            max(0, (width - 1) * strideX - 2 * padX + kernelW + outputPaddingX)
        )
    }

    /// The same weights scaled and shifted per output channel: `y' = y·scale[o] + shift[o]` (a following batch norm).
    public func folding(scale: [Float], shift: [Float]) -> ConvTranspose2d {
        precondition(scale.count == outputChannels && shift.count == outputChannels, "ConvTranspose2d: fold count")
        var w = weights
        let taps = kernelH * kernelW
        for i in 0..<inputChannels {
            for o in 0..<outputChannels {
                for t in 0..<taps { w[(i * outputChannels + o) * taps + t] *= scale[o] }
            }
        }
        let b = (0..<outputChannels).map { bias[$0] * scale[$0] + shift[$0] }
        return ConvTranspose2d(
            inputChannels: inputChannels, outputChannels: outputChannels, kernelH: kernelH, kernelW: kernelW,
            strideY: strideY, strideX: strideX, padY: padY, padX: padX, outputPaddingY: outputPaddingY,
            outputPaddingX: outputPaddingX, weights: w, bias: b)
    }

    public func forward(_ x: FeatureMap, into out: inout FeatureMap, workspace: Workspace) {
        precondition(x.channels == inputChannels, "ConvTranspose2d: expected \(inputChannels) channels, got \(x.channels)")
        let (oh, ow) = outputShape(height: x.height, width: x.width)
        out = FeatureMap(channels: outputChannels, height: oh, width: ow, buffer: out.buffer)
        guard oh > 0, ow > 0, x.height > 0, x.width > 0 else { return }
        let rows = outputChannels * kernelH * kernelW, n = x.height * x.width
        let cols = workspace.columns.reserve(rows * n)
        // cols[(o·kh + ky)·kw + kx][p] = Σ_i W[i][(o·kh + ky)·kw + kx] · x[i][p]:  Wᵀ (rows × in) · x (in × n).
        weights.withUnsafeBufferPointer { w in
            BLAS.splitSgemm(
                transposeA: true, m: rows, n: n, k: inputChannels, a: w.baseAddress!, lda: rows, b: x.pointer, ldb: n,
                c: cols, ldc: n, threads: BLAS.splitThreads)
        }
        let dst = out.pointer, plane = oh * ow
        for o in 0..<outputChannels { (dst + o * plane).update(repeating: bias[o], count: plane) }
        col2imAdd(
            cols, channels: outputChannels, height: x.height, width: x.width, kernelH: kernelH, kernelW: kernelW,
            strideY: strideY, strideX: strideX, padY: padY, padX: padX, outputHeight: oh, outputWidth: ow, into: dst)
    }
}
