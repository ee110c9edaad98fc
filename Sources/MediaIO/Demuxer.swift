internal import CFFmpeg
import Foundation

/// Reads packets from a media file. Owns one `AVFormatContext`.
///
/// - Note: Not thread-safe; do not share between tasks.
public final class Demuxer {
    let context: UnsafeMutablePointer<AVFormatContext>
    public let path: String
    /// Snapshots of every stream in the file, in stream order.
    public let streams: [StreamInfo]

    /// Opens `path` and reads its stream information.
    /// - Throws: `MediaError.fileNotFound`, `MediaError.cannotOpen` (not a media file, truncated, corrupt).
    /// The corresponding C functions are `avformat_open_input` and `avformat_find_stream_info`.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MediaError.fileNotFound(path: path)
        }
        if isDirectory.boolValue { throw MediaError.cannotOpen(path: path, reason: "it is a directory") }
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let openStatus = avformat_open_input(&ctx, path, nil, nil)
        guard openStatus >= 0, let ctx else {
            throw MediaError.cannotOpen(path: path, reason: FFmpegError(rawValue: openStatus).message)
        }
        let infoStatus = avformat_find_stream_info(ctx, nil)
        if infoStatus < 0 {
            var c: UnsafeMutablePointer<AVFormatContext>? = ctx
            avformat_close_input(&c)
            throw MediaError.cannotOpen(path: path, reason: FFmpegError(rawValue: infoStatus).message)
        }
        self.context = ctx
        self.path = path
        self.streams = (0..<Int(ctx.pointee.nb_streams)).map { Demuxer.snapshot(ctx, $0) }
    }

    deinit {
        var c: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&c)
    }

    /// Container-level duration in seconds, if known.
    public var durationSeconds: Double? {
        let d = context.pointee.duration
        return d == cffmpeg_nopts_value() || d <= 0 ? nil : Double(d) / Double(AV_TIME_BASE)
    }

    /// Container-level bit rate in bits per second, if known.
    public var bitRate: Int? { context.pointee.bit_rate > 0 ? Int(context.pointee.bit_rate) : nil }

    /// The short name of the container format, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    public var formatName: String { String(cString: context.pointee.iformat.pointee.name) }

    /// The index of the best video stream (FFmpeg's choice), ignoring attached pictures.
    /// - Throws: `MediaError.noVideoStream`.
    /// The corresponding C function is `av_find_best_stream`.
    public func bestVideoStream() throws -> StreamInfo {
        let index = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        if index >= 0, !streams[Int(index)].isAttachedPicture { return streams[Int(index)] }
        if let s = streams.first(where: { $0.kind == .video && !$0.isAttachedPicture }) { return s }
        throw MediaError.noVideoStream(path: path)
    }

    /// Reads the next packet into `packet`. Returns false at end of file.
    /// - Throws: `FFmpegError` for read errors other than end of file.
    /// The corresponding C function is `av_read_frame`.
    func read(into packet: Packet) throws -> Bool {
        packet.unref()
        let status = av_read_frame(context, packet.pointer)
        if status == cffmpeg_averror_eof() { return false }
        try check(status, "av_read_frame")
        return true
    }

    func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> {
        context.pointee.streams[index]!
    }

    private static func snapshot(_ ctx: UnsafeMutablePointer<AVFormatContext>, _ i: Int) -> StreamInfo {
        let st = ctx.pointee.streams[i]!
        let par = st.pointee.codecpar!.pointee
        let kind: StreamInfo.Kind
        switch par.codec_type {
        case AVMEDIA_TYPE_VIDEO: kind = .video
        case AVMEDIA_TYPE_AUDIO: kind = .audio
        case AVMEDIA_TYPE_SUBTITLE: kind = .subtitle
        case AVMEDIA_TYPE_DATA: kind = .data
        case AVMEDIA_TYPE_ATTACHMENT: kind = .attachment
        default: kind = .unknown
        }
        let tb = st.pointee.time_base
        let fr = st.pointee.avg_frame_rate.den != 0 ? st.pointee.avg_frame_rate : st.pointee.r_frame_rate
        let fps = fr.den != 0 && fr.num != 0 ? av_q2d(fr) : 0
        var duration: Double? = nil
        if st.pointee.duration != cffmpeg_nopts_value(), st.pointee.duration > 0 {
            duration = Double(st.pointee.duration) * av_q2d(tb)
        }
        var rotation = 0.0
        var sdSize: Int = 0
        if let sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sdSize), sdSize >= 36 {
            let r = sd.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_get($0) }
            if r.isFinite { rotation = r }
        }
        let name = avcodec_get_name(par.codec_id).map { String(cString: $0) } ?? "unknown"
        var info = StreamInfo(
            index: i, kind: kind, codecName: name,
            width: Int(par.width), height: Int(par.height),
            timeBaseNum: tb.num, timeBaseDen: tb.den,
            framesPerSecond: fps, durationSeconds: duration,
            bitRate: par.bit_rate > 0 ? Int(par.bit_rate) : nil,
            frameCount: st.pointee.nb_frames > 0 ? Int(st.pointee.nb_frames) : nil,
            rotationDegrees: rotation,
            isAttachedPicture: (st.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC) != 0
        )
        info.colorPrimaries = av_color_primaries_name(par.color_primaries).map { String(cString: $0) } ?? "unknown"
        info.colorTransfer = av_color_transfer_name(par.color_trc).map { String(cString: $0) } ?? "unknown"
        info.colorSpace = av_color_space_name(par.color_space).map { String(cString: $0) } ?? "unknown"
        info.colorRange = av_color_range_name(par.color_range).map { String(cString: $0) } ?? "unknown"
        return info
    }
}
