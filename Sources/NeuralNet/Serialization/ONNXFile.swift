import Foundation

/// Why an ONNX file was refused; `offset` is the byte where reading went wrong (nil for whole-graph problems).
public struct ONNXFileError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var offset: Int?
    public var reason: String
    public var description: String {
        "\(path): not a usable ONNX model: \(reason)" + (offset.map { " (at byte \($0))" } ?? "")
    }

    public init(path: String, offset: Int?, reason: String) {
        self.path = path
        self.offset = offset
        self.reason = reason
    }
}

/// A float tensor stored in the file (weights, biases, batch-norm statistics).
public struct ONNXTensor: Sendable, Equatable {
    public var name: String
    public var dims: [Int]
    public var values: [Float]
}

/// An operator's attribute; only the kinds a convolutional detector uses are kept.
public enum ONNXAttribute: Sendable, Equatable {
    case int(Int)
    case float(Float)
    case ints([Int])
    case floats([Float])
    case string(String)
    /// Tensors, graphs and other kinds: kept by name so that an operator needing one can say so.
    case unsupported
}

public struct ONNXNode: Sendable, Equatable {
    public var opType: String
    public var domain: String
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [String: ONNXAttribute]
    /// Where the node starts in the file, for error messages.
    public var offset: Int
}

/// The parts of an ONNX model a feed-forward network needs: the default-domain opset, the operators in
/// topological order (ONNX requires it), the float initializers, and the graph's own inputs and outputs.
public struct ONNXModel: Sendable {
    public var irVersion: Int
    public var opsetVersion: Int
    public var producer: String
    public var nodes: [ONNXNode]
    public var initializers: [String: ONNXTensor]
    /// Graph inputs that are not initializers (older exporters list the weights as inputs too).
    public var inputs: [String]
    public var outputs: [String]

