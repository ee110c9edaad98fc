import Foundation
import TensorCore
import Testing
import _TestSupport

@testable import NeuralNet

/// A protobuf writer for building small ONNX files in tests (the reader under test is NeuralNet's).
private struct Proto {
    var bytes: [UInt8] = []
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
    mutating func int(_ field: Int, _ v: Int) {
        varint(UInt64(field << 3))
        varint(UInt64(bitPattern: Int64(v)))
    }
    mutating func data(_ field: Int, _ b: [UInt8]) {
        varint(UInt64(field << 3 | 2))
        varint(UInt64(b.count))
        bytes += b
    }
    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }
    mutating func message(_ field: Int, _ m: Proto) { data(field, m.bytes) }
    mutating func float(_ field: Int, _ v: Float) {
        varint(UInt64(field << 3 | 5))
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 }
    }

    static func tensor(_ name: String, _ dims: [Int], _ values: [Float]) -> Proto {
        var t = Proto()
        var packed = Proto()
        for d in dims { packed.varint(UInt64(d)) }
        t.data(1, packed.bytes)
        t.int(2, 1)  // FLOAT
        t.string(8, name)
        t.data(9, values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } })
        return t
    }

    static func node(_ op: String, _ inputs: [String], _ output: String, ints: [String: [Int]] = [:], floats: [String: Float] = [:])
        -> Proto
    {
        var n = Proto()
        for i in inputs { n.string(1, i) }
        n.string(2, output)
        n.string(4, op)
        for (k, v) in ints.sorted(by: { $0.key < $1.key }) {
            var a = Proto()
            a.string(1, k)
            if k == "group" {
                a.int(3, v[0])
                a.int(20, 2)
            } else {
                for x in v { a.int(8, x) }  // unpacked repeated ints, as some exporters write them
                a.int(20, 7)
            }
            n.message(5, a)
        }
        for (k, v) in floats {
            var a = Proto()
            a.string(1, k)
            a.float(2, v)
            a.int(20, 1)
            n.message(5, a)
        }
        return n
    }

    static func valueInfo(_ name: String) -> Proto {
        var v = Proto()
        v.string(1, name)
        return v
    }
}

/// x(2ch) → Conv 3×3 → BatchNorm → Relu → ConvTranspose 2×2/2 → depthwise Conv → Add(skip) → Sigmoid.
private struct TinyGraph {
    let convW = randomFloats(3 * 2 * 9, seed: 41), convB = randomFloats(3, seed: 42)
    let gamma = randomFloats(3, seed: 43), beta = randomFloats(3, seed: 44), mean = randomFloats(3, seed: 45)
    let variance = randomFloats(3, seed: 46).map { abs($0) + 0.1 }
    let deconvW = randomFloats(3 * 2 * 4, seed: 47)
    let dwW = randomFloats(2 * 9, seed: 48), dwB = randomFloats(2, seed: 49)

