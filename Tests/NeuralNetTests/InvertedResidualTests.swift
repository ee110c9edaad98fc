import Foundation
import TensorCore
import Testing
import _TestSupport

@testable import NeuralNet

/// The fused inverted-residual block against the same layers run one by one with the naive kernels, and the
/// split matrix product against a triple loop.
@Suite struct InvertedResidualTests {
    struct BlockCase: CustomTestStringConvertible, Sendable {
        var cin, e, cout, h, w, stride: Int
        var expand, residual: Bool
        /// Output rows per band (nil: the block's own choice from its cache budget).
        var bandRows: Int?
        var split: Bool
        var testDescription: String {
            "\(cin)→\(e)→\(cout) \(h)x\(w) s\(stride)\(expand ? "" : " no-expand")\(residual ? " +x" : "") band \(bandRows.map(String.init) ?? "auto")\(split ? " split" : "")"
        }
    }

    static let cases: [BlockCase] = [
        BlockCase(cin: 4, e: 12, cout: 4, h: 9, w: 7, stride: 1, expand: true, residual: true, bandRows: 1, split: false),
        BlockCase(cin: 4, e: 12, cout: 4, h: 9, w: 7, stride: 1, expand: true, residual: true, bandRows: 2, split: true),
        BlockCase(cin: 4, e: 12, cout: 4, h: 9, w: 7, stride: 1, expand: true, residual: true, bandRows: nil, split: true),
        BlockCase(cin: 3, e: 18, cout: 5, h: 11, w: 10, stride: 2, expand: true, residual: false, bandRows: 1, split: false),
        BlockCase(cin: 3, e: 18, cout: 5, h: 12, w: 9, stride: 2, expand: true, residual: false, bandRows: 2, split: true),
        BlockCase(cin: 3, e: 18, cout: 5, h: 13, w: 9, stride: 2, expand: true, residual: false, bandRows: 4, split: false),
        BlockCase(cin: 6, e: 6, cout: 3, h: 10, w: 8, stride: 1, expand: false, residual: false, bandRows: 3, split: true),
        BlockCase(cin: 6, e: 6, cout: 6, h: 5, w: 5, stride: 1, expand: false, residual: true, bandRows: 1, split: false),
        BlockCase(cin: 2, e: 8, cout: 2, h: 1, w: 6, stride: 1, expand: true, residual: true, bandRows: nil, split: true),
        // The automatic band (here one per thread: the budget holds a stripe) on shapes of CenterFace's blocks.
        BlockCase(cin: 16, e: 96, cout: 24, h: 64, w: 48, stride: 2, expand: true, residual: false, bandRows: nil, split: true),
        BlockCase(cin: 24, e: 144, cout: 24, h: 40, w: 32, stride: 1, expand: true, residual: true, bandRows: nil, split: true),
    ]

