internal import CFFmpeg

/// A decoded video frame. Owns one `AVFrame`.
///
/// - Note: Not thread-safe; do not share between tasks.
public final class Frame {
    let pointer: UnsafeMutablePointer<AVFrame>

    /// Allocates an empty frame.
    /// - Throws: `FFmpegError.outOfMemory`.
    /// The corresponding C function is `av_frame_alloc`.
    public init() throws(FFmpegError) {
        guard let p = av_frame_alloc() else { throw .outOfMemory }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&p)
    }

    public var width: Int { Int(pointer.pointee.width) }
    public var height: Int { Int(pointer.pointee.height) }

    /// The presentation timestamp in the stream's time base (best effort), or nil.
    public var pts: Int64? {
        let v =
            pointer.pointee.best_effort_timestamp != cffmpeg_nopts_value()
            ? pointer.pointee.best_effort_timestamp : pointer.pointee.pts
        return v == cffmpeg_nopts_value() ? nil : v
    }

    /// Picture type as a letter: I, P, B, S, ... or "?" when unknown.
    public var pictureType: String {
        let c = av_get_picture_type_char(pointer.pointee.pict_type)
        return c == 63 /* '?' */ ? "?" : String(UnicodeScalar(UInt8(bitPattern: c)))
    }

    /// Size in bytes of the packet this frame was decoded from.
    public var codedBytes: Int { Int(pointer.pointee.pkt_size) }

    /// Drops the frame's buffers so it can receive the next frame.
    func unref() { av_frame_unref(pointer) }
}

/// A compressed packet. Owns one `AVPacket`.
final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>

    init() throws(FFmpegError) {
        guard let p = av_packet_alloc() else { throw .outOfMemory }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&p)
    }

    func unref() { av_packet_unref(pointer) }
}
