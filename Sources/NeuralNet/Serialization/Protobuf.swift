/// A reader of Protocol Buffers' wire format: just enough to walk ONNX files.
///
/// A message is a run of fields; each starts with a varint key `field << 3 | wireType`. Wire types: 0 varint,
/// 1 eight bytes, 2 a varint length then that many bytes (strings, bytes, nested messages, packed repeated
/// numbers), 5 four bytes. Groups (3, 4) were deprecated before ONNX existed and are refused.
///
/// Indices are positions in the whole file, so every error names the byte offset where reading went wrong.
struct ProtobufReader {
    /// Why a protobuf message could not be read, and where.
    struct Failure: Error {
        var offset: Int
        var reason: String
    }

    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private let bytes: ArraySlice<UInt8>
    private(set) var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        position = bytes.startIndex
    }

    var isAtEnd: Bool { position >= bytes.endIndex }

    /// The next field's number and value, or nil at the end of the message.
    mutating func next() throws(Failure) -> (field: Int, offset: Int, value: Value)? {
        guard !isAtEnd else { return nil }
        let start = position
        let key = try varint()
        let field = Int(truncatingIfNeeded: key >> 3)
        guard field > 0 else { throw Failure(offset: start, reason: "field number 0 (not a protobuf message here)") }
        switch key & 7 {
        case 0: return (field, start, .varint(try varint()))
        case 1: return (field, start, .fixed64(try fixed(8)))
        case 2:
            let length = try varint()
            guard length <= UInt64(bytes.endIndex - position) else {
                throw Failure(
                    offset: start, reason: "field \(field) claims \(length) bytes, only \(bytes.endIndex - position) remain")
            }
            let body = bytes[position..<(position + Int(length))]
            position += Int(length)
            return (field, start, .bytes(body))
        case 5: return (field, start, .fixed32(UInt32(try fixed(4))))
        default: throw Failure(offset: start, reason: "wire type \(key & 7) in field \(field)")
        }
    }

    private mutating func varint() throws(Failure) -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.endIndex else { throw Failure(offset: start, reason: "varint runs past the end") }
            let b = bytes[position]
            position += 1
            guard shift < 64 else { throw Failure(offset: start, reason: "varint longer than 10 bytes") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func fixed(_ count: Int) throws(Failure) -> UInt64 {
        guard bytes.endIndex - position >= count else {
            throw Failure(offset: position, reason: "\(count)-byte value runs past the end")
        }
        var v: UInt64 = 0
        for i in 0..<count { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += count
        return v
    }

    /// The values of a packed repeated varint field (or a single unpacked one).
    static func varints(_ value: Value, offset: Int) throws(Failure) -> [UInt64] {
        switch value {
        case .varint(let v): return [v]
        case .bytes(let body):
            var r = ProtobufReader(body)
            var out: [UInt64] = []
            while !r.isAtEnd { out.append(try r.varint()) }
            return out
        default: throw Failure(offset: offset, reason: "expected integers")
        }
    }

    /// The values of a packed repeated float field (or a single unpacked one).
    static func floats(_ value: Value, offset: Int) throws(Failure) -> [Float] {
        switch value {
        case .fixed32(let v): return [Float(bitPattern: v)]
        case .bytes(let body):
            guard body.count % 4 == 0 else { throw Failure(offset: offset, reason: "packed floats of \(body.count) bytes") }
            return littleEndianFloats(body)
        default: throw Failure(offset: offset, reason: "expected floats")
        }
    }

    static func string(_ value: Value, offset: Int) throws(Failure) -> String {
        guard case .bytes(let body) = value else { throw Failure(offset: offset, reason: "expected a string") }
        return String(decoding: body, as: UTF8.self)
    }

    static func message(_ value: Value, offset: Int) throws(Failure) -> ProtobufReader {
        guard case .bytes(let body) = value else { throw Failure(offset: offset, reason: "expected a nested message") }
        return ProtobufReader(body)
    }

    static func integer(_ value: Value, offset: Int) throws(Failure) -> Int {
        guard case .varint(let v) = value else { throw Failure(offset: offset, reason: "expected an integer") }
        return Int(truncatingIfNeeded: v)
    }
}

/// IEEE-754 single floats stored little-endian, as ONNX's `raw_data` and packed `float_data` hold them.
func littleEndianFloats(_ body: ArraySlice<UInt8>) -> [Float] {
    let n = body.count / 4
    return [Float](unsafeUninitializedCapacity: n) { out, count in
        body.withUnsafeBytes { raw in
            for i in 0..<n { out[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        }
        count = n
    }
}
