import NeuralNet
import TensorCore

/// A dlib DNN as a straight list of operations with tag/skip/add_prev wiring (specs/dlib-models.md §2, §5).
///
/// Loaded models are immutable and can be shared between threads; each caller brings its own `Workspace`.
struct DlibNetwork: Sendable {
    enum Operation: Sendable {
        case conv(Conv2d)
        case affine(Affine)
        case relu
        case pool(Pool2d)
        case linear(Linear)
        /// Remember the current output as tag N.
        case tag(Int)
        /// Replace the current output by tag N's.
        case skip(Int)
        /// Add tag N's output (zero-padded to the larger shape).
        case addPrevious(Int)
    }

    var operations: [Operation]

    /// Runs the network on `input` (which it may overwrite) and returns the output in a workspace buffer.
    func forward(_ input: FeatureMap, workspace: Workspace) -> FeatureMap {
        var current = input
        var tags: [Int: FeatureMap] = [:]
        func isPinned(_ b: ScratchBuffer) -> Bool {
            b === current.buffer || tags.values.contains { $0.buffer === b }
        }
        /// Makes `next` the current output and returns the old one's buffer unless a tag still holds it.
        func advance(to next: FeatureMap) {
            let old = current.buffer
            current = next
            if !isPinned(old) { workspace.release(old) }
        }
        var skipRelu = false
        for (index, op) in operations.enumerated() {
            if skipRelu {
                skipRelu = false
                continue
            }
            switch op {
            case .conv(let c):
                var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: workspace.borrow())
                c.forward(current, into: &out, workspace: workspace)
                advance(to: out)
            case .affine(let a):
                // affine followed by relu: one pass over memory instead of two.
                if index + 1 < operations.count, case .relu = operations[index + 1] {
                    a.forward(current, relu: true)
                    skipRelu = true
                } else {
                    a.forward(current)
                }
            case .relu:
                reluInPlace(current.pointer, count: current.count)
            case .pool(let p):
                var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: workspace.borrow())
                p.forward(current, into: &out)
                advance(to: out)
            case .linear(let l):
                var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: workspace.borrow())
                l.forward(current, into: &out)
                advance(to: out)
            case .tag(let n):
                let old = tags[n]
                tags[n] = current
                if let old, !isPinned(old.buffer) { workspace.release(old.buffer) }
            case .skip(let n):
                advance(to: tags[n]!)
            case .addPrevious(let n):
                let t = tags[n]!
                let out = FeatureMap(
                    channels: max(t.channels, current.channels), height: max(t.height, current.height),
                    width: max(t.width, current.width), buffer: workspace.borrow())
                addZeroPadded(
                    current.pointer, current.channels, current.height, current.width,
                    t.pointer, t.channels, t.height, t.width, into: out.pointer)
                advance(to: out)
            }
        }
        return current
    }
}

/// The parts of a dlib DNN file common to every network: wrapper chain, input layer, layer payloads.
struct DlibNetworkParser {
    /// What the input layer said.
    struct InputLayer {
        var kind: String
        var mean: (Float, Float, Float)
        var rows: Int?
        var cols: Int?
    }

    /// Reads everything after the loss layer. Returns the input layer and the operations in forward order.
    static func parse(_ r: inout DlibArchiveReader) throws -> (InputLayer, DlibNetwork) {
        // 1. Wrapper versions, outermost first, until the input layer's name.
        var chain: [Int] = []
        while true {
            let save = r
            if let s = try? r.string(), s.hasPrefix("input") {
                r = save
                break
            }
            r = save
            let start = r.offset
            let v = try r.int("a layer wrapper version")
            guard (1...3).contains(v) else { throw r.fail("a layer wrapper version 1, 2 or 3, got \(v)", at: start) }
            chain.append(v)
            guard chain.count < 10_000 else { throw r.fail("the input layer") }
        }
        guard chain.last == 3 || chain.last == 2 else { throw r.fail("a bottom layer before the input layer") }

        // 2. Input layer.
        let start = r.offset
        let name = try r.string("input layer name")
        var input = InputLayer(kind: name, mean: (0, 0, 0), rows: nil, cols: nil)
        switch name {
        case "input_rgb_image_sized":
            input.mean = (try r.float(), try r.float(), try r.float())
            input.rows = try r.count("input rows", limit: 1 << 16)
            input.cols = try r.count("input cols", limit: 1 << 16)
        case "input_rgb_image_pyramid":
            input.mean = (try r.float(), try r.float(), try r.float())
        default:
            throw r.fail("a known input layer, found \"\(name)\"", at: start)
        }

        // 3. Payloads, innermost wrapper first; tag/skip wrappers (version 1) carry none.
        var raw: [DlibNetwork.Operation?] = []  // nil marks a tag/skip wrapper to be resolved below
        for (i, version) in chain.enumerated().reversed() {
            if version == 1 {
                raw.append(nil)
                continue
            }
            raw.append(try layerDetails(&r))
            _ = try r.bool("setup_called"); _ = try r.bool("gradient_input_is_stale"); _ = try r.bool("output_and_gradient_disabled")
            _ = try r.tensor("x_grad"); _ = try r.tensor("cached_output")
            let isBottom = i == chain.count - 1
            if isBottom {
                _ = try r.tensor("grad_final")
                if version == 3 { _ = try r.int("sample_expansion_factor") }
            } else if version == 2 {
                _ = try r.tensor("params_grad")
            }
        }
        try r.expectEnd()

        // 4. Wiring (not stored in the file): a lone version-1 wrapper is tag1; two in a row are tag2 then skip1;
        //    add_prev right after an avg_pool adds tag2, any other adds tag1.
        var ops: [DlibNetwork.Operation] = []
        var i = 0
        while i < raw.count {
            if raw[i] == nil {
                if i + 1 < raw.count, raw[i + 1] == nil {
                    ops.append(.tag(2)); ops.append(.skip(1)); i += 2
                } else {
                    ops.append(.tag(1)); i += 1
                }
                continue
            }
            if case .addPrevious = raw[i]! {
                if let last = ops.last, case .pool(let p) = last, p.average { ops.append(.addPrevious(2)) } else { ops.append(.addPrevious(1)) }
            } else {
                ops.append(raw[i]!)
            }
            i += 1
        }
        return (input, DlibNetwork(operations: ops))
    }

