import TensorCore

/// MobileNetV2's inverted-residual block run as one step, a few rows at a time:
///
/// ```
/// y = project(relu(depthwise(relu(expand(x))))) (+ x)
/// ```
/// `expand` and `project` are 1×1 convolutions, `depthwise` a depthwise convolution (any kernel and stride). Run
/// layer by layer, the expanded map (up to six times the block's input) is written out and read back twice; here
/// each band of output rows expands only the input rows its taps need, convolves them and projects the result
/// while they are in cache. Rows shared with the next band are kept, not recomputed. The picture's rows are split
/// into one stripe per thread (`BLAS.splitThreads`), each thread running single-threaded products.
public struct InvertedResidual: Sendable {
    public let expand: Conv2d?
    public let depthwise: Conv2d
    public let project: Conv2d
    /// Adds the block's input to its output (the stride-1 blocks whose channel count does not change).
    public let residual: Bool

    /// Floats of expanded rows plus convolved rows one band may hold per thread: 2 MB. Measured on CenterFace at
    /// 512×384 on two threads (medians of 40 frames, budgets interleaved): 128 K floats 1–8% slower, 256 K 2–10%,
    /// 1 M and 4 M 5–9% (longer bands make longer, more efficient products until the rows leave the cache).
    public static let bandBudget = 512 << 10

    public init(expand: Conv2d?, depthwise: Conv2d, project: Conv2d, residual: Bool) {
        let e = depthwise.inputChannels
        precondition(expand.map { $0.isPointwise && $0.outputChannels == e } ?? true, "InvertedResidual: expand")
        precondition(depthwise.groups == e && depthwise.outputChannels == e, "InvertedResidual: depthwise")
        precondition(project.isPointwise && project.inputChannels == e, "InvertedResidual: project")
        precondition(
            !residual
                || (depthwise.strideX == 1 && depthwise.strideY == 1 && project.outputChannels == (expand?.inputChannels ?? e)),
            "InvertedResidual: residual needs stride 1 and equal channels")
        (self.expand, self.depthwise, self.project, self.residual) = (expand, depthwise, project, residual)
    }

    public var inputChannels: Int { expand?.inputChannels ?? depthwise.inputChannels }

    /// Output rows per band for an input `width` wide (at least 1).
    func bandRows(width: Int, outputWidth: Int) -> Int {
        let e = depthwise.inputChannels, s = depthwise.strideY, k = depthwise.kernelH
        let perRow = e * (s * width + outputWidth), fixed = e * max(0, k - s) * width
        return max(1, (InvertedResidual.bandBudget - fixed) / max(1, perRow))
    }

    public func forward(_ x: FeatureMap, into out: inout FeatureMap, workspace: Workspace, bandRows: Int? = nil) {
        precondition(x.channels == inputChannels, "InvertedResidual: expected \(inputChannels) channels, got \(x.channels)")
        let (oh, ow) = depthwise.outputShape(height: x.height, width: x.width)
        out = FeatureMap(channels: project.outputChannels, height: oh, width: ow, buffer: out.buffer)
        guard oh > 0, ow > 0 else { return }
        let threads = max(1, min(BLAS.splitThreads, oh))
        let rows = min(bandRows ?? self.bandRows(width: x.width, outputWidth: ow), (oh + threads - 1) / threads)
        let stripe = Stripe(block: self, height: x.height, width: x.width, outputHeight: oh, outputWidth: ow, bandRows: rows)
        let scratch = workspace.columns.reserve(threads * stripe.scratchCount)
        nonisolated(unsafe) let (src, dst, buffers) = (UnsafePointer(x.pointer), out.pointer, scratch)
        forEachPart(of: oh, parts: threads) { t, rows in
            stripe.run(rows: rows, src: src, dst: dst, scratch: buffers + t * stripe.scratchCount)
        }
    }
}

/// One thread's share of a block: consecutive bands of output rows, with the expanded input rows they read in a
/// buffer that keeps, from one band to the next, the rows both need.
private struct Stripe: Sendable {
    let block: InvertedResidual
    let height, width, outputHeight, outputWidth, bandRows: Int
    /// Expanded rows the buffer holds at most, per channel.
    let capacity: Int

    init(block: InvertedResidual, height: Int, width: Int, outputHeight: Int, outputWidth: Int, bandRows: Int) {
        (self.block, self.height, self.width, self.outputHeight, self.outputWidth, self.bandRows) =
            (block, height, width, outputHeight, outputWidth, bandRows)
        capacity = (bandRows - 1) * block.depthwise.strideY + block.depthwise.kernelH
    }