    func bytes(op: String = "Sigmoid") -> [UInt8] {
        var g = Proto()
        g.message(1, .node("Conv", ["x", "cw", "cb"], "c", ints: ["kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]]))
        g.message(1, .node("BatchNormalization", ["c", "g", "b", "m", "v"], "n", floats: ["epsilon": 1e-3]))
        g.message(1, .node("Relu", ["n"], "r"))
        g.message(1, .node("ConvTranspose", ["r", "tw"], "t", ints: ["kernel_shape": [2, 2], "strides": [2, 2]]))
        g.message(1, .node("Conv", ["t", "dw", "db"], "d", ints: ["group": [2], "kernel_shape": [3, 3], "pads": [1, 1, 1, 1]]))
        g.message(1, .node("Add", ["t", "d"], "a"))
        g.message(1, .node(op, ["a"], "y"))
        for (name, dims, values) in [
            ("cw", [3, 2, 3, 3], convW), ("cb", [3], convB), ("g", [3], gamma), ("b", [3], beta), ("m", [3], mean),
            ("v", [3], variance), ("tw", [3, 2, 2, 2], deconvW), ("dw", [2, 1, 3, 3], dwW), ("db", [2], dwB),
        ] {
            g.message(5, .tensor(name, dims, values))
        }
        g.message(11, .valueInfo("x"))
        g.message(11, .valueInfo("cw"))  // weights listed as inputs too, as IR version 3 exporters do
        g.message(12, .valueInfo("y"))
        var m = Proto()
        m.int(1, 4)
        m.string(2, "facejnd-tests")
        m.message(7, g)
        var opset = Proto()
        opset.int(2, 9)
        m.message(8, opset)  // last, so that no proper prefix of the file is a complete model
        return m.bytes
    }

    /// The same computation with the naive reference kernels.
    func reference(_ x: [Float], height h: Int, width w: Int) -> [Float] {
        var c = referenceConvolution(
            input: x, channels: 2, height: h, width: w, weights: convW, bias: convB, outputs: 3, kernelH: 3, kernelW: 3,
            strideY: 1, strideX: 1, padY: 1, padX: 1
        ).data
        for ch in 0..<3 {
            for i in 0..<(h * w) {
                let v = (c[ch * h * w + i] - mean[ch]) / (variance[ch] + 1e-3).squareRoot() * gamma[ch] + beta[ch]
                c[ch * h * w + i] = max(0, v)
            }
        }
        let t = referenceTransposedConvolution(
            input: c, channels: 3, height: h, width: w, weights: deconvW, bias: [0, 0], outputs: 2, kernel: 2, stride: 2, pad: 0
        ).data
        let d = referenceGroupedConvolution(
            input: t, channels: 2, height: 2 * h, width: 2 * w, weights: dwW, bias: dwB, outputs: 2, groups: 2, kernel: 3,
            stride: 1, pad: 1
        ).data
        return zip(t, d).map { 1 / (1 + exp(-($0 + $1))) }
    }
}

/// x(4) → Conv 1×1 (12) → BatchNorm → Relu → depthwise 3×3 → Relu → Conv 1×1 (4) → Add(x): one inverted-residual
/// block, which the network runs fused; `exposeExpansion` also makes the expansion a graph output, which forbids it.
private struct BlockGraph {
    let expandW = randomFloats(12 * 4, seed: 61), expandB = randomFloats(12, seed: 62)
    let gamma = randomFloats(12, seed: 63), beta = randomFloats(12, seed: 64), mean = randomFloats(12, seed: 65)
    let variance = randomFloats(12, seed: 66).map { abs($0) + 0.1 }
    let dwW = randomFloats(12 * 9, seed: 67), dwB = randomFloats(12, seed: 68)
    let projectW = randomFloats(4 * 12, seed: 69), projectB = randomFloats(4, seed: 70)

    func bytes(exposeExpansion: Bool = false) -> [UInt8] {
        var g = Proto()
        g.message(1, .node("Conv", ["x", "ew", "eb"], "e", ints: ["kernel_shape": [1, 1]]))
        g.message(1, .node("BatchNormalization", ["e", "g", "b", "m", "v"], "n"))
        g.message(1, .node("Relu", ["n"], "r"))
        g.message(1, .node("Conv", ["r", "dw", "db"], "d", ints: ["group": [12], "kernel_shape": [3, 3], "pads": [1, 1, 1, 1]]))
        g.message(1, .node("Relu", ["d"], "dr"))
        g.message(1, .node("Conv", ["dr", "pw", "pb"], "p", ints: ["kernel_shape": [1, 1]]))
        g.message(1, .node("Add", ["x", "p"], "y"))
        for (name, dims, values) in [
            ("ew", [12, 4, 1, 1], expandW), ("eb", [12], expandB), ("g", [12], gamma), ("b", [12], beta), ("m", [12], mean),
            ("v", [12], variance), ("dw", [12, 1, 3, 3], dwW), ("db", [12], dwB), ("pw", [4, 12, 1, 1], projectW),
            ("pb", [4], projectB),
        ] {
            g.message(5, .tensor(name, dims, values))
        }
        g.message(11, .valueInfo("x"))
        g.message(12, .valueInfo("y"))
        if exposeExpansion { g.message(12, .valueInfo("r")) }
        var m = Proto()
        m.int(1, 4)
        m.message(7, g)
        var opset = Proto()
        opset.int(2, 9)
        m.message(8, opset)
        return m.bytes
    }

    func reference(_ x: [Float], height h: Int, width w: Int) -> [Float] {
        var e = referenceGroupedConvolution(
            input: x, channels: 4, height: h, width: w, weights: expandW, bias: expandB, outputs: 12, groups: 1, kernel: 1,
            stride: 1, pad: 0
        ).data
        for i in e.indices {
            let ch = i / (h * w)
            e[i] = max(0, (e[i] - mean[ch]) / (variance[ch] + 1e-5).squareRoot() * gamma[ch] + beta[ch])
        }
        let d = referenceGroupedConvolution(
            input: e, channels: 12, height: h, width: w, weights: dwW, bias: dwB, outputs: 12, groups: 12, kernel: 3, stride: 1,
            pad: 1
        ).data.map { max($0, 0) }
        let p = referenceGroupedConvolution(
            input: d, channels: 12, height: h, width: w, weights: projectW, bias: projectB, outputs: 4, groups: 1, kernel: 1,
            stride: 1, pad: 0
        ).data
        return zip(p, x).map { $0 + $1 }
    }
}

@Suite struct ONNXTests {
    /// The block runs as one fused step, as run normally and inside a two-thread split section, with the naive layers'
    /// result; a graph that shows the expansion to the caller keeps it (and gives the same result).
    @Test func anInvertedResidualBlockIsFusedAndMatchesTheNaiveKernels() throws {
        let graph = BlockGraph()
        let (h, w) = (9, 6)
        let x = randomFloats(4 * h * w, seed: 71)
        let expected = graph.reference(x, height: h, width: w)
        for expose in [false, true] {
            let network = try ONNXNetwork(try ONNXModel(bytes: graph.bytes(exposeExpansion: expose), path: "block.onnx"))
            // Exposed, the expansion stays a step of its own, the depthwise and projection are fused without it, and
            // the Add (of x, not of that block's input) stays too.
            #expect(network.fusedBlocks == 1)
            #expect(network.stepCount == (expose ? 3 : 1))
            let input = FeatureMap(channels: 4, height: h, width: w, buffer: ScratchBuffer())
            input.pointer.update(from: x, count: x.count)
            let single = try #require(try network.run(input, workspace: Workspace())["y"])
            let split = try #require(
                try BLAS.withSplitWork(threads: 2) { () throws(ONNXGraphError) in try network.run(input, workspace: Workspace()) }["y"])
            for y in [single, split] {
                let d = maxAbsDifference(y.data, expected)
                #expect(d.value < 1e-4, "expansion exposed \(expose): worst \(d.value) at \(d.index)")
            }
        }
    }

    @Test func tinyGraphMatchesTheNaiveKernels() throws {
        let tiny = TinyGraph()
        let model = try ONNXModel(bytes: tiny.bytes(), path: "tiny.onnx")
        #expect(model.inputs == ["x"] && model.outputs == ["y"] && model.opsetVersion == 9 && model.nodes.count == 7)
        let network = try ONNXNetwork(model)
        let (h, w) = (5, 7)
        let x = randomFloats(2 * h * w, seed: 50)
        let ws = Workspace()
        let input = FeatureMap(channels: 2, height: h, width: w, buffer: ScratchBuffer())
        input.pointer.update(from: x, count: x.count)
        let y = try #require(try network.run(input, workspace: ws)["y"])
        #expect(y.channels == 2 && y.height == 2 * h && y.width == 2 * w)
        let d = maxAbsDifference(y.data, tiny.reference(x, height: h, width: w))
        #expect(d.value < 1e-5, "worst \(d.value) at \(d.index)")
        // A second run on the same workspace (buffers reused) gives the same values.
        let again = try #require(try network.run(input, workspace: ws)["y"])
        #expect(again == y)
    }

    @Test func everyTruncationIsAnErrorNamingItsOffset() {
        let bytes = TinyGraph().bytes()
        var withOffset = 0
        for cut in stride(from: 0, to: bytes.count, by: 3) {
            do {
                _ = try ONNXModel(bytes: Array(bytes[0..<cut]), path: "cut.onnx")
                Issue.record("a file cut at byte \(cut) of \(bytes.count) was accepted")
            } catch let e as ONNXFileError {
                #expect(e.description.hasPrefix("cut.onnx: not a usable ONNX model"))
                if let o = e.offset {
                    #expect(o >= 0 && o <= cut)
                    withOffset += 1
                }
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        // Nearly every cut lands inside a field, and the error then says where.
        #expect(withOffset * 10 >= bytes.count / 3 * 9)
    }

    @Test func theRealModelTruncatedNamesWhereItBroke() throws {
        let path = centerFacePath()
        try #require(FileManager.default.fileExists(atPath: path), "CenterFace not fetched (scripts/fetch-models)")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        for cut in [100, 1_000_000, bytes.count - 5] {
            #expect(throws: ONNXFileError.self) { try ONNXModel(bytes: Array(bytes[0..<cut]), path: "centerface.onnx") }
            do { _ = try ONNXModel(bytes: Array(bytes[0..<cut]), path: "centerface.onnx") } catch let e as ONNXFileError {
                #expect(e.offset != nil && e.description.contains("(at byte "), "\(e)")
            } catch {}
        }
    }

    @Test func damagedBytesNeverCrash() {
        let bytes = TinyGraph().bytes()
        var rng = SeededGenerator(seed: 9)
        var refused = 0
        for _ in 0..<300 {
            var b = bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            do {
                let network = try ONNXNetwork(try ONNXModel(bytes: b, path: "x.onnx"))
                let input = FeatureMap(channels: network.inputChannels, height: 4, width: 4, buffer: ScratchBuffer())
                input.pointer.update(repeating: 1, count: input.count)
                _ = try? network.run(input, workspace: Workspace())
            } catch is ONNXFileError {
                refused += 1
            } catch is ONNXGraphError {
                refused += 1
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        #expect(refused > 100)
    }

    @Test func unsupportedOperatorsAndWireTypesAreNamed() throws {
        #expect {
            try ONNXNetwork(try ONNXModel(bytes: TinyGraph().bytes(op: "MaxPool"), path: "t.onnx"))
        } throws: { ($0 as? ONNXGraphError)?.reason.contains("operator MaxPool") == true }
        // Field 1 with wire type 3 (a deprecated group) at byte 0.
        #expect {
            try ONNXModel(bytes: [0x0B, 0x00], path: "g.onnx")
        } throws: { e in
            guard let e = e as? ONNXFileError else { return false }
            return e.offset == 0 && e.reason.contains("wire type 3")
        }
    }
}

private func centerFacePath() -> String {
    let base =
        ProcessInfo.processInfo.environment["FACEJND_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
        ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/facejnd/models").path
    return base + "/centerface.onnx"
}
