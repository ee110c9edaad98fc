import Foundation
import MediaIO

/// What identifies an input file without reading all of it: size, modification time and a hash of its first and
/// last MiB. A batch redoes a file when any of them changed (a camera appending to a file, a copy replacing it).
public struct InputFingerprint: Sendable, Codable, Equatable {
    public var size: Int64
    /// Seconds since 1970, to the nanosecond the file system keeps.
    public var modified: Double
    /// FNV-1a 64 of the first and the last MiB (the whole file when smaller), hexadecimal.
    public var ends: String

    public init(size: Int64, modified: Double, ends: String) {
        self.size = size
        self.modified = modified
        self.ends = ends
    }

    static let window = 1 << 20

    public init(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw MediaError.fileNotFound(path: path) }
        size = Int64(st.st_size)
        modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw MediaError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { try? handle.close() }
        var h = FNV1a()
        h.mix(try handle.read(upToCount: Self.window) ?? Data())
        if size > Int64(Self.window) {
            try handle.seek(toOffset: UInt64(max(Int64(Self.window), size - Int64(Self.window))))
            h.mix(try handle.readToEnd() ?? Data())
        }
        ends = String(h.value, radix: 16)
    }
}

/// The identity of an encode's settings: a hash of every setting that changes the output, so that changing one
/// re-encodes and leaving them alone skips.
public enum SettingsHash {
    /// FNV-1a 64 of the settings' JSON with sorted keys, hexadecimal.
    public static func of<T: Encodable>(_ settings: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var h = FNV1a()
        h.mix(try encoder.encode(settings))
        return String(h.value, radix: 16)
    }
}

/// FNV-1a, 64 bits: a stable, seedless hash (Swift's `Hasher` is seeded per process) for fingerprints and shard
/// assignment. Not for security.
public struct FNV1a: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for b in bytes {
            value ^= UInt64(b)
            value = value &* 0x100_0000_01b3
        }
    }
    public static func hash(_ text: String) -> UInt64 {
        var h = FNV1a()
        h.mix(text.utf8)
        return h.value
    }
}
