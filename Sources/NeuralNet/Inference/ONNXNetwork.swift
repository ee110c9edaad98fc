import Foundation
import TensorCore

/// Why an ONNX graph cannot run here, or why a run was refused.
public struct ONNXGraphError: Error, CustomStringConvertible, Equatable, Sendable {
    public var reason: String
    public var description: String { "ONNX graph: \(reason)" }
    public init(_ reason: String) { self.reason = reason }
}

/// A feed-forward convolutional ONNX graph compiled to facejnd's layers: one input, CHW, batch 1.
///
/// Operators: Conv (any groups; depthwise has its own kernel), ConvTranspose (one group), BatchNormalization
/// (folded into the convolution before it when that convolution feeds only the batch norm), Relu (fused into the
/// layer before it the same way), Add of equal shapes, Sigmoid. Anything else is refused at load with the
/// operator's name, so an unexpected model fails before it runs, never mid-video.
public struct ONNXNetwork: Sendable {
    enum Operation: Sendable {
        case convolution(Conv2d)
        case transposedConvolution(ConvTranspose2d)
        case affine(Affine)
        case invertedResidual(InvertedResidual)
        case add
        case relu
        case sigmoid

        var isConvolution: Bool {
            switch self {
            case .convolution, .invertedResidual: return true
            default: return false
            }
        }
    }

    struct Step: Sendable {
        var operation: Operation
        var inputs: [Int]
        var output: Int
        /// Apply `max(·, 0)` to the output (a Relu folded into this step).
        var relu: Bool
        /// Value slots whose last reader is this step; their buffers go back to the workspace afterwards.
        var lastUses: [Int]
        var name: String
    }

    let steps: [Step]
    let inputSlot: Int
    public let inputName: String
    public let inputChannels: Int
    public let outputNames: [String]
    let outputSlots: [Int]

