internal import CFFmpeg

/// An error code returned by an FFmpeg library call.
///
/// `rawValue` is FFmpeg's negative `AVERROR` code; `function` names the FFmpeg call that failed.
/// The message is formatted lazily by `av_strerror`.
public struct FFmpegError: Error, Hashable, CustomStringConvertible, Sendable {
    /// The negative `AVERROR` value.
    public let rawValue: Int32
    /// The FFmpeg function that returned the code.
    public let function: String

    public init(rawValue: Int32, function: String = "") {
        self.rawValue = rawValue
        self.function = function
    }

    /// The corresponding C error is `AVERROR(EAGAIN)`.
    public static var tryAgain: FFmpegError { FFmpegError(rawValue: cffmpeg_averror_eagain()) }
    /// The corresponding C error is `AVERROR_EOF`.
    public static var endOfFile: FFmpegError { FFmpegError(rawValue: cffmpeg_averror_eof()) }
    /// The corresponding C error is `AVERROR_INVALIDDATA`.
    public static var invalidData: FFmpegError { FFmpegError(rawValue: cffmpeg_averror_invaliddata()) }
    /// The corresponding C error is `AVERROR(ENOMEM)`.
    public static var outOfMemory: FFmpegError { FFmpegError(rawValue: cffmpeg_averror_enomem()) }

    /// FFmpeg's own text for the code, e.g. "Invalid data found when processing input".
    public var message: String {
        var buffer = [CChar](repeating: 0, count: 256)
        cffmpeg_strerror(rawValue, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String {
        function.isEmpty ? message : "\(message) (\(function))"
    }

    // Equality is by code only: the same failure from two call sites is the same error.
    public static func == (lhs: FFmpegError, rhs: FFmpegError) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}

/// The funnel every FFmpeg status code goes through: negative codes throw.
@discardableResult
func check(_ code: Int32, _ function: String) throws(FFmpegError) -> Int32 {
    if code < 0 { throw FFmpegError(rawValue: code, function: function) }
    return code
}

/// Errors in how media is used, as opposed to errors FFmpeg returned.
public enum MediaError: Error, CustomStringConvertible, Equatable, Sendable {
    case fileNotFound(path: String)
    case cannotOpen(path: String, reason: String)
    case noVideoStream(path: String)
    case unknownEncoder(name: String, available: [String])
    case unsupportedCodecControl(codec: String, reason: String)
    case outputNotWritable(path: String, reason: String)
    case unsupportedContainer(path: String, reason: String)
    case streamNotMuxable(index: Int, codec: String, container: String)
    case decodeFailed(path: String, frame: Int, reason: String)
    case invalidRegion(String)
    case cancelled

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "input file not found: \(path)"
        case .cannotOpen(let path, let reason):
            return "cannot open \(path) as media: \(reason)"
        case .noVideoStream(let path):
            return "\(path) has no video stream"
        case .unknownEncoder(let name, let available):
            return "unknown or unavailable encoder '\(name)'; available: \(available.joined(separator: ", "))"
        case .unsupportedCodecControl(let codec, let reason):
            return "\(codec) cannot honour this request: \(reason)"
        case .outputNotWritable(let path, let reason):
            return "cannot write output \(path): \(reason)"
        case .unsupportedContainer(let path, let reason):
            return "unsupported output container for \(path): \(reason)"
        case .streamNotMuxable(let index, let codec, let container):
            return "stream \(index) (\(codec)) cannot be copied into a \(container) file; choose another container (.mkv holds almost anything)"
        case .decodeFailed(let path, let frame, let reason):
            return "decoding \(path) failed near frame \(frame): \(reason)"
        case .invalidRegion(let text):
            return "invalid region: \(text)"
        case .cancelled:
            return "cancelled"
        }
    }
}
