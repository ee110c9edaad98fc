internal import CFFmpeg
import TensorCore

/// Converts frames between sizes and pixel formats with swscale. Owns one `SwsContext`,
/// re-created only when the source or destination geometry changes.
///
/// - Note: Not thread-safe; do not share between tasks.
public final class Scaler {
    private var context: OpaquePointer? = nil
    private let scratch: Frame

    public init() throws(FFmpegError) {
        scratch = try Frame()
    }

    deinit { sws_freeContext(context) }

    /// Converts `frame` to interleaved 8-bit RGB at its own size.
    /// The corresponding C function is `sws_scale_frame`.
    public func rgb(_ frame: Frame) throws -> RGBImage {
        let w = frame.width, h = frame.height
        try convert(frame, to: AV_PIX_FMT_RGB24, width: w, height: h)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        let stride = Int(scratch.pointer.pointee.linesize.0)
        let src = scratch.pointer.pointee.data.0!
        pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h {
                (dst.baseAddress! + y * w * 3).update(from: src + y * stride, count: w * 3)
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }

    /// Extracts the luma (or grey) plane of `frame` as 8-bit grey.
    public func gray(_ frame: Frame) throws -> GrayImage {
        let w = frame.width, h = frame.height
        try convert(frame, to: AV_PIX_FMT_GRAY8, width: w, height: h)
        var pixels = [UInt8](repeating: 0, count: w * h)
        let stride = Int(scratch.pointer.pointee.linesize.0)
        let src = scratch.pointer.pointee.data.0!
        pixels.withUnsafeMutableBufferPointer { dst in
            for y in 0..<h { (dst.baseAddress! + y * w).update(from: src + y * stride, count: w) }
        }
        return GrayImage(width: w, height: h, pixels: pixels)
    }

    /// Converts `frame` into `destination`, which must already have width, height and format set
    /// (its buffers are allocated here when missing).
    func convert(_ frame: Frame, into destination: Frame) throws {
        let d = destination.pointer
        let src = frame.pointer
        if d.pointee.data.0 == nil {
            try check(av_frame_get_buffer(d, 0), "av_frame_get_buffer")
        } else {
            try check(av_frame_make_writable(d), "av_frame_make_writable")
        }
        let srcFormat = AVPixelFormat(rawValue: src.pointee.format)
        let dstFormat = AVPixelFormat(rawValue: d.pointee.format)
        context = sws_getCachedContext(
            context, src.pointee.width, src.pointee.height, Scaler.unJPEG(srcFormat),
            d.pointee.width, d.pointee.height, dstFormat, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT,
            nil, nil, nil)
        guard let context else {
            func name(_ f: AVPixelFormat) -> String { av_get_pix_fmt_name(f).map { String(cString: $0) } ?? "pixel format \(f.rawValue)" }
            throw MediaError.conversionUnsupported(from: name(srcFormat), to: name(dstFormat))
        }
        // The yuvj formats are yuv with full range; keep the range as it is, the encoder is told separately.
        if Scaler.isJPEGFormat(srcFormat) {
            let table = sws_getCoefficients(SWS_CS_DEFAULT)
            sws_setColorspaceDetails(context, table, 1, table, 1, 0, 1 << 16, 1 << 16)
        }
        try check(sws_scale_frame(context, d, src), "sws_scale_frame")
    }

    private func convert(_ frame: Frame, to format: AVPixelFormat, width: Int, height: Int) throws {
        let s = scratch.pointer
        if s.pointee.width != Int32(width) || s.pointee.height != Int32(height) || s.pointee.format != format.rawValue {
            av_frame_unref(s)
            s.pointee.width = Int32(width)
            s.pointee.height = Int32(height)
            s.pointee.format = format.rawValue
        }
        try convert(frame, into: scratch)
    }

    static func isJPEGFormat(_ f: AVPixelFormat) -> Bool {
        f == AV_PIX_FMT_YUVJ420P || f == AV_PIX_FMT_YUVJ422P || f == AV_PIX_FMT_YUVJ444P || f == AV_PIX_FMT_YUVJ440P
            || f == AV_PIX_FMT_YUVJ411P
    }

    static func unJPEG(_ f: AVPixelFormat) -> AVPixelFormat {
        switch f {
        case AV_PIX_FMT_YUVJ420P: return AV_PIX_FMT_YUV420P
        case AV_PIX_FMT_YUVJ422P: return AV_PIX_FMT_YUV422P
        case AV_PIX_FMT_YUVJ444P: return AV_PIX_FMT_YUV444P
        case AV_PIX_FMT_YUVJ440P: return AV_PIX_FMT_YUV440P
        case AV_PIX_FMT_YUVJ411P: return AV_PIX_FMT_YUV411P
        default: return f
        }
    }
}
