import NeuralNet
import TensorCore
import Testing
import _TestSupport

/// Grouped, depthwise and transposed convolution (the fast detector's layers) against their naive twins.
@Suite struct MobileKernelTests {
    struct GroupCase: CustomTestStringConvertible, Sendable {
        var c, h, w, o, groups, k, s, p: Int
        var testDescription: String { "\(c)x\(h)x\(w)->\(o) g\(groups) k\(k) s\(s) p\(p)" }
    }

    private func run(_ layer: Conv2d, _ x: [Float], _ c: Int, _ h: Int, _ w: Int, relu: Bool = false) -> FeatureMap {
        let ws = Workspace()
        let input = FeatureMap(channels: c, height: h, width: w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        layer.forward(input, into: &out, workspace: ws, relu: relu)
        return out
    }

    @Test(arguments: [
        // Depthwise (groups = channels = outputs): the dedicated kernel, with both strides and odd sizes.
        GroupCase(c: 5, h: 9, w: 11, o: 5, groups: 5, k: 3, s: 1, p: 1),
        GroupCase(c: 4, h: 16, w: 13, o: 4, groups: 4, k: 3, s: 2, p: 1),
        GroupCase(c: 3, h: 12, w: 16, o: 3, groups: 3, k: 3, s: 2, p: 1),
        GroupCase(c: 2, h: 5, w: 1, o: 2, groups: 2, k: 3, s: 2, p: 1),
        GroupCase(c: 2, h: 9, w: 10, o: 2, groups: 2, k: 3, s: 2, p: 0),
        GroupCase(c: 2, h: 6, w: 7, o: 2, groups: 2, k: 3, s: 1, p: 0),
        GroupCase(c: 2, h: 8, w: 9, o: 2, groups: 2, k: 2, s: 1, p: 1),
        GroupCase(c: 2, h: 11, w: 10, o: 2, groups: 2, k: 3, s: 3, p: 1),
        GroupCase(c: 3, h: 7, w: 7, o: 3, groups: 3, k: 5, s: 2, p: 0),
        GroupCase(c: 2, h: 2, w: 3, o: 2, groups: 2, k: 3, s: 1, p: 1),
        // Large enough to split channels over threads.
        GroupCase(c: 64, h: 40, w: 40, o: 64, groups: 64, k: 3, s: 1, p: 1),
        // General groups: im2col + sgemm per group.
        GroupCase(c: 6, h: 10, w: 9, o: 4, groups: 2, k: 3, s: 1, p: 1),
        GroupCase(c: 6, h: 8, w: 8, o: 9, groups: 3, k: 1, s: 2, p: 0),
        GroupCase(c: 6, h: 5, w: 4, o: 4, groups: 2, k: 1, s: 1, p: 0),
    ])
    func groupedConvolutionMatchesDirectReference(_ t: GroupCase) {
        let x = randomFloats(t.c * t.h * t.w, seed: 11)
        let wt = randomFloats(t.o * t.c / t.groups * t.k * t.k, seed: 12)
        let b = randomFloats(t.o, seed: 13)
        let conv = Conv2d(
            inputChannels: t.c, outputChannels: t.o, kernelH: t.k, kernelW: t.k, strideY: t.s, strideX: t.s, padY: t.p,
            padX: t.p, groups: t.groups, weights: wt, bias: b)
        let out = run(conv, x, t.c, t.h, t.w)
        let ref = referenceGroupedConvolution(
            input: x, channels: t.c, height: t.h, width: t.w, weights: wt, bias: b, outputs: t.o, groups: t.groups,
            kernel: t.k, stride: t.s, pad: t.p)
        #expect(out.height == ref.height && out.width == ref.width && out.channels == t.o)
        let d = maxAbsDifference(out.tensor().data, ref.data)
        #expect(d.value < 1e-4, "worst difference \(d.value) at \(d.index)")
    }

    /// A Relu folded into a convolution (the detector's layers) equals applying it afterwards, on each of
    /// Conv2d's paths: depthwise 3×3 and 5×5, pointwise (sgemm only) and im2col + sgemm.
    @Test(arguments: [(4, 4, 3, 1, 1), (4, 4, 5, 2, 2), (3, 5, 1, 1, 0), (3, 5, 3, 2, 1)])
    func foldedReluEqualsReluAfterwards(c: Int, o: Int, k: Int, s: Int, p: Int) {
        let (h, w) = (9, 10), groups = c == o ? c : 1
        let x = randomFloats(c * h * w, seed: 41)
        let conv = Conv2d(
            inputChannels: c, outputChannels: o, kernelH: k, kernelW: k, strideY: s, strideX: s, padY: p, padX: p,
            groups: groups, weights: randomFloats(o * c / groups * k * k, seed: 42), bias: randomFloats(o, seed: 43))
        let plain = run(conv, x, c, h, w).tensor().data, fused = run(conv, x, c, h, w, relu: true).tensor().data
        #expect(plain.contains { $0 < 0 } && plain.contains { $0 > 0 })
        #expect(fused == plain.map { max($0, 0) })
    }

    @Test(arguments: [(3, 4, 5, 2, 2, 2, 0, 0), (2, 3, 3, 4, 3, 2, 1, 1), (4, 1, 1, 3, 3, 1, 0, 0), (5, 6, 7, 3, 4, 3, 1, 0)])
    func transposedConvolutionMatchesDirectReference(c: Int, h: Int, w: Int, o: Int, k: Int, s: Int, p: Int, op: Int) {
        let x = randomFloats(c * h * w, seed: 21)
        let wt = randomFloats(c * o * k * k, seed: 22)
        let b = randomFloats(o, seed: 23)
        let layer = ConvTranspose2d(
            inputChannels: c, outputChannels: o, kernelH: k, kernelW: k, strideY: s, strideX: s, padY: p, padX: p,
            outputPaddingY: op, outputPaddingX: op, weights: wt, bias: b)
        let ws = Workspace()
        let input = FeatureMap(channels: c, height: h, width: w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        layer.forward(input, into: &out, workspace: ws)
        let ref = referenceTransposedConvolution(
            input: x, channels: c, height: h, width: w, weights: wt, bias: b, outputs: o, kernel: k, stride: s, pad: p,
            outputPadding: op)
        #expect(out.height == ref.height && out.width == ref.width && out.channels == o)
        let d = maxAbsDifference(out.tensor().data, ref.data)
        #expect(d.value < 1e-4, "worst difference \(d.value) at \(d.index)")
    }

    @Test func foldingABatchNormEqualsApplyingItAfterwards() {
        let (c, h, w, o) = (3, 6, 5, 4)
        let x = randomFloats(c * h * w, seed: 31)
        let scale = randomFloats(o, seed: 32), shift = randomFloats(o, seed: 33)
        let conv = Conv2d(
            inputChannels: c, outputChannels: o, kernelH: 3, kernelW: 3, strideY: 1, strideX: 1, padY: 1, padX: 1,
            weights: randomFloats(o * c * 9, seed: 34), bias: randomFloats(o, seed: 35))
        let plain = run(conv, x, c, h, w).tensor()
        let folded = run(conv.folding(scale: scale, shift: shift), x, c, h, w).tensor()
        var worst: Float = 0
        for ch in 0..<o {
            for y in 0..<h { for xx in 0..<w { worst = max(worst, abs(folded[ch, y, xx] - (plain[ch, y, xx] * scale[ch] + shift[ch]))) } }
        }
        #expect(worst < 1e-5)
        let deconv = ConvTranspose2d(
            inputChannels: c, outputChannels: o, kernelH: 2, kernelW: 2, strideY: 2, strideX: 2, padY: 0, padX: 0,
            weights: randomFloats(c * o * 4, seed: 36), bias: randomFloats(o, seed: 37))
        let dfolded = deconv.folding(scale: scale, shift: shift)
        let ws = Workspace()
        let input = FeatureMap(channels: c, height: h, width: w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var a = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        var bOut = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        deconv.forward(input, into: &a, workspace: ws)
        dfolded.forward(input, into: &bOut, workspace: ws)
        let ta = a.tensor(), tb = bOut.tensor()
        worst = 0
        for ch in 0..<o {
            for y in 0..<ta.height { for xx in 0..<ta.width { worst = max(worst, abs(tb[ch, y, xx] - (ta[ch, y, xx] * scale[ch] + shift[ch]))) } }
        }
        #expect(worst < 1e-5)
    }
}
