import TensorCore

extension ONNXNetwork {
    var stepCount: Int { steps.count }

    /// Inverted-residual blocks run as one step (17 in CenterFace).
    var fusedBlocks: Int {
        steps.count { step in
            if case .invertedResidual = step.operation { return true }
            return false
        }
    }

    /// Replaces every inverted-residual block — an optional 1×1 expansion with Relu, a depthwise convolution with
    /// Relu, a linear 1×1 projection, optionally added to the block's input — by one `InvertedResidual` step. Only
    /// steps whose intermediate values nothing else reads (and the caller does not see) are fused; the result is the
    /// same arithmetic in another order (docs/detector.md).
    static func fusingInvertedResiduals(_ steps: [Step], outputSlots: [Int]) -> [Step] {
        var readers: [Int: Int] = [:]
        for step in steps { for s in step.inputs { readers[s, default: 0] += 1 } }
        for s in outputSlots { readers[s, default: 0] += 1 }
        func unshared(_ step: Step) -> Bool { readers[step.output] == 1 }
        func conv(_ i: Int) -> Conv2d? {
            guard i < steps.count, case .convolution(let c) = steps[i].operation else { return nil }
            return c
        }
        var fused: [Step] = []
        var i = 0
        while i < steps.count {
            // [expand] → depthwise → project [→ add]
            var j = i
            var expand: Conv2d?
            if let c = conv(i), c.isPointwise, steps[i].relu, unshared(steps[i]), i + 1 < steps.count,
                steps[i + 1].inputs == [steps[i].output]
            {
                expand = c
                j = i + 1
            }
            guard let d = conv(j), d.groups > 1, d.groups == d.inputChannels, d.groups == d.outputChannels, steps[j].relu,
                unshared(steps[j]), let p = conv(j + 1), p.isPointwise, !steps[j + 1].relu,
                steps[j + 1].inputs == [steps[j].output], d.inputChannels == (expand?.outputChannels ?? d.inputChannels)
            else {
                fused.append(steps[i])
                i += 1
                continue
            }
            let input = steps[i].inputs[0]
            var last = j + 1
            var residual = false
            if last + 1 < steps.count, case .add = steps[last + 1].operation, !steps[last + 1].relu, unshared(steps[last]),
                Set(steps[last + 1].inputs) == [input, steps[last].output], d.strideX == 1, d.strideY == 1,
                p.outputChannels == (expand?.inputChannels ?? d.inputChannels)
            {
                residual = true
                last += 1
            }
            let block = InvertedResidual(expand: expand, depthwise: d, project: p, residual: residual)
            fused.append(
                Step(
                    operation: .invertedResidual(block), inputs: [input], output: steps[last].output, relu: false, lastUses: [],
                    name: steps[last].name))
            i = last + 1
        }
        return fused
    }
}