    /// Reads `path` (a `.onnx` file: one serialized `ModelProto`).
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ONNXFileError(path: path, offset: nil, reason: "cannot read the file")
        }
        try self.init(bytes: [UInt8](data), path: path)
    }

    public init(bytes: [UInt8], path: String) throws {
        do throws(ProtobufReader.Failure) {
            self = try ONNXModel.parseModel(ProtobufReader(bytes[...]))
        } catch {
            throw ONNXFileError(path: path, offset: error.offset, reason: error.reason)
        }
        guard !nodes.isEmpty else { throw ONNXFileError(path: path, offset: nil, reason: "no graph or an empty graph") }
        guard opsetVersion > 0 else { throw ONNXFileError(path: path, offset: nil, reason: "no default-domain opset") }
        guard !outputs.isEmpty, !inputs.isEmpty else {
            throw ONNXFileError(path: path, offset: nil, reason: "the graph names no inputs or outputs")
        }
    }

    private typealias Failure = ProtobufReader.Failure

    private init(
        irVersion: Int, opsetVersion: Int, producer: String, nodes: [ONNXNode], initializers: [String: ONNXTensor],
        inputs: [String], outputs: [String]
    ) {
        self.irVersion = irVersion
        self.opsetVersion = opsetVersion
        self.producer = producer
        self.nodes = nodes
        self.initializers = initializers
        self.inputs = inputs
        self.outputs = outputs
    }

    private static func parseModel(_ reader: ProtobufReader) throws(Failure) -> ONNXModel {
        var r = reader
        var model = ONNXModel(irVersion: 0, opsetVersion: 0, producer: "", nodes: [], initializers: [:], inputs: [], outputs: [])
        var graphInputs: [String] = []
        while let (field, offset, value) = try r.next() {
            switch field {
            case 1: model.irVersion = try ProtobufReader.integer(value, offset: offset)
            case 2: model.producer = try ProtobufReader.string(value, offset: offset)
            case 7:
                let g = try parseGraph(ProtobufReader.message(value, offset: offset))
                model.nodes = g.nodes
                model.initializers = g.initializers
                // Inputs that are initializers of any type (weights, int64 counters) are not fed by the caller.
                graphInputs = g.inputs.filter { !g.initializerNames.contains($0) }
                model.outputs = g.outputs
            case 8:
                // OperatorSetIdProto: domain = 1, version = 2; the empty domain is ONNX's own operators.
                var o = try ProtobufReader.message(value, offset: offset)
                var domain = "", version = 0
                while let (f, off, v) = try o.next() {
                    if f == 1 { domain = try ProtobufReader.string(v, offset: off) }
                    if f == 2 { version = try ProtobufReader.integer(v, offset: off) }
                }
                if domain.isEmpty || domain == "ai.onnx" { model.opsetVersion = version }
            default: break
            }
        }
        model.inputs = graphInputs
        return model
    }

    private static func parseGraph(
        _ reader: ProtobufReader
    ) throws(Failure) -> (
        nodes: [ONNXNode], initializers: [String: ONNXTensor], initializerNames: Set<String>, inputs: [String], outputs: [String]
    ) {
        var r = reader
        var nodes: [ONNXNode] = [], initializers: [String: ONNXTensor] = [:], inputs: [String] = [], outputs: [String] = []
        var initializerNames: Set<String> = []
        while let (field, offset, value) = try r.next() {
            switch field {
            case 1: nodes.append(try parseNode(ProtobufReader.message(value, offset: offset), offset: offset))
            case 5:
                let (name, tensor) = try parseTensor(ProtobufReader.message(value, offset: offset), offset: offset)
                initializerNames.insert(name)
                if let tensor { initializers[name] = tensor }
            case 11, 12:
                // ValueInfoProto: name = 1.
                var v = try ProtobufReader.message(value, offset: offset)
                var name = ""
                while let (f, off, x) = try v.next() {
                    if f == 1 { name = try ProtobufReader.string(x, offset: off) }
                }
                if field == 11 { inputs.append(name) } else { outputs.append(name) }
            case 15: throw Failure(offset: offset, reason: "sparse initializers are not supported")
            default: break
            }
        }
        return (nodes, initializers, initializerNames, inputs, outputs)
    }

    private static func parseNode(_ reader: ProtobufReader, offset nodeOffset: Int) throws(Failure) -> ONNXNode {
        var r = reader
        var node = ONNXNode(opType: "", domain: "", inputs: [], outputs: [], attributes: [:], offset: nodeOffset)
        while let (field, offset, value) = try r.next() {
            switch field {
            case 1: node.inputs.append(try ProtobufReader.string(value, offset: offset))
            case 2: node.outputs.append(try ProtobufReader.string(value, offset: offset))
            case 4: node.opType = try ProtobufReader.string(value, offset: offset)
            case 7: node.domain = try ProtobufReader.string(value, offset: offset)
            case 5:
                let (name, attribute) = try parseAttribute(ProtobufReader.message(value, offset: offset))
                node.attributes[name] = attribute
            default: break
            }
        }
        guard !node.opType.isEmpty else { throw Failure(offset: nodeOffset, reason: "an operator without a type") }
        return node
    }

    private static func parseAttribute(_ reader: ProtobufReader) throws(Failure) -> (String, ONNXAttribute) {
        var r = reader
        var name = "", type = 0
        var f: Float?, i: Int?, s: String?, floats: [Float] = [], ints: [Int] = [], other = false
        while let (field, offset, value) = try r.next() {
            switch field {
            case 1: name = try ProtobufReader.string(value, offset: offset)
            case 20: type = try ProtobufReader.integer(value, offset: offset)
            case 2: f = try ProtobufReader.floats(value, offset: offset).first
            case 3: i = try ProtobufReader.integer(value, offset: offset)
            case 4: s = try ProtobufReader.string(value, offset: offset)
            case 7: floats += try ProtobufReader.floats(value, offset: offset)
            case 8: ints += try ProtobufReader.varints(value, offset: offset).map { Int(truncatingIfNeeded: $0) }
            case 5, 6, 9, 10, 11, 14, 15, 22, 23: other = true
            default: break
            }
        }
        // AttributeType: FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7 (older files may leave `type` unset).
        switch type {
        case 1: return (name, .float(f ?? 0))
        case 2: return (name, .int(i ?? 0))
        case 3: return (name, .string(s ?? ""))
        case 6: return (name, .floats(floats))
        case 7: return (name, .ints(ints))
        case 0 where !other:
            if let f { return (name, .float(f)) }
            if let i { return (name, .int(i)) }
            if let s { return (name, .string(s)) }
            if !ints.isEmpty { return (name, .ints(ints)) }
            return (name, .floats(floats))
        default: return (name, .unsupported)
        }
    }

    /// A float tensor, or nil for other element types (such as the int64 `num_batches_tracked` counters
    /// PyTorch exports and no inference uses).
    private static func parseTensor(_ reader: ProtobufReader, offset tensorOffset: Int) throws(Failure) -> (String, ONNXTensor?) {
        var r = reader
        var name = "", dims: [Int] = [], dataType = 0, raw: ArraySlice<UInt8>?, floats: [Float] = [], external = false
        while let (field, offset, value) = try r.next() {
            switch field {
            case 1: dims += try ProtobufReader.varints(value, offset: offset).map { Int(truncatingIfNeeded: $0) }
            case 2: dataType = try ProtobufReader.integer(value, offset: offset)
            case 4: floats += try ProtobufReader.floats(value, offset: offset)
            case 8: name = try ProtobufReader.string(value, offset: offset)
            case 9:
                guard case .bytes(let body) = value else { throw Failure(offset: offset, reason: "raw_data is not bytes") }
                raw = body
            case 13: external = true
            case 14: external = try ProtobufReader.integer(value, offset: offset) == 1
            default: break
            }
        }
        guard dataType == 1 else { return (name, nil) }  // TensorProto.FLOAT
        guard !external else { throw Failure(offset: tensorOffset, reason: "tensor \(name) keeps its data in another file") }
        guard dims.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
            throw Failure(offset: tensorOffset, reason: "tensor \(name) has dimensions \(dims)")
        }
        let count = dims.reduce(1) { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }
        if let raw {
            guard raw.count == count * 4 else {
                throw Failure(
                    offset: tensorOffset, reason: "tensor \(name) of shape \(dims) holds \(raw.count) bytes, expected \(count * 4)")
            }
            floats = littleEndianFloats(raw)
        }
        guard floats.count == count else {
            throw Failure(offset: tensorOffset, reason: "tensor \(name) of shape \(dims) holds \(floats.count) values, expected \(count)")
        }
        guard floats.allSatisfy({ $0.isFinite }) else {
            throw Failure(offset: tensorOffset, reason: "tensor \(name) holds a non-finite value")
        }
        return (name, ONNXTensor(name: name, dims: dims, values: floats))
    }
}
