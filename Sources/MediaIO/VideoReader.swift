internal import CFFmpeg
import Foundation
import TensorCore

/// One compressed packet as stored in the file, for inspection.
public struct PacketRecord: Sendable, Equatable {
    public var streamIndex: Int
    public var pts: Int64?
    public var dts: Int64?
    public var duration: Int64
    public var isKeyframe: Bool
    public var data: [UInt8]
}

/// Decodes the frames of a video (or a still image, which FFmpeg reads as a one-frame video) in presentation order.
///
/// - Note: Not thread-safe; do not share between tasks.
public final class VideoReader {
    public let demuxer: Demuxer
    /// The stream being decoded.
    public let video: StreamInfo
    private let decoder: VideoDecoder
    private let packet: Packet
    private let frame: Frame
    private var draining = false
    private var done = false
    public private(set) var corruptPackets = 0

    public init(path: String, libjpegCompatible: Bool = false) throws {
        demuxer = try Demuxer(path: path)
        video = try demuxer.bestVideoStream()
        decoder = try VideoDecoder(stream: demuxer.stream(video.index), exportQP: false, integerIDCT: libjpegCompatible)
        packet = try Packet()
        frame = try Frame()
    }

    /// Presentation time of a frame in seconds.
    public func seconds(_ frame: Frame) -> Double? {
        frame.pts.map { Double($0) * video.timeBaseSeconds }
    }

    /// Returns the next decoded frame, or nil at the end. The frame is reused by the next call.
    public func next() throws -> Frame? {
        while !done {
            frame.unref()
            let step = try decoder.receive(into: frame)
            switch step {
            case .produced: return frame
            case .corrupt: corruptPackets += 1
            case .endOfStream: done = true
            case .needsInput:
                if draining { done = true; break }
                if try demuxer.read(into: packet) {
                    guard Int(packet.pointer.pointee.stream_index) == video.index else { continue }
                    if try !decoder.send(packet) { corruptPackets += 1 }
                } else {
                    draining = true
                    try decoder.send(nil)
                }
            }
        }
        return nil
    }

    /// Calls `body` with each frame index and frame until the end or until it returns false.
    public func forEachFrame(_ body: (Int, Frame) throws -> Bool) throws {
        var i = 0
        while let f = try next() {
            guard try body(i, f) else { return }
            i += 1
        }
    }

    /// Every packet of stream `index` as stored (no decoding).
    public static func packets(path: String, stream index: Int) throws -> [PacketRecord] {
        let d = try Demuxer(path: path)
        let p = try Packet()
        var out: [PacketRecord] = []
        let nopts = cffmpeg_nopts_value()
        while try d.read(into: p) {
            let pk = p.pointer.pointee
            guard Int(pk.stream_index) == index else { continue }
            let data = pk.size > 0 ? Array(UnsafeBufferPointer(start: pk.data, count: Int(pk.size))) : []
            out.append(
                PacketRecord(
                    streamIndex: index, pts: pk.pts == nopts ? nil : pk.pts, dts: pk.dts == nopts ? nil : pk.dts,
                    duration: pk.duration, isKeyframe: (pk.flags & AV_PKT_FLAG_KEY) != 0, data: data))
        }
        return out
    }
}

/// Still images (PNG, JPEG, ...), decoded through FFmpeg.
public enum ImageFile {
    /// Decodes the first frame of `path` to 8-bit RGB. Greyscale, alpha (dropped) and 16-bit images are converted.
    /// - Throws: `MediaError.fileNotFound`, `.cannotOpen` (not an image), `.decodeFailed` (no picture in it),
    ///   `JPEGError` (a baseline JPEG whose structure is broken).
    ///
    /// Baseline JPEGs are decoded exactly as libjpeg decodes them by default (`BaselineJPEG`: islow integer IDCT,
    /// "fancy" triangular chroma upsampling, fixed-point YCbCr→RGB), so that face descriptors agree with tools that
    /// read JPEGs through libjpeg (dlib's Python API, PIL). Other JPEGs (progressive, CMYK, 12-bit) go through FFmpeg
    /// with libjpeg's colour path, whose IDCT differs by ±1 in about 1% of pixels.
    public static func loadRGB(path: String) throws -> RGBImage {
        let reader = try VideoReader(path: path, libjpegCompatible: true)
        if reader.video.codecName == "mjpeg", let bytes = FileManager.default.contents(atPath: path) {
            do {
                if let rgb = try BaselineJPEG.decode([UInt8](bytes)) { return rgb }
            } catch {
                var e = error
                e.path = path
                throw e
            }
        }
        guard let frame = try reader.next() else {
            throw MediaError.decodeFailed(path: path, frame: 0, reason: "no picture could be decoded")
        }
        if reader.video.codecName == "mjpeg" { return try rgb(jpegFrame: frame, scaler: Scaler()) }
        return try Scaler().rgb(frame)
    }

    /// A baseline JPEG file's pixels exactly as libjpeg decodes them, or nil for JPEGs `BaselineJPEG` does not handle.
    /// - Throws: `JPEGError` (with the byte offset) for a baseline JPEG whose structure is broken.
    public static func decodeBaselineJPEG(_ bytes: [UInt8]) throws(JPEGError) -> RGBImage? { try BaselineJPEG.decode(bytes) }

    /// RGB of a frame decoded from JPEG, converted as libjpeg does (falls back to swscale for other layouts).
    public static func rgb(jpegFrame frame: Frame, scaler: Scaler) throws -> RGBImage {
        if let rgb = LibjpegColor.rgb(frame) { return rgb }
        return try scaler.rgb(frame)
    }
}
