internal import CFFmpeg

/// The writable planes of an 8-bit 4:2:0 planar frame, with what is needed to interpret them. Valid only inside
/// `Frame.withWritable420Planes`.
public struct Planes420 {
    public let width: Int
    public let height: Int
    public let luma: UnsafeMutablePointer<UInt8>
    public let lumaStride: Int
    public let cb: UnsafeMutablePointer<UInt8>
    public let cbStride: Int
    public let cr: UnsafeMutablePointer<UInt8>
    public let crStride: Int
    /// BT.709 when the frame is tagged so, BT.601 otherwise.
    public let isBT709: Bool
    /// Full range for JPEG formats and full-range tags, limited (16–235/240) otherwise.
    public let isFullRange: Bool
}

extension Frame {
    /// Whether `withWritable420Planes` can hand out this frame's planes (8-bit 4:2:0 planar Y′CbCr).
    public var isEditable420: Bool {
        let f = AVPixelFormat(rawValue: pointer.pointee.format)
        return f == AV_PIX_FMT_YUV420P || f == AV_PIX_FMT_YUVJ420P
    }

    /// Makes the frame writable (decoders share their buffers) and lends its planes to `body`. The pixel maths
    /// is the caller's; this only knows FFmpeg's layout.
    /// - Throws: `MediaError.frameNotEditable` for other pixel formats.
    /// - Note: The pointers are valid only inside `body`. The corresponding C function is `av_frame_make_writable`.
    public func withWritable420Planes<T>(_ body: (Planes420) throws -> T) throws -> T {
        guard isEditable420 else {
            throw MediaError.frameNotEditable(
                pixelFormat: av_get_pix_fmt_name(AVPixelFormat(rawValue: pointer.pointee.format)).map { String(cString: $0) } ?? "?")
        }
        try check(av_frame_make_writable(pointer), "av_frame_make_writable")
        let f = pointer.pointee
        let planes = Planes420(
            width: Int(f.width), height: Int(f.height), luma: f.data.0!, lumaStride: Int(f.linesize.0), cb: f.data.1!,
            cbStride: Int(f.linesize.1), cr: f.data.2!, crStride: Int(f.linesize.2), isBT709: f.colorspace == AVCOL_SPC_BT709,
            isFullRange: f.color_range == AVCOL_RANGE_JPEG || AVPixelFormat(rawValue: f.format) == AV_PIX_FMT_YUVJ420P)
        return try body(planes)
    }
}
