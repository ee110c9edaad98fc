import NeuralNet
import TensorCore

/// Input gradients through a dlib network with its weights frozen: what a loss on the face descriptor says about
/// every input pixel (issue 17's identity term, ‖e(x − r) − e(x)‖, trains the JND image through the face model).
///
/// The forward pass keeps every operation's input; the backward pass walks the operations in reverse:
/// ```
/// conv     dX = col2im(Wᵀ · dY)                   affine   dX = dY · γ[c]
/// relu     dX = dY · [x > 0]                      linear   dX = W · dY
/// max pool dY goes to the window's first maximum  avg pool dY / n to each of the n pixels the window read
/// tag n    dX = dY + (gradient gathered for tag n by later skips and add_prevs)
/// skip n   the gradient goes to tag n; dX = 0     add_prev n   dX = dY cropped to X; tag n gets dY cropped to it
/// ```
extension DlibNetwork {
    /// The network's output for `input`, and the gradient of a loss with respect to the input, given the loss's
    /// gradient with respect to the output (`outputGradient`, called once with the output).
    func inputGradient(_ input: Tensor, outputGradient: (Tensor) -> Tensor) -> (output: Tensor, gradient: Tensor) {
        let workspace = Workspace()
        var current = input
        var tags: [Int: Tensor] = [:]
        var inputs: [Tensor] = []
        var addedShapes: [Int: Tensor] = [:]  // operation index → the tag an add_prev read (for its shape)
        for (i, op) in operations.enumerated() {
            inputs.append(current)
            switch op {
            case .conv(let c): current = run(current, workspace) { c.forward($0, into: &$1, workspace: workspace) }
            case .affine(let a):
                current = run(current, workspace) { x, out in
                    out = x
                    a.forward(out)
                }
            case .relu: current.data = current.data.map { max(0, $0) }
            case .pool(let p): current = run(current, workspace) { p.forward($0, into: &$1) }
            case .linear(let l): current = run(current, workspace) { l.forward($0, into: &$1) }
            case .tag(let n): tags[n] = current
            case .skip(let n): current = tags[n]!
            case .addPrevious(let n):
                let t = tags[n]!
                addedShapes[i] = t
                var out = Tensor(
                    channels: max(t.channels, current.channels), height: max(t.height, current.height), width: max(t.width, current.width))
                addCropped(current, into: &out)
                addCropped(t, into: &out)
                current = out
            }
        }
        let output = current
        var g = outputGradient(output)
        precondition(g.data.count == output.data.count, "inputGradient: output gradient shape")
        var gathered: [Int: Tensor] = [:]
        for i in operations.indices.reversed() {
            let x = inputs[i]
            switch operations[i] {
            case .conv(let c): g = c.inputGradient(g, inputHeight: x.height, inputWidth: x.width)
            case .affine(let a):
                let plane = g.height * g.width
                for k in 0..<g.channels { for j in 0..<plane { g.data[k * plane + j] *= a.gamma[k] } }
            case .relu: for j in g.data.indices where x.data[j] <= 0 { g.data[j] = 0 }
            case .pool(let p): g = p.inputGradient(g, input: x)
            case .linear(let l):
                var dx = Tensor(channels: x.channels, height: x.height, width: x.width)
                for r in 0..<l.inputs {
                    var s: Float = 0
                    for j in 0..<l.outputs { s += l.weights[r * l.outputs + j] * g.data[j] }
                    dx.data[r] = s
                }
                g = dx
            case .tag(let n):
                if let t = gathered.removeValue(forKey: n) { for j in g.data.indices { g.data[j] += t.data[j] } }
            case .skip(let n):
                gather(g, into: &gathered, tag: n)
                g = Tensor(channels: x.channels, height: x.height, width: x.width)
            case .addPrevious(let n):
                let t = addedShapes[i]!
                var forTag = Tensor(channels: t.channels, height: t.height, width: t.width)
                addCropped(g, into: &forTag)
                gather(forTag, into: &gathered, tag: n)
                var dx = Tensor(channels: x.channels, height: x.height, width: x.width)
                addCropped(g, into: &dx)
                g = dx
            }
        }
        return (output, g)
    }

