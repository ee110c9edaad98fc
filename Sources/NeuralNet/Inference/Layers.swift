import TensorCore

/// 2-D convolution (cross-correlation), CHW layout, zero padding, via im2col + sgemm.
///
/// ```
/// y[o, r, c] = bias[o] + Σ_{i,ky,kx} W[o, i, ky, kx] · x[i, r·sy − py + ky, c·sx − px + kx]
/// ```
/// `weights` is `[out][in / groups][kh][kw]` flattened (dlib's and ONNX's order). With `groups` > 1 the channels
/// split into that many independent convolutions (output group g sees only input group g); one channel per group
/// is a depthwise convolution, run by its own kernel.
public struct Conv2d: Sendable {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelH: Int
    public let kernelW: Int
    public let strideY: Int
    public let strideX: Int
    public let padY: Int
    public let padX: Int
    public let groups: Int
    public let weights: [Float]
    public let bias: [Float]

    public init(
        inputChannels: Int, outputChannels: Int, kernelH: Int, kernelW: Int, strideY: Int, strideX: Int,
        padY: Int, padX: Int, groups: Int = 1, weights: [Float], bias: [Float]
    ) {
        precondition(groups >= 1 && inputChannels % groups == 0 && outputChannels % groups == 0, "Conv2d: groups")
        precondition(weights.count == outputChannels * inputChannels / groups * kernelH * kernelW, "Conv2d: weight count")
        precondition(bias.count == outputChannels, "Conv2d: bias count")
        self.groups = groups
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideY = strideY
        self.strideX = strideX
        self.padY = padY
        self.padX = padX
        self.weights = weights
        self.bias = bias
    }

    /// The same convolution followed by `y' = y·scale[o] + shift[o]` per output channel (a batch norm folded in).
    public func folding(scale: [Float], shift: [Float]) -> Conv2d {
        precondition(scale.count == outputChannels && shift.count == outputChannels, "Conv2d: fold count")
        let perOutput = weights.count / outputChannels
        var w = weights
        for o in 0..<outputChannels { for j in 0..<perOutput { w[o * perOutput + j] *= scale[o] } }
        return Conv2d(
            inputChannels: inputChannels, outputChannels: outputChannels, kernelH: kernelH, kernelW: kernelW,
            strideY: strideY, strideX: strideX, padY: padY, padX: padX, groups: groups, weights: w,
            bias: (0..<outputChannels).map { bias[$0] * scale[$0] + shift[$0] })
    }

    /// Largest im2col buffer, in floats, before the output is processed in bands of rows.
    static let columnBudget = 8 << 20

    public func outputShape(height: Int, width: Int) -> (Int, Int) {
        (
            outputSize(input: height, kernel: kernelH, stride: strideY, padding: padY),
            outputSize(input: width, kernel: kernelW, stride: strideX, padding: padX)
        )
    }