    public init(_ model: ONNXModel) throws(ONNXGraphError) {
        guard model.inputs.count == 1 else {
            throw ONNXGraphError("expected one input, the graph has \(model.inputs.count): \(model.inputs.prefix(4))")
        }
        let tensors = model.initializers
        var slots: [String: Int] = [model.inputs[0]: 0]
        var readers: [String: Int] = [:]
        for node in model.nodes { for i in node.inputs where tensors[i] == nil { readers[i, default: 0] += 1 } }
        for o in model.outputs { readers[o, default: 0] += 1 }  // outputs are read by the caller: never fused away

        var steps: [Step] = []
        var channels: [Int: Int] = [:]  // known channel counts per slot, to check weights against
        var firstChannels: Int?
        func slot(_ name: String, node: ONNXNode) throws(ONNXGraphError) -> Int {
            guard let s = slots[name] else { throw ONNXGraphError("\(node.opType) reads '\(name)', which nothing before it produces") }
            return s
        }
        func weight(_ node: ONNXNode, _ index: Int) throws(ONNXGraphError) -> ONNXTensor {
            guard index < node.inputs.count, let t = tensors[node.inputs[index]] else {
                throw ONNXGraphError("\(node.opType) '\(node.outputs.first ?? "")' needs a float initializer as input \(index)")
            }
            return t
        }
        for node in model.nodes {
            guard node.domain.isEmpty || node.domain == "ai.onnx" else {
                throw ONNXGraphError("operator \(node.domain).\(node.opType) is not supported")
            }
            guard node.outputs.count >= 1, let input = node.inputs.first else {
                throw ONNXGraphError("\(node.opType) without inputs or outputs")
            }
            let name = node.outputs[0]
            let x = try slot(input, node: node)
            // Folding: a Relu or BatchNormalization that is its producer's only reader merges into the producer's step.
            if let last = steps.last, last.output == x, readers[input] == 1, node.inputs.count >= 1 {
                if node.opType == "Relu" && !steps[steps.count - 1].relu {
                    steps[steps.count - 1].relu = true
                    slots[name] = x
                    continue
                }
                if node.opType == "BatchNormalization" && !last.relu {
                    let (scale, shift) = try ONNXNetwork.batchNorm(node, weight)
                    switch last.operation {
                    case .convolution(let c):
                        steps[steps.count - 1].operation = .convolution(c.folding(scale: scale, shift: shift))
                        slots[name] = x
                        continue
                    case .transposedConvolution(let c):
                        steps[steps.count - 1].operation = .transposedConvolution(c.folding(scale: scale, shift: shift))
                        slots[name] = x
                        continue
                    default: break
                    }
                }
            }
            let operation: Operation
            var inputs = [x]
            switch node.opType {
            case "Conv":
                let w = try weight(node, 1)
                let conv = try ONNXNetwork.convolution(node, w, node.inputs.count > 2 ? try weight(node, 2) : nil)
                if let c = channels[x], c != conv.inputChannels {
                    throw ONNXGraphError("Conv '\(name)' expects \(conv.inputChannels) channels, its input has \(c)")
                }
                if x == 0 { firstChannels = conv.inputChannels }
                channels[steps.count + 1] = conv.outputChannels
                operation = .convolution(conv)
            case "ConvTranspose":
                let conv = try ONNXNetwork.transposedConvolution(
                    node, try weight(node, 1), node.inputs.count > 2 ? try weight(node, 2) : nil)
                if let c = channels[x], c != conv.inputChannels {
                    throw ONNXGraphError("ConvTranspose '\(name)' expects \(conv.inputChannels) channels, its input has \(c)")
                }
                channels[steps.count + 1] = conv.outputChannels
                operation = .transposedConvolution(conv)
            case "BatchNormalization":
                let (scale, shift) = try ONNXNetwork.batchNorm(node, weight)
                channels[steps.count + 1] = scale.count
                operation = .affine(Affine(gamma: scale, beta: shift))
            case "Add":
                guard node.inputs.count == 2 else { throw ONNXGraphError("Add '\(name)' with \(node.inputs.count) inputs") }
                inputs.append(try slot(node.inputs[1], node: node))
                channels[steps.count + 1] = channels[x]
                operation = .add
            case "Relu":
                channels[steps.count + 1] = channels[x]
                operation = .relu
            case "Sigmoid":
                channels[steps.count + 1] = channels[x]
                operation = .sigmoid
            default:
                throw ONNXGraphError("operator \(node.opType) ('\(name)') is not supported")
            }
            let output = steps.count + 1
            slots[name] = output
            steps.append(Step(operation: operation, inputs: inputs, output: output, relu: false, lastUses: [], name: name))
        }
        var outputSlots: [Int] = []
        for o in model.outputs {
            guard let s = slots[o], s != 0 else { throw ONNXGraphError("output '\(o)' is not produced by any operator") }
            outputSlots.append(s)
        }
        steps = ONNXNetwork.fusingInvertedResiduals(steps, outputSlots: outputSlots)
        // Liveness: a slot is released after the last step that reads it, unless it is a graph output.
        var lastReader: [Int: Int] = [:]
        for (i, step) in steps.enumerated() { for s in step.inputs { lastReader[s] = i } }
        for (s, i) in lastReader where s != 0 && !outputSlots.contains(s) { steps[i].lastUses.append(s) }
        self.steps = steps
        inputSlot = 0
        inputName = model.inputs[0]
        inputChannels = firstChannels ?? 0
        outputNames = model.outputs
        self.outputSlots = outputSlots
    }

    /// Runs the graph on `input` (CHW); returns each graph output by name.
    ///
    /// With more than one kernel thread (`BLAS.threads`), the convolutions split their work over the threads
    /// themselves and OpenBLAS runs on one (`BLAS.withSplitWork`).
    public func run(_ input: FeatureMap, workspace: Workspace) throws(ONNXGraphError) -> [String: Tensor] {
        guard input.channels == inputChannels else {
            throw ONNXGraphError("input '\(inputName)' needs \(inputChannels) channels, got \(input.channels)")
        }
        defer { workspace.releaseAll() }
        if BLAS.threads > 1 {
            return try BLAS.withSplitWork { () throws(ONNXGraphError) in try runSteps(input, workspace: workspace) }
        }
        return try runSteps(input, workspace: workspace)
    }

