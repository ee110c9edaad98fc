import Foundation

/// A problem in a model file, with the byte offset where it was found.
public struct ModelFormatError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var offset: Int
    public var expected: String

    public init(file: String, offset: Int, expected: String) {
        self.file = file
        self.offset = offset
        self.expected = expected
    }

    public var description: String {
        "\(file) is not a valid model file: at byte \(offset), expected \(expected). Re-fetch the models with scripts/fetch-models."
    }
}

/// Reads dlib's serialization format (see specs/dlib-models.md §1) from bytes, with every read bounds-checked.
///
/// Integers: a control byte (bit 7 = sign, low nibble = byte count), then that many little-endian magnitude bytes.
/// Reals: an integer mantissa and an integer exponent, value = mantissa · 2^exponent. Tensors: raw little-endian f32.
struct DlibArchiveReader {
    let bytes: [UInt8]
    let file: String
    private(set) var offset = 0

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    var atEnd: Bool { offset == bytes.count }

    func fail(_ expected: @autoclosure () -> String, at: Int? = nil) -> ModelFormatError {
        ModelFormatError(file: file, offset: at ?? offset, expected: expected())
    }

    private mutating func byte(_ what: @autoclosure () -> String) throws -> UInt8 {
        guard offset < bytes.count else { throw fail("\(what()), but the file ends (truncated?)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Any of dlib's integer types (one encoding serves all).
    mutating func int(_ what: @autoclosure () -> String = "an integer") throws -> Int {
        let start = offset
        let control = try byte(what())
        if control & 0x70 != 0 { throw fail("\(what()) (a control byte without bits 0x70 set, got 0x\(String(control, radix: 16)))", at: start) }
        let n = Int(control & 0x0F)
        guard n >= 1, n <= 8 else { throw fail("\(what()) with 1 to 8 bytes, got \(n)", at: start) }
        var magnitude: UInt64 = 0
        for i in 0..<n { magnitude |= UInt64(try byte(what())) << (8 * UInt64(i)) }
        guard magnitude <= UInt64(Int64.max) else { throw fail("\(what()) within 64 bits", at: start) }
        return control & 0x80 != 0 ? -Int(magnitude) : Int(magnitude)
    }

    /// A non-negative integer not larger than `limit`.
    mutating func count(_ what: @autoclosure () -> String, limit: Int = 1 << 31) throws -> Int {
        let start = offset
        let v = try int(what())
        guard v >= 0, v <= limit else { throw fail("\(what()) between 0 and \(limit), got \(v)", at: start) }
        return v
    }

    /// The largest weight magnitude accepted in a tensor (dlib's three models stay below 100).
    static let maxWeight: Float = 1e6

    /// dlib's portable real: mantissa · 2^exponent.
    mutating func real(_ what: @autoclosure () -> String = "a real number") throws -> Double {
        let mantissa = try int("\(what()) (mantissa)")
        let start = offset
        let exponent = try int("\(what()) (exponent)")
        switch exponent {
        case 32000: return .infinity
        case 32001: return -.infinity
        case 32002: return .nan
        default:
            guard abs(exponent) < 2000 else { throw fail("\(what()) exponent in range, got \(exponent)", at: start) }
            return scalbn(Double(mantissa), exponent)
        }
    }

    mutating func float(_ what: @autoclosure () -> String = "a real number") throws -> Float { Float(try real(what())) }

    mutating func string(_ what: @autoclosure () -> String = "a string") throws -> String {
        let n = try count("\(what()) length", limit: 1 << 20)
        guard offset + n <= bytes.count else { throw fail("\(what()) of \(n) bytes, but the file ends (truncated?)") }
        defer { offset += n }
        return String(decoding: bytes[offset..<(offset + n)], as: UTF8.self)
    }

    /// Reads a string and checks it is `expected` (a layer's version tag).
    mutating func expect(_ expected: String) throws {
        let start = offset
        let s = try string("\"\(expected)\"")
        guard s == expected else { throw fail("\"\(expected)\", found \"\(s.prefix(40))\"", at: start) }
    }

    mutating func bool(_ what: @autoclosure () -> String = "a boolean") throws -> Bool {
        let start = offset
        switch try byte(what()) {
        case 0x31: return true
        case 0x30: return false
        case let b: throw fail("\(what()) ('0' or '1'), got 0x\(String(b, radix: 16))", at: start)
        }
    }

    /// A `resizable_tensor`: version 2, shape (n, k, nr, nc), raw little-endian floats.
    mutating func tensor(_ what: @autoclosure () -> String = "a tensor") throws -> (shape: [Int], values: [Float]) {
        let start = offset
        let version = try int("\(what()) version")
        guard version == 2 else { throw fail("\(what()) version 2, got \(version)", at: start) }
        let shape = try (0..<4).map { _ in try count("\(what()) dimension", limit: 1 << 28) }
        var n = 1
        for d in shape {
            let (product, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("\(what()) of shape \(shape): more values than fit in memory", at: start) }
            n = product
        }
        guard n <= (bytes.count - offset) / 4 else { throw fail("\(what()) of \(n) floats, but the file ends (truncated?)") }
        var values = [Float](repeating: 0, count: n)
        values.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + 4 * n)]))
            }
        }
        #if _endian(big)
            for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
        #endif
        // A trained network's weights are finite and far below this bound; a damaged file's often are not, and a
        // model with such weights fires everywhere (thousands of "faces") or computes NaN.
        if let bad = values.firstIndex(where: { !$0.isFinite || abs($0) > Self.maxWeight }) {
            throw fail("\(what()) value \(bad) is \(values[bad]) (weights must be finite and within ±\(Self.maxWeight))", at: offset + 4 * bad)
        }
        offset += 4 * n
        return (shape, values)
    }

    /// An `alias_tensor` shape descriptor (version 1, four dimensions, no data).
    mutating func aliasTensor() throws -> [Int] {
        let start = offset
        let version = try int("alias_tensor version")
        guard version == 1 else { throw fail("alias_tensor version 1, got \(version)", at: start) }
        return try (0..<4).map { _ in try count("alias_tensor dimension", limit: 1 << 28) }
    }

    /// A `dlib::matrix<float>` (dimensions stored negated by current writers), elements as reals, row-major.
    mutating func floatMatrix(_ what: @autoclosure () -> String = "a matrix") throws -> (rows: Int, cols: Int, values: [Float]) {
        let r = abs(try int("\(what()) rows")), c = abs(try int("\(what()) columns"))
        guard r * c <= (bytes.count - offset) / 2 else { throw fail("\(what()) of \(r)x\(c), but the file ends (truncated?)") }
        var v = [Float](repeating: 0, count: r * c)
        for i in 0..<(r * c) { v[i] = try float(what()) }
        return (r, c, v)
    }

    /// Checks the whole file was consumed.
    func expectEnd() throws {
        guard atEnd else { throw fail("the end of the file (\(bytes.count - offset) unexpected trailing bytes)") }
    }
}