    private static func multipliers(_ r: inout DlibArchiveReader) throws {
        for _ in 0..<4 { _ = try r.real("learning-rate/weight-decay multiplier") }
    }

    static func layerDetails(_ r: inout DlibArchiveReader) throws -> DlibNetwork.Operation {
        let start = r.offset
        let name = try r.string("layer name")
        switch name {
        case "con_4", "con_5", "con_6":
            let params = try r.tensor("convolution parameters").values
            let filters = try r.count("num_filters", limit: 1 << 16)
            let kh = try r.count("kernel rows", limit: 1024), kw = try r.count("kernel cols", limit: 1024)
            let sy = try r.count("stride_y", limit: 1024), sx = try r.count("stride_x", limit: 1024)
            let py = try r.count("padding_y", limit: 1024), px = try r.count("padding_x", limit: 1024)
            let fshape = try r.aliasTensor()
            _ = try r.aliasTensor()
            try multipliers(&r)
            var useBias = true
            if name != "con_4" { useBias = try r.bool("use_bias") }
            if name == "con_6" { if try r.bool("use_relu") { throw r.fail("a convolution without fused relu", at: start) } }
            let inCh = fshape[1]
            let nw = filters * inCh * kh * kw
            guard fshape[0] == filters, fshape[2] == kh, fshape[3] == kw, sy > 0, sx > 0,
                params.count == nw + (useBias ? filters : 0)
            else { throw r.fail("convolution parameters matching \(filters)x\(inCh)x\(kh)x\(kw)", at: start) }
            let bias = useBias ? Array(params[nw...]) : [Float](repeating: 0, count: filters)
            return .conv(
                Conv2d(
                    inputChannels: inCh, outputChannels: filters, kernelH: kh, kernelW: kw, strideY: sy,
                    strideX: sx, padY: py, padX: px, weights: Array(params[..<nw]), bias: bias))
        case "affine_", "affine_2":
            let params = try r.tensor("affine parameters").values
            let g = try r.aliasTensor()
            _ = try r.aliasTensor()
            let mode = try r.int("affine mode")
            if name == "affine_2" { _ = try r.bool("disabled") }
            let k = g.reduce(1, *)
            guard mode == 0, params.count == 2 * k else { throw r.fail("a per-channel affine layer", at: start) }
            return .affine(Affine(gamma: Array(params[..<k]), beta: Array(params[k...])))
        case "bn_con2":
            let params = try r.tensor("batch-norm parameters").values
            let g = try r.aliasTensor()
            _ = try r.aliasTensor()
            _ = try r.tensor("means"); _ = try r.tensor("invstds")
            let mean = try r.tensor("running_means").values
            let variance = try r.tensor("running_variances").values
            _ = try r.int("num_updates"); _ = try r.int("running_stats_window_size")
            try multipliers(&r)
            let eps = try r.real("eps")
            let k = g.reduce(1, *)
            guard params.count == 2 * k, mean.count == k, variance.count == k else {
                throw r.fail("batch-norm statistics for \(k) channels", at: start)
            }
            return .affine(
                Affine(
                    batchNormGamma: Array(params[..<k]), beta: Array(params[k...]), runningMean: mean,
                    runningVariance: variance, epsilon: Float(eps)))
        case "relu_":
            return .relu
        case "relu_2":
            _ = try r.bool("disabled")
            return .relu
        case "max_pool_2", "avg_pool_2":
            let kh = try r.count("pool rows", limit: 1024), kw = try r.count("pool cols", limit: 1024)
            let sy = try r.count("stride_y", limit: 1024), sx = try r.count("stride_x", limit: 1024)
            let py = try r.count("padding_y", limit: 1024), px = try r.count("padding_x", limit: 1024)
            guard sy > 0, sx > 0 else { throw r.fail("positive pooling strides", at: start) }
            return .pool(
                Pool2d(
                    kernelH: kh, kernelW: kw, strideY: sy, strideX: sx, padY: py, padX: px,
                    average: name == "avg_pool_2"))
        case "add_prev_":
            return .addPrevious(0)
        case "fc_2", "fc_3":
            let outputs = try r.count("num_outputs", limit: 1 << 20)
            let inputs = try r.count("num_inputs", limit: 1 << 20)
            let params = try r.tensor("fc parameters").values
            _ = try r.aliasTensor(); _ = try r.aliasTensor()
            let biasMode = try r.int("bias_mode")
            try multipliers(&r)
            if name == "fc_3" { _ = try r.bool("use_bias") }
            let nw = inputs * outputs
            let hasBias = biasMode == 0
            guard params.count == nw + (hasBias ? outputs : 0) else { throw r.fail("fc parameters for \(inputs)x\(outputs)", at: start) }
            return .linear(
                Linear(
                    inputs: inputs, outputs: outputs, weights: Array(params[..<nw]),
                    bias: hasBias ? Array(params[nw...]) : nil))
        default:
            throw r.fail("a known layer, found \"\(name.prefix(40))\"", at: start)
        }
    }
}
