internal import CFFmpeg
import Foundation

/// Writes packets into a container. Owns one output `AVFormatContext`.
///
/// Nothing appears at `path` until `finish()` succeeds: the file is written to a temporary name in the same
/// directory and renamed at the end, so an error or interruption never leaves a half-written output.
///
/// A noncopyable owner: exactly one value holds the `AVFormatContext`, and `finish()` consumes it, so nothing can
/// write to a muxer that has been finished (or has failed to finish).
///
/// - Note: Not thread-safe; do not share between tasks.
struct Muxer: ~Copyable {
    let context: UnsafeMutablePointer<AVFormatContext>
    let path: String
    let temporaryPath: String
    private var headerWritten = false
    /// Timescale for mov/mp4 edit lists; set it to the video time base's denominator.
    var movieTimescale: Int32? = nil
    private var finished = false

    /// Prepares an output for `path`; the container is chosen from the file extension.
    /// - Throws: `MediaError.unsupportedContainer`, `MediaError.outputNotWritable`.
    init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw MediaError.outputNotWritable(path: path, reason: "directory \(dir) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: dir) else {
            throw MediaError.outputNotWritable(path: path, reason: "directory \(dir) is not writable")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw MediaError.outputNotWritable(path: path, reason: "it is a directory")
        }
        guard let format = av_guess_format(nil, path, nil) else {
            throw MediaError.unsupportedContainer(
                path: path, reason: "no container matches the extension '.\(url.pathExtension)' (try .mp4, .mkv or .mov)")
        }
        let ext = url.pathExtension
        let base = url.deletingPathExtension().lastPathComponent
        let tmp = "\(dir)/.\(base).facejnd-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).\(ext)"
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        try check(avformat_alloc_output_context2(&ctx, format, nil, tmp), "avformat_alloc_output_context2")
        guard let ctx else { throw FFmpegError.outOfMemory }
        // Matroska writes a random segment UID and the wall-clock date; without them the same encode is the same
        // file, which reruns and resumed batches rely on. (MP4 and MOV are reproducible already.)
        if String(cString: ctx.pointee.oformat.pointee.name).hasPrefix("matroska") || String(cString: ctx.pointee.oformat.pointee.name) == "webm" {
            ctx.pointee.flags |= AVFMT_FLAG_BITEXACT
        }
        context = ctx
        self.path = path
        temporaryPath = tmp
        TemporaryFiles.register(tmp)
    }

    deinit {
        if headerWritten && !finished { av_write_trailer(context) }
        if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
        if !finished { unlink(temporaryPath) }
        TemporaryFiles.unregister(temporaryPath)
    }

    var formatName: String { String(cString: context.pointee.oformat.pointee.name) }
    var needsGlobalHeader: Bool { (context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 }

    /// Adds a stream that copies `input` unchanged.
    /// - Throws: `MediaError.streamNotMuxable` when the container cannot hold the codec.
    func addCopy(of input: UnsafeMutablePointer<AVStream>) throws -> UnsafeMutablePointer<AVStream> {
        let par = input.pointee.codecpar!
        let supported = avformat_query_codec(context.pointee.oformat, par.pointee.codec_id, FF_COMPLIANCE_NORMAL)
        if supported == 0 {
            let name = avcodec_get_name(par.pointee.codec_id).map { String(cString: $0) } ?? "?"
            throw MediaError.streamNotMuxable(index: Int(input.pointee.index), codec: name, container: formatName)
        }
        guard let out = avformat_new_stream(context, nil) else { throw FFmpegError.outOfMemory }
        try check(avcodec_parameters_copy(out.pointee.codecpar, par), "avcodec_parameters_copy")
        // A tag from another container family can be invalid here; let the muxer choose unless it is the same family.
        out.pointee.codecpar.pointee.codec_tag = 0
        out.pointee.time_base = input.pointee.time_base
        copyStreamProperties(from: input, to: out)
        return out
    }

    /// Adds the stream for an encoder's output.
    /// - Parameter input: the stream whose disposition, metadata and side data (rotation) carry over, if any.
    func addEncoded(_ encoder: VideoEncoder, like input: UnsafeMutablePointer<AVStream>?) throws -> UnsafeMutablePointer<AVStream> {
        guard let out = avformat_new_stream(context, nil) else { throw FFmpegError.outOfMemory }
        try check(avcodec_parameters_from_context(out.pointee.codecpar, encoder.context), "avcodec_parameters_from_context")
        out.pointee.time_base = encoder.context.pointee.time_base
        out.pointee.sample_aspect_ratio = encoder.context.pointee.sample_aspect_ratio
        if let input {
            out.pointee.avg_frame_rate = input.pointee.avg_frame_rate
            out.pointee.r_frame_rate = input.pointee.r_frame_rate
            copyStreamProperties(from: input, to: out)
        } else {
            out.pointee.avg_frame_rate = encoder.context.pointee.framerate
        }
        return out
    }

    /// Adds a raw PCM audio stream (signed 16-bit little-endian, interleaved); needs no encoder.
    func addPCMAudio(sampleRate: Int, channels: Int) throws -> UnsafeMutablePointer<AVStream> {
        guard let out = avformat_new_stream(context, nil) else { throw FFmpegError.outOfMemory }
        let par = out.pointee.codecpar!
        par.pointee.codec_type = AVMEDIA_TYPE_AUDIO
        par.pointee.codec_id = AV_CODEC_ID_PCM_S16LE
        par.pointee.sample_rate = Int32(sampleRate)
        par.pointee.format = AV_SAMPLE_FMT_S16.rawValue
        av_channel_layout_default(&par.pointee.ch_layout, Int32(channels))
        par.pointee.bits_per_coded_sample = 16
        par.pointee.block_align = Int32(2 * channels)
        par.pointee.bit_rate = Int64(sampleRate * channels * 16)
        out.pointee.time_base = AVRational(num: 1, den: Int32(sampleRate))
        return out
    }

    /// Marks a stream as displayed rotated by `degrees` (counter-clockwise), as phones record portrait video.
    func setRotation(_ degrees: Double, of stream: UnsafeMutablePointer<AVStream>) throws {
        guard let sd = av_stream_new_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, 36) else { throw FFmpegError.outOfMemory }
        // av_display_rotation_set takes a clockwise angle; av_display_rotation_get (StreamInfo) reports it
        // counter-clockwise. Negate so that what is written reads back as `degrees`.
        sd.withMemoryRebound(to: Int32.self, capacity: 9) { av_display_rotation_set($0, -degrees) }
    }

    /// Disposition, metadata (language, title, ...) and stream side data such as the display matrix (rotation).
    private func copyStreamProperties(from input: UnsafeMutablePointer<AVStream>, to out: UnsafeMutablePointer<AVStream>) {
        out.pointee.disposition = input.pointee.disposition
        av_dict_copy(&out.pointee.metadata, input.pointee.metadata, 0)
        for i in 0..<Int(input.pointee.nb_side_data) {
            let sd = input.pointee.side_data[i]
            if let dst = av_stream_new_side_data(out, sd.type, sd.size) {
                dst.update(from: sd.data, count: sd.size)
            }
        }
    }

    /// Opens the temporary file and writes the container header.
    mutating func writeHeader(metadataFrom input: Demuxer?) throws {
        if let input { av_dict_copy(&context.pointee.metadata, input.context.pointee.metadata, 0) }
        if (context.pointee.oformat.pointee.flags & AVFMT_NOFILE) == 0 {
            let status = avio_open(&context.pointee.pb, temporaryPath, AVIO_FLAG_WRITE)
            if status < 0 {
                throw MediaError.outputNotWritable(path: path, reason: FFmpegError(rawValue: status).message)
            }
        }
        var options: OpaquePointer? = nil
        defer { av_dict_free(&options) }
        if let scale = movieTimescale, formatName == "mp4" || formatName == "mov" {
            // The mov muxer writes edit lists in the movie timescale (default 1000), which moves a start time such as
            // 1001/30000 s by a fraction of a millisecond; the video's own timescale keeps every pts exact.
            av_dict_set(&options, "movie_timescale", String(scale), 0)
        }
        let status = avformat_write_header(context, &options)
        if status < 0, let pb = context.pointee.pb, pb.pointee.error < 0 { throw writeError(pb.pointee.error, "avformat_write_header") }
        if status < 0 {
            throw MediaError.unsupportedContainer(
                path: path, reason: "the \(formatName) muxer refused the streams: \(FFmpegError(rawValue: status).message)")
        }
        headerWritten = true
    }

    /// The error for a failed write: a system error (out of space, I/O, file size) names the output; anything else is
    /// FFmpeg's own.
    private func writeError(_ status: Int32, _ function: StaticString) -> any Error {
        let code = -status
        if isTransientWriteError(code) || code == EROFS || code == EACCES {
            return MediaError.writeFailed(path: path, errno: code)
        }
        if let pb = context.pointee.pb, pb.pointee.error < 0, -pb.pointee.error != 0 {
            return MediaError.writeFailed(path: path, errno: -pb.pointee.error)
        }
        return FFmpegError(rawValue: status, function: function)
    }

    /// Writes a packet whose timestamps are in `timeBase`, to output stream `streamIndex`.
    /// The corresponding C function is `av_interleaved_write_frame`; it takes the packet's data.
    func write(_ packet: Packet, from timeBase: AVRational, to streamIndex: Int) throws {
        let st = context.pointee.streams[streamIndex]!
        packet.pointer.pointee.stream_index = Int32(streamIndex)
        av_packet_rescale_ts(packet.pointer, timeBase, st.pointee.time_base)
        packet.pointer.pointee.pos = -1
        let status = av_interleaved_write_frame(context, packet.pointer)
        if status < 0 { throw writeError(status, "av_interleaved_write_frame") }
    }

    /// Writes the trailer, closes the file and renames it to its final name. Consumes the muxer: on success or
    /// failure it is gone, and its deinit removes the temporary file unless the rename happened.
    consuming func finish() throws {
        // The trailer is written once, whatever happens: after a failed av_write_trailer the muxer's state is gone,
        // and a second call (from deinit) would dereference it.
        headerWritten = false
        let trailer = av_write_trailer(context)
        if trailer < 0 { throw writeError(trailer, "av_write_trailer") }
        if context.pointee.pb != nil {
            let closed = avio_closep(&context.pointee.pb)
            if closed < 0 { throw writeError(closed, "avio_closep") }
        }
        if rename(temporaryPath, path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            finished = true
            throw MediaError.outputNotWritable(path: path, reason: reason)
        }
        finished = true
    }
}
