import Foundation
import MediaIO

/// What identifies an input file without reading all of it: size, modification time and a hash of its first and
/// last MiB. A batch redoes a file when any of them changed (a camera appending to a file, a copy replacing it).
public struct InputFingerprint: Sendable, Codable, Equatable {
    public var size: Int64
    /// Seconds since 1970, to the nanosecond the file system keeps.
    public var modified: Double
    /// `FNV1a.mixWords` of the first and the last MiB (the whole file when smaller), hexadecimal.
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
        // Mapped, not read: a rerun that skips thousands of files hashes from the page cache without copying.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MediaError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var h = FNV1a()
        let count = Int(st.st_size)
        if count > 0 {
            guard let map = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
                throw MediaError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
            }
            defer { munmap(map, count) }
            let bytes = UnsafeRawBufferPointer(start: map, count: count)
            h.mixWords(UnsafeRawBufferPointer(rebasing: bytes[0..<min(bytes.count, Self.window)]))
            if bytes.count > Self.window {
                h.mixWords(UnsafeRawBufferPointer(rebasing: bytes[max(Self.window, bytes.count - Self.window)...]))
            }
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
    /// FNV-1a's step over little-endian 8-byte words in four interleaved lanes (the tail byte by byte), the lanes then
    /// mixed into the value: a quarter of the dependent multiplications per byte of a word-wise FNV, so a batch can
    /// fingerprint thousands of files in a second. Not the standard FNV-1a value.
    public mutating func mixWords(_ raw: UnsafeRawBufferPointer) {
        let blocks = raw.count / 32
        var lanes = (value, value ^ 1, value ^ 2, value ^ 3)
        let prime: UInt64 = 0x100_0000_01b3
        for i in 0..<blocks {
            let o = 32 * i
            lanes.0 = (lanes.0 ^ UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt64.self))) &* prime
            lanes.1 = (lanes.1 ^ UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o + 8, as: UInt64.self))) &* prime
            lanes.2 = (lanes.2 ^ UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o + 16, as: UInt64.self))) &* prime
            lanes.3 = (lanes.3 ^ UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: o + 24, as: UInt64.self))) &* prime
        }
        var v = value
        for lane in [lanes.0, lanes.1, lanes.2, lanes.3] { v = (v ^ lane) &* prime }
        value = v
        mix(raw[(32 * blocks)...])
    }

    public static func hash(_ text: String) -> UInt64 {
        var h = FNV1a()
        h.mix(text.utf8)
        return h.value
    }
}