    /// Convolves `x` into `out` (whose buffer is resized), using `workspace.columns`; with `relu`, also applies
    /// `max(·, 0)` in the pass that adds the bias.
    public func forward(_ x: FeatureMap, into out: inout FeatureMap, workspace: Workspace, relu: Bool = false) {
        precondition(x.channels == inputChannels, "Conv2d: expected \(inputChannels) channels, got \(x.channels)")
        let (oh, ow) = outputShape(height: x.height, width: x.width)
        out = FeatureMap(channels: outputChannels, height: oh, width: ow, buffer: out.buffer)
        guard oh > 0, ow > 0 else { return }
        let dst = out.pointer
        if groups > 1 && groups == inputChannels && groups == outputChannels {
            weights.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    depthwiseConvolution(
                        x.pointer, channels: inputChannels, height: x.height, width: x.width, weights: w.baseAddress!,
                        bias: b.baseAddress!, kernelH: kernelH, kernelW: kernelW, strideY: strideY, strideX: strideX,
                        padY: padY, padX: padX, relu: relu, into: dst)
                }
            }
            return
        }
        let groupIn = inputChannels / groups, groupOut = outputChannels / groups
        let plane = oh * ow
        if kernelH == 1 && kernelW == 1 && strideY == 1 && strideX == 1 && padY == 0 && padX == 0 {
            // A pointwise convolution is already a matrix product of the input planes: no im2col copy.
            let beta = startFromBias(dst, plane: plane)
            let split = BLAS.splitThreads
            weights.withUnsafeBufferPointer { w in
                for g in 0..<groups {
                    BLAS.splitSgemm(
                        m: groupOut, n: plane, k: groupIn, a: w.baseAddress! + g * groupOut * groupIn, lda: groupIn,
                        b: x.pointer + g * groupIn * plane, ldb: plane, beta: beta, c: dst + g * groupOut * plane, ldc: plane,
                        threads: split)
                }
            }
            if relu { applyRelu(dst, plane: plane) }
            return
        }
        let k = groupIn * kernelH * kernelW
        let split = groups == 1 ? min(BLAS.splitThreads, oh) : 1
        if split > 1 {
            splitRows(x, into: dst, outputHeight: oh, outputWidth: ow, threads: split, workspace: workspace, relu: relu)
            return
        }
        let band = max(1, min(oh, Conv2d.columnBudget / max(1, k * ow)))
        let cols = workspace.columns.reserve(k * band * ow)
        let beta = startFromBias(dst, plane: plane)
        weights.withUnsafeBufferPointer { w in
            for g in 0..<groups {
                var row = 0
                while row < oh {
                    let rows = min(band, oh - row)
                    im2col(
                        x.pointer + g * groupIn * x.height * x.width, channels: groupIn, height: x.height, width: x.width,
                        kernelH: kernelH, kernelW: kernelW, strideY: strideY, strideX: strideX, padY: padY, padX: padX,
                        outputWidth: ow, rowStart: row, rowCount: rows, into: cols)
                    // out[o][row*ow ...] = W[o][:] · cols  (ldc = full plane, so bands land in place)
                    BLAS.sgemm(
                        m: groupOut, n: rows * ow, k: k, a: w.baseAddress! + g * groupOut * k, lda: k, b: cols,
                        ldb: rows * ow, beta: beta, c: dst + g * groupOut * plane + row * ow, ldc: plane)
                    row += rows
                }
            }
        }
        if relu { applyRelu(dst, plane: plane) }
    }

    /// The im2col path with the output's rows split over `threads` (inside `BLAS.withSplitWork`): each thread
    /// lowers and multiplies bands of its own rows, with the bias set and the Relu applied per band while it is in
    /// cache.
    private func splitRows(
        _ x: FeatureMap, into dst: UnsafeMutablePointer<Float>, outputHeight oh: Int, outputWidth ow: Int, threads: Int,
        workspace: Workspace, relu: Bool
    ) {
        let k = inputChannels * kernelH * kernelW, plane = oh * ow
        let band = max(1, min((oh + threads - 1) / threads, Conv2d.splitBandBudget / max(1, k * ow)))
        let scratch = workspace.columns.reserve(threads * k * band * ow)
        nonisolated(unsafe) let (src, d, columns) = (UnsafePointer(x.pointer), dst, scratch)
        let (height, width) = (x.height, x.width)
        forEachPart(of: oh, parts: threads) { t, stripe in
            let cols = columns + t * k * band * ow
            var row = stripe.lowerBound
            weights.withUnsafeBufferPointer { w in
                while row < stripe.upperBound {
                    let rows = min(band, stripe.upperBound - row), n = rows * ow
                    im2col(
                        src, channels: inputChannels, height: height, width: width, kernelH: kernelH, kernelW: kernelW,
                        strideY: strideY, strideX: strideX, padY: padY, padX: padX, outputWidth: ow, rowStart: row,
                        rowCount: rows, into: cols)
                    for o in 0..<outputChannels { (d + o * plane + row * ow).update(repeating: bias[o], count: n) }
                    BLAS.sgemm(
                        m: outputChannels, n: n, k: k, a: w.baseAddress!, lda: k, b: cols, ldb: n, beta: 1, c: d + row * ow,
                        ldc: plane)
                    if relu {
                        for o in 0..<outputChannels {
                            let p = d + o * plane + row * ow
                            for i in 0..<n { p[i] = max(p[i], 0) }
                        }
                    }
                    row += rows
                }
            }
        }
    }

    /// Floats of im2col columns per thread and band when the rows are split (256 KB: the band stays in L2).
    static let splitBandBudget = 64 << 10

    /// Sets every output plane to its bias before the matrix product, which then adds onto it (the returned
    /// `beta`, 1): the bias costs no pass of its own, and OpenBLAS skips its pass that clears the output. Without a
    /// bias nothing is written and the product overwrites the output (`beta` 0).
    private func startFromBias(_ dst: UnsafeMutablePointer<Float>, plane: Int) -> Float {
        guard bias.contains(where: { $0 != 0 }) else { return 0 }
        let bias = self.bias
        channelPass(dst, plane: plane) { p, o in p.update(repeating: bias[o], count: plane) }
        return 1
    }

    private func applyRelu(_ dst: UnsafeMutablePointer<Float>, plane: Int) {
        channelPass(dst, plane: plane) { p, _ in for i in 0..<plane { p[i] = max(p[i], 0) } }
    }

    /// `body` on every output plane, split over the kernel threads when the output is large (a pass over megabytes
    /// of activations is memory-bound, and one core does not saturate the memory bus).
    private func channelPass(
        _ dst: UnsafeMutablePointer<Float>, plane: Int, _ body: @escaping @Sendable (UnsafeMutablePointer<Float>, Int) -> Void
    ) {
        nonisolated(unsafe) let d = dst
        let channels = outputChannels
        let threads = min(BLAS.threads, channels)
        forEachPart(of: channels, parts: threads > 1 && channels * plane >= 1 << 18 ? threads : 1) { _, range in
            for o in range { body(d + o * plane, o) }
        }
    }
}

