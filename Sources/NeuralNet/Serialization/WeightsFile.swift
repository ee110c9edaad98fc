import Foundation

/// Why a weights file was refused.
public struct WeightsFileError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var kind: String
    public var reason: String
    public var description: String { "\(path): not a usable facejnd \(kind): \(reason)" }

    public init(path: String, kind: String, reason: String) {
        self.path = path
        self.kind = kind
        self.reason = reason
    }
}

/// facejnd's container for trained weights.
///
/// Layout (little-endian): a 4-byte signature, UInt32 format version, UInt32 header length, a JSON header, then the
/// Float32 payload. The header carries the payload's length and CRC-32 (`payload_floats`, `payload_crc32`), so a
/// truncated, padded or corrupted file is refused with the reason before any value is used.
public enum WeightsFile {
    /// The bytes of a file whose JSON header is `header` (the payload fields are filled in here).
    public static func serialize(signature: String, version: UInt32, header: [String: Any], payload: [Float]) throws -> Data {
        precondition(signature.utf8.count == 4, "WeightsFile: 4-byte signature")
        let bytes = payloadBytes(payload)
        var h = header
        h["payload_floats"] = payload.count
        h["payload_crc32"] = Int(CRC32.checksum(bytes))
        let json = try JSONSerialization.data(withJSONObject: h, options: [.sortedKeys])
        var d = Data(signature.utf8)
        withUnsafeBytes(of: version.littleEndian) { d.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(json)
        d.append(contentsOf: bytes)
        return d
    }

    /// The same with a `Codable` header (encoded to a JSON object first).
    public static func serialize<H: Encodable>(signature: String, version: UInt32, header: H, payload: [Float]) throws -> Data {
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(header)) as? [String: Any] ?? [:]
        return try serialize(signature: signature, version: version, header: object, payload: payload)
    }

    /// Checks signature, version, header and payload; returns the header's JSON bytes and the payload.
    public static func parse(_ data: Data, signature: String, version: UInt32, path: String, kind: String) throws -> (header: Data, payload: [Float])
    {
        func fail(_ reason: String) -> WeightsFileError { WeightsFileError(path: path, kind: kind, reason: reason) }
        let bytes = [UInt8](data)
        guard bytes.count >= 12, bytes[0..<4].elementsEqual(signature.utf8) else { throw fail("missing the \(signature) signature") }
        func u32(_ o: Int) -> UInt32 { UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24 }
        let v = u32(4)
        guard v == version else { throw fail("format version \(v), this facejnd reads \(version)") }
        let headerLength = Int(u32(8))
        guard headerLength > 0, 12 + headerLength <= bytes.count else { throw fail("truncated header (file is \(bytes.count) bytes)") }
        let header = Data(bytes[12..<(12 + headerLength)])
        guard let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any],
            let floats = object["payload_floats"] as? Int, let crcValue = object["payload_crc32"] as? Int
        else {
            throw fail("unreadable header")
        }
        let start = 12 + headerLength
        guard bytes.count - start == floats * 4 else {
            throw fail("payload is \(bytes.count - start) bytes, the header says \(floats * 4) (truncated or padded)")
        }
        let raw = Array(bytes[start...])
        let crc = CRC32.checksum(raw)
        guard crc == UInt32(truncatingIfNeeded: crcValue) else {
            throw fail(
                String(format: "payload checksum %08x does not match the header's %08x (corrupted)", crc, UInt32(truncatingIfNeeded: crcValue)))
        }
        var out = [Float](repeating: 0, count: floats)
        for i in out.indices {
            out[i] = Float(bitPattern: UInt32(raw[4 * i]) | UInt32(raw[4 * i + 1]) << 8 | UInt32(raw[4 * i + 2]) << 16 | UInt32(raw[4 * i + 3]) << 24)
        }
        return (header, out)
    }

    /// Reads a file and checks it as `parse` does, then decodes its header as `H`.
    public static func read<H: Decodable>(path: String, signature: String, version: UInt32, kind: String, header: H.Type) throws -> (
        header: H, payload: [Float]
    ) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeightsFileError(path: path, kind: kind, reason: "cannot read the file")
        }
        return try decode(data, signature: signature, version: version, path: path, kind: kind, header: header)
    }

    /// `parse`, then the header decoded as `H` ("unreadable header" when it does not fit).
    public static func decode<H: Decodable>(_ data: Data, signature: String, version: UInt32, path: String, kind: String, header: H.Type) throws -> (
        header: H, payload: [Float]
    ) {
        let (json, payload) = try parse(data, signature: signature, version: version, path: path, kind: kind)
        do { return (try JSONDecoder().decode(H.self, from: json), payload) } catch {
            throw WeightsFileError(path: path, kind: kind, reason: "unreadable header: \(error)")
        }
    }

    public static func payloadBytes(_ floats: [Float]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(floats.count * 4)
        for f in floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        return out
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
