import NeuralNet
import TensorCore
import Testing
import _TestSupport

@Suite struct KernelTests {
    struct ConvCase: CustomTestStringConvertible, Sendable {
        var c, h, w, o, k, s, p: Int
        var testDescription: String { "\(c)x\(h)x\(w)->\(o) k\(k) s\(s) p\(p)" }
    }

    @Test(arguments: [
        ConvCase(c: 1, h: 1, w: 1, o: 1, k: 1, s: 1, p: 0),
        // Pointwise: the product runs on the input planes directly.
        ConvCase(c: 8, h: 9, w: 7, o: 5, k: 1, s: 1, p: 0),
        ConvCase(c: 3, h: 17, w: 13, o: 5, k: 3, s: 1, p: 1),
        ConvCase(c: 3, h: 23, w: 19, o: 4, k: 7, s: 2, p: 0),
        ConvCase(c: 5, h: 9, w: 11, o: 7, k: 5, s: 2, p: 2),
        ConvCase(c: 2, h: 8, w: 8, o: 3, k: 3, s: 2, p: 0),
        ConvCase(c: 4, h: 31, w: 7, o: 2, k: 9, s: 1, p: 4),
        ConvCase(c: 6, h: 5, w: 5, o: 6, k: 5, s: 3, p: 1),
    ])
    func convolutionMatchesDirectReference(_ t: ConvCase) {
        let x = randomFloats(t.c * t.h * t.w, seed: 1)
        let w = randomFloats(t.o * t.c * t.k * t.k, seed: 2)
        let b = randomFloats(t.o, seed: 3)
        let conv = Conv2d(
            inputChannels: t.c, outputChannels: t.o, kernelH: t.k, kernelW: t.k, strideY: t.s, strideX: t.s,
            padY: t.p, padX: t.p, weights: w, bias: b)
        let ws = Workspace()
        let input = FeatureMap(channels: t.c, height: t.h, width: t.w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        conv.forward(input, into: &out, workspace: ws)
        let ref = referenceConvolution(
            input: x, channels: t.c, height: t.h, width: t.w, weights: w, bias: b, outputs: t.o,
            kernelH: t.k, kernelW: t.k, strideY: t.s, strideX: t.s, padY: t.p, padX: t.p)
        #expect(out.height == ref.height && out.width == ref.width && out.channels == t.o)
        let d = maxAbsDifference(out.tensor().data, ref.data)
        #expect(d.value < 1e-4, "worst difference \(d.value) at \(d.index)")
    }

    @Test func bandedConvolutionEqualsSingleBand() {
        // A large input forces Conv2d to build im2col in bands of rows; results must not depend on banding.
        let c = 3, h = 700, w = 1500, o = 2, k = 5
        let x = randomFloats(c * h * w, seed: 4)
        let wt = randomFloats(o * c * k * k, seed: 5)
        let conv = Conv2d(
            inputChannels: c, outputChannels: o, kernelH: k, kernelW: k, strideY: 2, strideX: 2, padY: 0, padX: 0,
            weights: wt, bias: [0.5, -0.25])
        let ws = Workspace()
        let input = FeatureMap(channels: c, height: h, width: w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        conv.forward(input, into: &out, workspace: ws)
        #expect(75 * out.width * out.height > 8 << 20 / 2, "case must be large enough to band")
        // Spot-check rows from several bands against the direct formula.
        for (oc, r, cc) in [(0, 0, 0), (1, 100, 700), (0, out.height - 1, out.width - 1), (1, 200, 3)] {
            var s = Double(conv.bias[oc])
            for i in 0..<c {
                for ky in 0..<k {
                    for kx in 0..<k {
                        s += Double(wt[((oc * c + i) * k + ky) * k + kx]) * Double(x[(i * h + r * 2 + ky) * w + cc * 2 + kx])
                    }
                }
            }
            #expect(abs(Double(out.pointer[(oc * out.height + r) * out.width + cc]) - s) < 1e-4)
        }
    }

    @Test(arguments: [(1, 1, 1, 1), (7, 5, 3, 1), (13, 17, 9, 2), (64, 1, 33, 3)])
    func sgemmMatchesTripleLoop(m: Int, n: Int, k: Int, seed: UInt64) {
        let a = randomFloats(m * k, seed: seed), b = randomFloats(k * n, seed: seed + 10)
        var c = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &c, ldc: n)
        #expect(maxAbsDifference(c, referenceMatrixProduct(a, b, m: m, n: n, k: k)).value < 1e-4)
    }

    @Test(arguments: [
        (3, 11, 9, 3, 2, 0, false), (3, 11, 9, 3, 2, 0, true), (2, 35, 35, 2, 2, 0, true),
        (4, 7, 6, 3, 1, 1, true), (4, 7, 6, 3, 1, 1, false), (1, 72, 72, 3, 2, 0, false),
    ])
    func poolingMatchesReference(c: Int, h: Int, w: Int, k: Int, s: Int, p: Int, average: Bool) {
        let x = randomFloats(c * h * w, seed: 7)
        let ws = Workspace()
        let input = FeatureMap(channels: c, height: h, width: w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        Pool2d(kernelH: k, kernelW: k, strideY: s, strideX: s, padY: p, padX: p, average: average).forward(input, into: &out)
        let ref = referencePool(x, channels: c, height: h, width: w, kernel: k, stride: s, pad: p, average: average)
        #expect(out.height == ref.height && out.width == ref.width)
        #expect(maxAbsDifference(out.tensor().data, ref.data).value < 1e-6)
    }

    @Test func globalAveragePoolAndHandComputedCases() {
        let ws = Workspace()
        let input = FeatureMap(channels: 2, height: 2, width: 2, buffer: ws.borrow())
        input.pointer.update(from: [1, 2, 3, 4, -1, -2, -3, -6], count: 8)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        Pool2d(kernelH: 0, kernelW: 0, strideY: 1, strideX: 1, padY: 0, padX: 0, average: true).forward(input, into: &out)
        #expect(out.tensor().data == [2.5, -3])
        Pool2d(kernelH: 2, kernelW: 2, strideY: 2, strideX: 2, padY: 0, padX: 0, average: false).forward(input, into: &out)
        #expect(out.tensor().data == [4, -1])
    }

    @Test func zeroPaddedAddMatchesDlibSemantics() {
        // 2×3×3 + 4×4×4: result 4×4×4, each input added where it exists.
        let a = randomFloats(2 * 3 * 3, seed: 8), b = randomFloats(4 * 4 * 4, seed: 9)
        var out = [Float](repeating: .nan, count: 64)
        addZeroPadded(a, 2, 3, 3, b, 4, 4, 4, into: &out)
        for k in 0..<4 {
            for y in 0..<4 {
                for x in 0..<4 {
                    let expected = b[(k * 4 + y) * 4 + x] + ((k < 2 && y < 3 && x < 3) ? a[(k * 3 + y) * 3 + x] : 0)
                    #expect(out[(k * 4 + y) * 4 + x] == expected)
                }
            }
        }
    }

    @Test func linearAffineAndReluMatchFormulas() {
        let x = randomFloats(6, seed: 11), w = randomFloats(6 * 4, seed: 12)
        let ws = Workspace()
        let input = FeatureMap(channels: 6, height: 1, width: 1, buffer: ws.borrow())
        input.pointer.update(from: x, count: 6)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        Linear(inputs: 6, outputs: 4, weights: w, bias: [1, 2, 3, 4]).forward(input, into: &out)
        let ref = referenceMatrixProduct(x, w, m: 1, n: 4, k: 6).enumerated().map { $0.element + Float($0.offset + 1) }
        #expect(maxAbsDifference(out.tensor().data, ref).value < 1e-5)
        Affine(gamma: [2, 3, -1, 1, 1, 1], beta: [0, 1, 0, 0, 0, 0]).forward(input)
        #expect(abs(input.pointer[1] - (x[1] * 3 + 1)) < 1e-6 && abs(input.pointer[2] + x[2]) < 1e-6)
        reluInPlace(input.pointer, count: 6)
        #expect((0..<6).allSatisfy { input.pointer[$0] >= 0 })
        let bn = Affine(batchNormGamma: [2], beta: [1], runningMean: [0.5], runningVariance: [3], epsilon: 1)
        #expect(abs(bn.gamma[0] - 1) < 1e-6 && abs(bn.beta[0] - 0.5) < 1e-6)
    }

    @Test func steadyStateInferenceReusesWorkspaceMemory() {
        let conv = Conv2d(
            inputChannels: 3, outputChannels: 4, kernelH: 3, kernelW: 3, strideY: 1, strideX: 1, padY: 1, padX: 1,
            weights: randomFloats(108, seed: 1), bias: [0, 0, 0, 0])
        let ws = Workspace()
        let inBuf = ws.borrow(), outBuf = ws.borrow()
        var pointers: [UnsafeMutablePointer<Float>] = []
        for _ in 0..<3 {
            let input = FeatureMap(channels: 3, height: 20, width: 20, buffer: inBuf)
            var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: outBuf)
            conv.forward(input, into: &out, workspace: ws)
            pointers.append(out.pointer)
            pointers.append(ws.columns.pointer)
        }
        #expect(pointers[0] == pointers[2] && pointers[2] == pointers[4], "output buffer reallocated")
        #expect(pointers[1] == pointers[3] && pointers[3] == pointers[5], "im2col buffer reallocated")
    }
}