/// Where the three dlib model files live.
public struct ModelDirectory: Sendable {
    public static let detectorFile = "mmod_human_face_detector.dat"
    public static let landmarksFile = "shape_predictor_5_face_landmarks.dat"
    public static let embedderFile = "dlib_face_recognition_resnet_model_v1.dat"

    public var path: String

    public init(path: String) { self.path = path }

    /// `$FACEJND_MODELS`, or `~/.cache/facejnd/models`.
    public static var `default`: ModelDirectory {
        if let p = ProcessInfo.processInfo.environment["FACEJND_MODELS"], !p.isEmpty { return ModelDirectory(path: p) }
        return ModelDirectory(path: FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/facejnd/models").path)
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Whether all four files are present (dlib's three and CenterFace).
    public var isComplete: Bool {
        [Self.detectorFile, Self.landmarksFile, Self.embedderFile, CenterFaceDetector.file].allSatisfy {
            FileManager.default.fileExists(atPath: file($0))
        }
    }

    /// The file's bytes, or an error that says how to fetch the models.
    func bytes(_ name: String) throws -> [UInt8] {
        let p = file(name)
        guard let d = FileManager.default.contents(atPath: p) else { throw ModelMissingError(path: p) }
        return [UInt8](d)
    }
}

/// A model file is not where it should be.
public struct ModelMissingError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var description: String {
        "model file \(path) is missing. Fetch dlib's models with scripts/fetch-models (or scripts/setup); set FACEJND_MODELS or --models to use another directory."
    }
}