    private func runSteps(_ input: FeatureMap, workspace: Workspace) throws(ONNXGraphError) -> [String: Tensor] {
        var values: [Int: FeatureMap] = [inputSlot: input]
        for step in steps {
            let x = values[step.inputs[0]]!
            var out = FeatureMap(channels: 0, height: 0, width: 0, buffer: workspace.borrow())
            switch step.operation {
            case .convolution(let c): c.forward(x, into: &out, workspace: workspace, relu: step.relu)
            case .transposedConvolution(let c): c.forward(x, into: &out, workspace: workspace)
            case .invertedResidual(let b): b.forward(x, into: &out, workspace: workspace)
            case .affine(let a):
                copy(x, into: &out)
                a.forward(out)
            case .add:
                let y = values[step.inputs[1]]!
                guard x.channels == y.channels, x.height == y.height, x.width == y.width else {
                    throw ONNXGraphError(
                        "Add '\(step.name)' of \(x.channels)×\(x.height)×\(x.width) and \(y.channels)×\(y.height)×\(y.width)")
                }
                out = FeatureMap(channels: x.channels, height: x.height, width: x.width, buffer: out.buffer)
                let a = x.pointer, b = y.pointer, d = out.pointer
                for i in 0..<x.count { d[i] = a[i] + b[i] }
            case .relu:
                copy(x, into: &out)
                reluInPlace(out.pointer, count: out.count)
            case .sigmoid:
                copy(x, into: &out)
                let p = out.pointer
                for i in 0..<out.count { p[i] = 1 / (1 + exp(-p[i])) }
            }
            // A convolution applies its folded Relu in its own bias pass.
            if step.relu && !step.operation.isConvolution { reluInPlace(out.pointer, count: out.count) }
            values[step.output] = out
            for s in step.lastUses {
                workspace.release(values[s]!.buffer)
                values[s] = nil
            }
        }
        var result: [String: Tensor] = [:]
        for (name, s) in zip(outputNames, outputSlots) { result[name] = values[s]!.tensor() }
        return result
    }

    private func copy(_ x: FeatureMap, into out: inout FeatureMap) {
        out = FeatureMap(channels: x.channels, height: x.height, width: x.width, buffer: out.buffer)
        out.pointer.update(from: x.pointer, count: x.count)
    }

    // MARK: - Operators from ONNX attributes

    private static func ints(_ node: ONNXNode, _ key: String, default value: [Int]) throws(ONNXGraphError) -> [Int] {
        switch node.attributes[key] {
        case nil: return value
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw ONNXGraphError("\(node.opType) '\(node.outputs[0])': attribute \(key) is not a list of integers")
        }
    }

    /// Kernel, stride and symmetric padding of a 2-D (transposed) convolution.
    private static func window(
        _ node: ONNXNode, kernel: [Int]
    ) throws(ONNXGraphError) -> (kh: Int, kw: Int, sy: Int, sx: Int, py: Int, px: Int, groups: Int) {
        let name = "\(node.opType) '\(node.outputs[0])'"
        if case .string(let pad) = node.attributes["auto_pad"], pad != "NOTSET" {
            throw ONNXGraphError("\(name): auto_pad \(pad) is not supported")
        }
        let k = try ints(node, "kernel_shape", default: kernel)
        let s = try ints(node, "strides", default: [1, 1])
        let p = try ints(node, "pads", default: [0, 0, 0, 0])
        let d = try ints(node, "dilations", default: [1, 1])
        var groups = 1
        if case .int(let g) = node.attributes["group"] { groups = g }
        guard k == kernel, s.count == 2, s.allSatisfy({ $0 >= 1 }), p.count == 4, p.allSatisfy({ $0 >= 0 }) else {
            throw ONNXGraphError("\(name): kernel \(k) (weights say \(kernel)), strides \(s), pads \(p)")
        }
        guard d == [1, 1] else { throw ONNXGraphError("\(name): dilations \(d) are not supported") }
        guard p[0] == p[2], p[1] == p[3] else { throw ONNXGraphError("\(name): asymmetric pads \(p) are not supported") }
        return (k[0], k[1], s[0], s[1], p[0], p[1], groups)
    }

