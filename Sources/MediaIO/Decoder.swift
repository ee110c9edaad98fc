internal import CFFmpeg

/// The result of asking a decoder or encoder for output: EAGAIN and EOF are states, not errors.
enum CodecStep {
    case produced
    case needsInput
    case endOfStream
    /// The decoder rejected corrupt input; decoding goes on with the next packet.
    case corrupt
}

/// Decodes one video stream. Owns one `AVCodecContext`.
///
/// - Note: Not thread-safe; do not share between tasks.
final class VideoDecoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    let codecName: String

    /// Opens a decoder for `stream`.
    /// - Parameter exportQP: ask the decoder to attach `AV_FRAME_DATA_VIDEO_ENC_PARAMS` (per-block QP) to frames.
    ///   Only h264, mpeg1/2 and vp9 fill it in FFmpeg 5.1.
    /// The corresponding C functions are `avcodec_find_decoder` and `avcodec_open2`.
    /// - Parameter integerIDCT: use the IJG integer IDCT (closest to libjpeg's default) for JPEG.
    convenience init(stream: UnsafeMutablePointer<AVStream>, exportQP: Bool, threads: Int = 0, integerIDCT: Bool = false) throws {
        try self.init(
            parameters: stream.pointee.codecpar!, timeBase: stream.pointee.time_base, exportQP: exportQP, threads: threads, integerIDCT: integerIDCT)
    }

    /// Opens a decoder for a stream described by `parameters` (codec, size, headers) with timestamps in `timeBase`.
    init(
        parameters par: UnsafePointer<AVCodecParameters>, timeBase: AVRational, exportQP: Bool = false, threads: Int = 0,
        integerIDCT: Bool = false
    ) throws {
        guard let codec = avcodec_find_decoder(par.pointee.codec_id) else {
            let name = avcodec_get_name(par.pointee.codec_id).map { String(cString: $0) } ?? "?"
            throw MediaError.decoderNotFound(codec: name)
        }
        guard let ctx = avcodec_alloc_context3(codec) else { throw FFmpegError.outOfMemory }
        var c: UnsafeMutablePointer<AVCodecContext>? = ctx
        do {
            try check(avcodec_parameters_to_context(ctx, par), "avcodec_parameters_to_context")
            ctx.pointee.pkt_timebase = timeBase
            ctx.pointee.thread_count = Int32(threads)
            if integerIDCT { ctx.pointee.idct_algo = FF_IDCT_INT }
            var options: OpaquePointer? = nil
            if exportQP { av_dict_set(&options, "export_side_data", "venc_params", 0) }
            let status = avcodec_open2(ctx, codec, &options)
            av_dict_free(&options)
            try check(status, "avcodec_open2")
        } catch {
            avcodec_free_context(&c)
            throw error
        }
        context = ctx
        codecName = String(cString: codec.pointee.name)
    }

    /// Opens a decoder by name for raw packets produced in memory (Annex B / no container).
    init(decoderName: String, threads: Int = 1) throws {
        guard let codec = avcodec_find_decoder_by_name(decoderName) else {
            throw MediaError.decoderNotFound(codec: decoderName)
        }
        guard let ctx = avcodec_alloc_context3(codec) else { throw FFmpegError.outOfMemory }
        var c: UnsafeMutablePointer<AVCodecContext>? = ctx
        ctx.pointee.thread_count = Int32(threads)
        let status = avcodec_open2(ctx, codec, nil)
        if status < 0 {
            avcodec_free_context(&c)
            throw FFmpegError(rawValue: status, function: "avcodec_open2")
        }
        context = ctx
        codecName = decoderName
    }

    deinit {
        var c: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&c)
    }

    /// Sends a packet; `nil` starts draining.
    /// The corresponding C function is `avcodec_send_packet`.
    /// - Returns: false when the decoder rejected the packet as corrupt.
    @discardableResult
    func send(_ packet: Packet?) throws -> Bool {
        let status = avcodec_send_packet(context, packet?.pointer)
        // EAGAIN cannot happen because callers drain all frames after each send; EOF means already draining.
        if status == cffmpeg_averror_eof() { return true }
        if status == cffmpeg_averror_invaliddata() { return false }
        try check(status, "avcodec_send_packet")
        return true
    }

    /// Discards buffered state so that decoding can start again after draining.
    /// The corresponding C function is `avcodec_flush_buffers`.
    func reset() { avcodec_flush_buffers(context) }

    /// Receives the next frame into `frame`.
    /// The corresponding C function is `avcodec_receive_frame`.
    func receive(into frame: Frame) throws -> CodecStep {
        let status = avcodec_receive_frame(context, frame.pointer)
        if status == cffmpeg_averror_eagain() { return .needsInput }
        if status == cffmpeg_averror_eof() { return .endOfStream }
        if status == cffmpeg_averror_invaliddata() { return .corrupt }
        try check(status, "avcodec_receive_frame")
        return .produced
    }
}
