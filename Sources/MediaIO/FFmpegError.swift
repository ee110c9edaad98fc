internal import CFFmpeg
import Foundation

/// An error code returned by an FFmpeg library call.
///
/// `rawValue` is FFmpeg's negative `AVERROR` code; `function` names the FFmpeg call that failed.
/// The message is formatted lazily by `av_strerror`.
public struct FFmpegError: Error, Hashable, CustomStringConvertible, Sendable {
    /// The negative `AVERROR` value.
    public let rawValue: Int32
    /// The FFmpeg function that returned the code.
    public let function: StaticString

    public init(rawValue: Int32, function: StaticString = "") {
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
        function.utf8CodeUnitCount == 0 ? message : "\(message) (\(function))"
    }

    // Equality is by code only: the same failure from two call sites is the same error.
    public static func == (lhs: FFmpegError, rhs: FFmpegError) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
}

/// The funnel every FFmpeg status code goes through: negative codes throw.
@discardableResult
func check(_ code: Int32, _ function: StaticString) throws(FFmpegError) -> Int32 {
    if code < 0 { throw FFmpegError(rawValue: code, function: function) }
    return code
}

/// Whether a failed write is worth retrying elsewhere or later (out of space, an I/O error, a file-size or quota
/// limit) rather than a problem with the input or the options. Batch schedulers get exit status 75 for these.
public func isTransientWriteError(_ code: Int32) -> Bool {
    code == ENOSPC || code == EIO || code == EFBIG || code == EDQUOT
}

/// Errors in how media is used, as opposed to errors FFmpeg returned. Each case has one meaning.
public enum MediaError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Whether retrying on another machine or later may succeed (the output's disk, not the input, failed).
    public var isRetryable: Bool {
        if case .writeFailed(_, let code) = self { return isTransientWriteError(code) }
        return false
    }

    case fileNotFound(path: String)
    case cannotOpen(path: String, reason: String)
    case noVideoStream(path: String)
    /// This FFmpeg build has no decoder for the stream's codec (or none of that name).
    case decoderNotFound(codec: String)
    case unknownEncoder(name: String, available: [String])
    /// The encoder cannot carry per-frame and per-region QP (a plan, or a per-picture QP).
    case planUnsupported(codec: String, reason: String)
    /// A QP, CRF or anchor QP outside the encoder's range.
    case rateOutOfRange(codec: String, reason: String)
    /// The encoder refused an option facejnd sets.
    case encoderOptionRejected(codec: String, option: String)
    /// The picture size cannot be encoded (odd, or below the encoder's minimum).
    case pictureSizeUnsupported(codec: String, width: Int, height: Int)
    /// swscale cannot convert between the two pixel formats.
    case conversionUnsupported(from: String, to: String)
    /// Frame editing (the prefilter) needs 8-bit 4:2:0 planar frames.
    case frameNotEditable(pixelFormat: String)
    case outputNotWritable(path: String, reason: String)
    /// Writing `path` failed part-way with a system error (`errno`): out of space, an I/O error, a file-size limit.
    case writeFailed(path: String, errno: Int32)
    case unsupportedContainer(path: String, reason: String)
    case streamNotMuxable(index: Int, codec: String, container: String)
    case decodeFailed(path: String, frame: Int, reason: String)
    case invalidRegion(String)
    /// Two encoder sessions of one chunked encode produced different stream headers.
    case chunkHeadersDiffer(codec: String)
    /// A chunk's packets cannot be given increasing decode times without passing their presentation times.
    case chunkTimestamps(frame: Int)

    public var description: String {
        switch self {
        case .fileNotFound(let path):
            return "input file not found: \(path)"
        case .cannotOpen(let path, let reason):
            return "cannot open \(path) as media: \(reason)"
        case .noVideoStream(let path):
            return "\(path) has no video stream"
        case .decoderNotFound(let codec):
            return "no decoder for \(codec) in this FFmpeg build"
        case .unknownEncoder(let name, let available):
            return "unknown or unavailable encoder '\(name)'; available: \(available.joined(separator: ", "))"
        case .planUnsupported(let codec, let reason):
            return "\(codec) cannot follow a QP plan: \(reason)"
        case .rateOutOfRange(let codec, let reason):
            return "\(codec): \(reason)"
        case .encoderOptionRejected(let codec, let option):
            return "\(codec) did not accept the option '\(option)'"
        case .pictureSizeUnsupported(let codec, let width, let height):
            return "\(codec) cannot encode a \(width)x\(height) picture (sizes must be even and at least 16x16)"
        case .conversionUnsupported(let from, let to):
            return "cannot convert pictures from \(from) to \(to)"
        case .frameNotEditable(let format):
            return "frames in \(format) cannot be edited (8-bit 4:2:0 planar needed)"
        case .outputNotWritable(let path, let reason):
            return "cannot write output \(path): \(reason)"
        case .writeFailed(let path, let code):
            return "\(String(cString: strerror(code)).lowercased()) writing \(path)"
        case .unsupportedContainer(let path, let reason):
            return "unsupported output container for \(path): \(reason)"
        case .streamNotMuxable(let index, let codec, let container):
            return "stream \(index) (\(codec)) cannot be copied into a \(container) file; choose another container (.mkv holds almost anything)"
        case .decodeFailed(let path, let frame, let reason):
            return "decoding \(path) failed near frame \(frame): \(reason)"
        case .invalidRegion(let text):
            return "invalid region: \(text)"
        case .chunkHeadersDiffer(let codec):
            return "\(codec) gave one chunk of the encode different stream headers than the first; encode without chunks (--chunk-seconds 0)"
        case .chunkTimestamps(let frame):
            return
                "the chunk starting at frame \(frame) cannot be joined to the one before it (its decode times would pass its presentation times); encode without chunks (--chunk-seconds 0)"
        }
    }
}