    /// Runs one layer on a tensor through workspace buffers.
    private func run(_ x: Tensor, _ workspace: Workspace, _ body: (FeatureMap, inout FeatureMap) -> Void) -> Tensor {
        let input = FeatureMap(channels: x.channels, height: x.height, width: x.width, buffer: workspace.borrow())
        x.data.withUnsafeBufferPointer { input.pointer.update(from: $0.baseAddress!, count: x.data.count) }
        var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: workspace.borrow())
        body(input, &out)
        let result = out.tensor()
        workspace.release(input.buffer)
        workspace.release(out.buffer)
        return result
    }

    private func gather(_ g: Tensor, into gathered: inout [Int: Tensor], tag n: Int) {
        if var t = gathered[n] {
            for j in t.data.indices { t.data[j] += g.data[j] }
            gathered[n] = t
        } else {
            gathered[n] = g
        }
    }
}

/// Adds the part of `src` that lies inside `dst`'s shape (channels, rows, columns from 0) to `dst`: dlib's
/// zero-padded add_prev forwards, and its gradient backwards.
func addCropped(_ src: Tensor, into dst: inout Tensor) {
    let c = min(src.channels, dst.channels), h = min(src.height, dst.height), w = min(src.width, dst.width)
    for k in 0..<c {
        for y in 0..<h {
            for x in 0..<w { dst.data[(k * dst.height + y) * dst.width + x] += src.data[(k * src.height + y) * src.width + x] }
        }
    }
}

extension Conv2d {
    /// dX for dY (frozen weights): col2im of Wᵀ · dY.
    func inputGradient(_ dy: Tensor, inputHeight h: Int, inputWidth w: Int) -> Tensor {
        precondition(groups == 1, "Conv2d.inputGradient: grouped convolutions are not needed by dlib's networks")
        let k = inputChannels * kernelH * kernelW, plane = dy.height * dy.width
        var cols = [Float](repeating: 0, count: k * plane)
        var dx = Tensor(channels: inputChannels, height: h, width: w)
        weights.withUnsafeBufferPointer { wt in
            dy.data.withUnsafeBufferPointer { d in
                cols.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(
                        transposeA: true, m: k, n: plane, k: outputChannels, a: wt.baseAddress!, lda: k, b: d.baseAddress!, ldb: plane,
                        c: c.baseAddress!, ldc: plane)
                }
            }
        }
        cols.withUnsafeBufferPointer { c in
            dx.data.withUnsafeMutableBufferPointer { out in
                col2imAdd(
                    c.baseAddress!, channels: inputChannels, height: dy.height, width: dy.width, kernelH: kernelH, kernelW: kernelW,
                    strideY: strideY, strideX: strideX, padY: padY, padX: padX, outputHeight: h, outputWidth: w, into: out.baseAddress!)
            }
        }
        return dx
    }
}

extension Pool2d {
    /// dX for dY, given the layer's input `x` (max pooling routes each output's gradient to its window's maximum).
    func inputGradient(_ dy: Tensor, input x: Tensor) -> Tensor {
        let kh = kernelH == 0 ? x.height : kernelH, kw = kernelW == 0 ? x.width : kernelW
        var dx = Tensor(channels: x.channels, height: x.height, width: x.width)
        let plane = x.height * x.width
        for c in 0..<x.channels {
            for oy in 0..<dy.height {
                let y0 = max(0, oy * strideY - padY), y1 = min(x.height, oy * strideY - padY + kh)
                for ox in 0..<dy.width {
                    let x0 = max(0, ox * strideX - padX), x1 = min(x.width, ox * strideX - padX + kw)
                    guard y1 > y0, x1 > x0 else { continue }
                    let g = dy.data[(c * dy.height + oy) * dy.width + ox]
                    if average {
                        let share = g / Float((y1 - y0) * (x1 - x0))
                        for y in y0..<y1 { for xx in x0..<x1 { dx.data[c * plane + y * x.width + xx] += share } }
                    } else {
                        var best = c * plane + y0 * x.width + x0
                        for y in y0..<y1 {
                            for xx in x0..<x1 where x.data[c * plane + y * x.width + xx] > x.data[best] { best = c * plane + y * x.width + xx }
                        }
                        dx.data[best] += g
                    }
                }
            }
        }
        return dx
    }
}