    var expanded: Int { block.depthwise.inputChannels * capacity * width }
    var convolved: Int { block.depthwise.inputChannels * bandRows * outputWidth }
    var phases: Int { band(inputRows: capacity, padTop: block.depthwise.padY, outputRows: bandRows).scratchCount }
    var scratchCount: Int { expanded + convolved + phases }

    func band(inputRows: Int, padTop: Int, outputRows: Int) -> DepthwiseBand {
        let d = block.depthwise
        return DepthwiseBand(
            height: inputRows, width: width, kernelH: d.kernelH, kernelW: d.kernelW, strideY: d.strideY, strideX: d.strideX,
            padTop: padTop, padX: d.padX, outputRows: outputRows)
    }

    func run(rows: Range<Int>, src: UnsafePointer<Float>, dst: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        let d = block.depthwise, e = d.inputChannels, inPlane = height * width, outPlane = outputHeight * outputWidth
        let buffer = scratch, convolved = scratch + expanded, phases = scratch + expanded + self.convolved
        let channelStride = capacity * width
        // Input rows [held.lowerBound, held.upperBound) are in `buffer`, expanded, from its row 0.
        var held = 0..<0
        var o0 = rows.lowerBound
        while o0 < rows.upperBound {
            let o1 = min(o0 + bandRows, rows.upperBound)
            // The input rows this band's taps read, clipped to the picture (outside it the taps read zeros).
            let lo = max(0, o0 * d.strideY - d.padY), hi = min(height, (o1 - 1) * d.strideY - d.padY + d.kernelH)
            if let expand = block.expand {
                let kept = held.clamped(to: lo..<hi)
                if !kept.isEmpty && kept.lowerBound > held.lowerBound {
                    let shift = (kept.lowerBound - held.lowerBound) * width
                    for c in 0..<e {
                        let row = buffer + c * channelStride
                        row.update(from: row + shift, count: kept.count * width)
                    }
                }
                let first = kept.isEmpty ? lo : kept.upperBound
                if first < hi {
                    expand.pointwise(
                        src + first * width, ldb: inPlane, columns: (hi - first) * width,
                        into: buffer + (first - lo) * width, ldc: channelStride, relu: true)
                }
                held = lo..<hi
            }
            let input = block.expand == nil ? src + lo * width : UnsafePointer(buffer)
            let padTop = lo - (o0 * d.strideY - d.padY)
            d.weights.withUnsafeBufferPointer { w in
                d.bias.withUnsafeBufferPointer { b in
                    band(inputRows: hi - lo, padTop: padTop, outputRows: o1 - o0).run(
                        input, channelStride: block.expand == nil ? inPlane : channelStride, channels: e,
                        weights: w.baseAddress!, bias: b.baseAddress!, relu: true, scratch: phases, into: convolved)
                }
            }
            let columns = (o1 - o0) * outputWidth
            block.project.pointwise(
                UnsafePointer(convolved), ldb: columns, columns: columns, into: dst + o0 * outputWidth, ldc: outPlane,
                relu: false, adding: block.residual ? src + o0 * outputWidth : nil, addingStride: inPlane)
            o0 = o1
        }
    }
}

extension Conv2d {
    var isPointwise: Bool {
        groups == 1 && kernelH == 1 && kernelW == 1 && strideY == 1 && strideX == 1 && padY == 0 && padX == 0
    }

    /// A 1×1 convolution of `columns` pixels on the calling thread: `dst[o][j] = bias[o] (+ adding[o][j]) +
    /// Σ_i W[o][i]·src[i][j]`, channel rows `ldb` (input) and `ldc` (output) apart, then `max(·, 0)` with `relu`.
    func pointwise(
        _ src: UnsafePointer<Float>, ldb: Int, columns: Int, into dst: UnsafeMutablePointer<Float>, ldc: Int, relu: Bool,
        adding residual: UnsafePointer<Float>? = nil, addingStride: Int = 0
    ) {
        for o in 0..<outputChannels {
            let row = dst + o * ldc
            if let residual {
                let r = residual + o * addingStride, b = bias[o]
                for j in 0..<columns { row[j] = r[j] + b }
            } else {
                row.update(repeating: bias[o], count: columns)
            }
        }
        weights.withUnsafeBufferPointer { w in
            BLAS.sgemm(
                m: outputChannels, n: columns, k: inputChannels, a: w.baseAddress!, lda: inputChannels, b: src, ldb: ldb,
                beta: 1, c: dst, ldc: ldc)
        }
        if relu {
            for o in 0..<outputChannels {
                let row = dst + o * ldc
                for j in 0..<columns { row[j] = max(row[j], 0) }
            }
        }
    }
}