/// Per-channel affine transform `y = x·gamma[c] + beta[c]` (also dlib's batch norm after folding).
public struct Affine: Sendable {
    public let gamma: [Float]
    public let beta: [Float]

    public init(gamma: [Float], beta: [Float]) {
        precondition(gamma.count == beta.count, "Affine: gamma/beta count")
        self.gamma = gamma
        self.beta = beta
    }

    /// Folds inference batch-norm statistics: `gamma' = gamma / sqrt(var + eps)`, `beta' = beta − gamma'·mean`.
    public init(batchNormGamma gamma: [Float], beta: [Float], runningMean: [Float], runningVariance: [Float], epsilon: Float) {
        var g = gamma, b = beta
        for i in g.indices {
            g[i] = gamma[i] / (runningVariance[i] + epsilon).squareRoot()
            b[i] = beta[i] - g[i] * runningMean[i]
        }
        self.init(gamma: g, beta: b)
    }

    /// - Parameter relu: also apply `max(·, 0)` in the same pass.
    public func forward(_ x: FeatureMap, relu: Bool = false) {
        precondition(x.channels == gamma.count, "Affine: channel count")
        gamma.withUnsafeBufferPointer { g in
            beta.withUnsafeBufferPointer { b in
                if relu {
                    affineReluInPlace(
                        x.pointer, channels: x.channels, planeSize: x.height * x.width,
                        scale: g.baseAddress!, shift: b.baseAddress!)
                } else {
                    affineInPlace(
                        x.pointer, channels: x.channels, planeSize: x.height * x.width,
                        scale: g.baseAddress!, shift: b.baseAddress!)
                }
            }
        }
    }
}

/// Max or average pooling, windows clipped to the input; kernel 0×0 pools the whole plane.
public struct Pool2d: Sendable {
    public let kernelH: Int
    public let kernelW: Int
    public let strideY: Int
    public let strideX: Int
    public let padY: Int
    public let padX: Int
    public let average: Bool

    public init(kernelH: Int, kernelW: Int, strideY: Int, strideX: Int, padY: Int, padX: Int, average: Bool) {
        self.kernelH = kernelH
        self.kernelW = kernelW
        self.strideY = strideY
        self.strideX = strideX
        self.padY = padY
        self.padX = padX
        self.average = average
    }

    public func forward(_ x: FeatureMap, into out: inout FeatureMap) {
        let kh = kernelH == 0 ? x.height : kernelH, kw = kernelW == 0 ? x.width : kernelW
        let oh = outputSize(input: x.height, kernel: kh, stride: strideY, padding: padY)
        let ow = outputSize(input: x.width, kernel: kw, stride: strideX, padding: padX)
        out = FeatureMap(channels: x.channels, height: oh, width: ow, buffer: out.buffer)
        pool(
            x.pointer, channels: x.channels, height: x.height, width: x.width, kernelH: kh, kernelW: kw,
            strideY: strideY, strideX: strideX, padY: padY, padX: padX, average: average, into: out.pointer)
    }
}

/// Fully connected layer `y[j] = Σ_i x[i]·W[i][j] (+ bias[j])`; `weights` is `[inputs][outputs]` (dlib's order).
public struct Linear: Sendable {
    public let inputs: Int
    public let outputs: Int
    public let weights: [Float]
    public let bias: [Float]?

    public init(inputs: Int, outputs: Int, weights: [Float], bias: [Float]?) {
        precondition(weights.count == inputs * outputs, "Linear: weight count")
        precondition(bias == nil || bias!.count == outputs, "Linear: bias count")
        self.inputs = inputs
        self.outputs = outputs
        self.weights = weights
        self.bias = bias
    }

    public func forward(_ x: FeatureMap, into out: inout FeatureMap) {
        precondition(x.count == inputs, "Linear: expected \(inputs) inputs, got \(x.count)")
        out = FeatureMap(channels: outputs, height: 1, width: 1, buffer: out.buffer)
        let dst = out.pointer
        weights.withUnsafeBufferPointer { w in
            BLAS.sgemm(
                m: 1, n: outputs, k: inputs, a: x.pointer, lda: inputs, b: w.baseAddress!, ldb: outputs,
                c: dst, ldc: outputs)
        }
        if let bias { for j in 0..<outputs { dst[j] += bias[j] } }
    }
}