    static func convolution(_ node: ONNXNode, _ w: ONNXTensor, _ b: ONNXTensor?) throws(ONNXGraphError) -> Conv2d {
        guard w.dims.count == 4, w.dims.allSatisfy({ $0 > 0 }) else {
            throw ONNXGraphError("Conv '\(node.outputs[0])': weights of shape \(w.dims)")
        }
        let win = try window(node, kernel: [w.dims[2], w.dims[3]])
        let out = w.dims[0], inputs = w.dims[1] * win.groups
        guard win.groups >= 1, out % win.groups == 0, b == nil || b!.values.count == out else {
            throw ONNXGraphError("Conv '\(node.outputs[0])': \(win.groups) groups, \(out) outputs, bias \(b?.dims ?? [])")
        }
        return Conv2d(
            inputChannels: inputs, outputChannels: out, kernelH: win.kh, kernelW: win.kw, strideY: win.sy, strideX: win.sx,
            padY: win.py, padX: win.px, groups: win.groups, weights: w.values,
            bias: b?.values ?? [Float](repeating: 0, count: out))
    }

    static func transposedConvolution(_ node: ONNXNode, _ w: ONNXTensor, _ b: ONNXTensor?) throws(ONNXGraphError) -> ConvTranspose2d {
        guard w.dims.count == 4, w.dims.allSatisfy({ $0 > 0 }) else {
            throw ONNXGraphError("ConvTranspose '\(node.outputs[0])': weights of shape \(w.dims)")
        }
        let win = try window(node, kernel: [w.dims[2], w.dims[3]])
        guard win.groups == 1 else { throw ONNXGraphError("ConvTranspose '\(node.outputs[0])': groups are not supported") }
        guard node.attributes["output_shape"] == nil else {
            throw ONNXGraphError("ConvTranspose '\(node.outputs[0])': output_shape is not supported")
        }
        let op = try ints(node, "output_padding", default: [0, 0])
        let out = w.dims[1]
        guard op.count == 2, b == nil || b!.values.count == out else {
            throw ONNXGraphError("ConvTranspose '\(node.outputs[0])': output_padding \(op), bias \(b?.dims ?? [])")
        }
        return ConvTranspose2d(
            inputChannels: w.dims[0], outputChannels: out, kernelH: win.kh, kernelW: win.kw, strideY: win.sy,
            strideX: win.sx, padY: win.py, padX: win.px, outputPaddingY: op[0], outputPaddingX: op[1],
            weights: w.values, bias: b?.values ?? [Float](repeating: 0, count: out))
    }

    /// Inference batch norm as a per-channel `scale·x + shift`.
    static func batchNorm(
        _ node: ONNXNode, _ weight: (ONNXNode, Int) throws(ONNXGraphError) -> ONNXTensor
    ) throws(ONNXGraphError) -> (scale: [Float], shift: [Float]) {
        let gamma = try weight(node, 1), beta = try weight(node, 2), mean = try weight(node, 3), variance = try weight(node, 4)
        let n = gamma.values.count
        guard n > 0, [beta, mean, variance].allSatisfy({ $0.values.count == n }), variance.values.allSatisfy({ $0 >= 0 }) else {
            throw ONNXGraphError("BatchNormalization '\(node.outputs[0])': parameters of unequal length or negative variance")
        }
        var epsilon: Float = 1e-5
        if case .float(let e) = node.attributes["epsilon"] { epsilon = e }
        let a = Affine(
            batchNormGamma: gamma.values, beta: beta.values, runningMean: mean.values, runningVariance: variance.values,
            epsilon: epsilon)
        return (a.gamma, a.beta)
    }
}