    @Test(arguments: cases)
    func blockMatchesTheLayersOneByOne(_ t: BlockCase) throws {
        let x = randomFloats(t.cin * t.h * t.w, seed: 21)
        let expandW = randomFloats(t.e * t.cin, seed: 22), expandB = randomFloats(t.e, seed: 23)
        let dwW = randomFloats(t.e * 9, seed: 24), dwB = randomFloats(t.e, seed: 25)
        let projectW = randomFloats(t.cout * t.e, seed: 26), projectB = randomFloats(t.cout, seed: 27)
        let block = InvertedResidual(
            expand: t.expand
                ? Conv2d(
                    inputChannels: t.cin, outputChannels: t.e, kernelH: 1, kernelW: 1, strideY: 1, strideX: 1, padY: 0, padX: 0,
                    weights: expandW, bias: expandB) : nil,
            depthwise: Conv2d(
                inputChannels: t.e, outputChannels: t.e, kernelH: 3, kernelW: 3, strideY: t.stride, strideX: t.stride, padY: 1,
                padX: 1, groups: t.e, weights: dwW, bias: dwB),
            project: Conv2d(
                inputChannels: t.e, outputChannels: t.cout, kernelH: 1, kernelW: 1, strideY: 1, strideX: 1, padY: 0, padX: 0,
                weights: projectW, bias: projectB),
            residual: t.residual)

        // The layers one by one, naive.
        var hidden = x
        if t.expand {
            hidden = referenceGroupedConvolution(
                input: x, channels: t.cin, height: t.h, width: t.w, weights: expandW, bias: expandB, outputs: t.e, groups: 1,
                kernel: 1, stride: 1, pad: 0
            ).data.map { max($0, 0) }
        }
        let dw = referenceGroupedConvolution(
            input: hidden, channels: t.e, height: t.h, width: t.w, weights: dwW, bias: dwB, outputs: t.e, groups: t.e,
            kernel: 3, stride: t.stride, pad: 1)
        var expected = referenceGroupedConvolution(
            input: dw.data.map { max($0, 0) }, channels: t.e, height: dw.height, width: dw.width, weights: projectW,
            bias: projectB, outputs: t.cout, groups: 1, kernel: 1, stride: 1, pad: 0
        ).data
        if t.residual { expected = zip(expected, x).map { $0 + $1 } }

        let ws = Workspace()
        let input = FeatureMap(channels: t.cin, height: t.h, width: t.w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        if t.split {
            BLAS.withSplitWork(threads: 2) { block.forward(input, into: &out, workspace: ws, bandRows: t.bandRows) }
        } else {
            block.forward(input, into: &out, workspace: ws, bandRows: t.bandRows)
        }
        #expect(out.channels == t.cout && out.height == dw.height && out.width == dw.width)
        let d = maxAbsDifference(out.tensor().data, expected)
        #expect(d.value < 1e-4, "worst difference \(d.value) at \(d.index)")
    }

    /// The automatic band keeps a band's expanded and convolved rows within the cache budget, and is at least a row.
    @Test func automaticBandsFitTheBudget() {
        let block = InvertedResidual(
            expand: Conv2d(
                inputChannels: 16, outputChannels: 96, kernelH: 1, kernelW: 1, strideY: 1, strideX: 1, padY: 0, padX: 0,
                weights: [Float](repeating: 0, count: 96 * 16), bias: [Float](repeating: 0, count: 96)),
            depthwise: Conv2d(
                inputChannels: 96, outputChannels: 96, kernelH: 3, kernelW: 3, strideY: 2, strideX: 2, padY: 1, padX: 1,
                groups: 96, weights: [Float](repeating: 0, count: 96 * 9), bias: [Float](repeating: 0, count: 96)),
            project: Conv2d(
                inputChannels: 96, outputChannels: 24, kernelH: 1, kernelW: 1, strideY: 1, strideX: 1, padY: 0, padX: 0,
                weights: [Float](repeating: 0, count: 24 * 96), bias: [Float](repeating: 0, count: 24)),
            residual: false)
        for (w, ow) in [(64, 32), (256, 128), (1024, 512)] {
            let rows = block.bandRows(width: w, outputWidth: ow)
            let floats = 96 * ((rows - 1) * 2 + 3) * w + 96 * rows * ow
            #expect(rows >= 1)
            #expect(rows == 1 || floats <= InvertedResidual.bandBudget, "width \(w): \(rows) rows, \(floats) floats")
        }
        #expect(block.bandRows(width: 64, outputWidth: 32) > block.bandRows(width: 256, outputWidth: 128))
    }

    /// Inside `BLAS.withSplitWork` the other layers of a mobile network split their work too: the im2col path by
    /// bands of rows, the pointwise path by columns (large planes) or output channels (small ones), the transposed
    /// convolution's product likewise. Each against its naive twin, on two threads whatever the machine has.
    @Test(arguments: [
        (3, 32, 3, 2, 1, 96, 64), (24, 24, 3, 1, 1, 40, 32), (16, 96, 1, 1, 0, 64, 48), (96, 160, 1, 1, 0, 6, 8),
    ])
    func convolutionsSplitOverThreadsMatchTheNaiveKernels(c: Int, o: Int, k: Int, s: Int, p: Int, h: Int, w: Int) throws {
        let x = randomFloats(c * h * w, seed: 41), wt = randomFloats(o * c * k * k, seed: 42), b = randomFloats(o, seed: 43)
        let conv = Conv2d(
            inputChannels: c, outputChannels: o, kernelH: k, kernelW: k, strideY: s, strideX: s, padY: p, padX: p, weights: wt,
            bias: b)
        let ws = Workspace()
        let input = FeatureMap(channels: c, height: h, width: w, buffer: ws.borrow())
        input.pointer.update(from: x, count: x.count)
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: ws.borrow())
        #expect(BLAS.withSplitWork(threads: 2) { BLAS.splitThreads } == 2)
        BLAS.withSplitWork(threads: 2) { conv.forward(input, into: &out, workspace: ws, relu: true) }
        let ref = referenceGroupedConvolution(
            input: x, channels: c, height: h, width: w, weights: wt, bias: b, outputs: o, groups: 1, kernel: k, stride: s, pad: p)
        let d = maxAbsDifference(out.tensor().data, ref.data.map { max($0, 0) })
        #expect(out.height == ref.height && out.width == ref.width && d.value < 1e-4, "worst difference \(d.value) at \(d.index)")

        // The transposed convolution (CenterFace's upsampling) of the same input.
        let tw = randomFloats(c * o * 4, seed: 44), tb = randomFloats(o, seed: 45)
        let up = ConvTranspose2d(
            inputChannels: c, outputChannels: o, kernelH: 2, kernelW: 2, strideY: 2, strideX: 2, padY: 0, padX: 0,
            outputPaddingY: 0, outputPaddingX: 0, weights: tw, bias: tb)
        BLAS.withSplitWork(threads: 2) { up.forward(input, into: &out, workspace: ws) }
        let upRef = referenceTransposedConvolution(
            input: x, channels: c, height: h, width: w, weights: tw, bias: tb, outputs: o, kernel: 2, stride: 2, pad: 0)
        let du = maxAbsDifference(out.tensor().data, upRef.data)
        #expect(du.value < 1e-4, "transposed: worst difference \(du.value) at \(du.index)")
    }

    @Test(arguments: [
        (false, 7, 600, 5, 2), (false, 13, 9, 4, 2), (true, 6, 700, 3, 2), (true, 11, 5, 8, 3), (false, 5, 3, 2, 1),
    ])
    func splitProductMatchesTripleLoop(transposeA: Bool, m: Int, n: Int, k: Int, threads: Int) {
        let a = randomFloats(m * k, seed: 31), b = randomFloats(k * n, seed: 32), c0 = randomFloats(m * n, seed: 33)
        // A stored k×m when transposed: element (i, l) of op(A) at a[l·m + i].
        let opA = transposeA ? (0..<(m * k)).map { a[($0 % k) * m + $0 / k] } : a
        let product = referenceMatrixProduct(opA, b, m: m, n: n, k: k)
        var c = c0
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    BLAS.splitSgemm(
                        transposeA: transposeA, m: m, n: n, k: k, a: ap.baseAddress!, lda: transposeA ? m : k,
                        b: bp.baseAddress!, ldb: n, beta: 1, c: cp.baseAddress!, ldc: n, threads: threads)
                }
            }
        }
        let d = maxAbsDifference(c, zip(product, c0).map { $0 + $1 })
        #expect(d.value < 1e-4, "worst difference \(d.value) at \(d.index)")
    }
}
