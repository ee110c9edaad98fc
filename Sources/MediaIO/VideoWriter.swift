internal import CFFmpeg
import Foundation
import RateControl
import TensorCore

/// Encodes RGB images into a video file, optionally with a raw PCM audio track.
///
/// Used to make test clips and to encode face crops on their own. Like every output in facejnd the file is
/// written under a temporary name and appears at `path` only when `finish()` succeeds.
///
/// - Note: Not thread-safe; do not share between tasks.
public final class VideoWriter {
    /// Nil once `finish()` has consumed it.
    private var muxer: Muxer?
    private let encoder: VideoEncoder
    private let rgbFrame: Frame
    private let packet: Packet
    private let videoIndex: Int
    private let audioIndex: Int?
    private let timeBase: AVRational
    private var audioSamplesWritten: Int64 = 0
    private var framesWritten: Int64 = 0
    private let sampleRate: Int
    private let channels: Int
    /// Encoder statistics of every packet written so far (decode order).
    public private(set) var packetStats: [EncodedFrameStats] = []

    /// - Parameters:
    ///   - timeBaseDenominator: timestamps passed to `append` count units of 1/`timeBaseDenominator` s.
    ///   - framesPerSecond: nominal rate (also the default spacing of frames appended without a pts).
    ///   - rotationDegrees: display rotation to record in the container (0: none).
    ///   - audio: sample rate and channel count of a PCM s16 track, or nil for none.
    public init(
        path: String, width: Int, height: Int, framesPerSecond: Int = 25, timeBaseDenominator: Int? = nil,
        settings: EncoderSettings, rotationDegrees: Double = 0, audio: (sampleRate: Int, channels: Int)? = nil
    ) throws {
        guard width > 1, height > 1 else {
            throw MediaError.pictureSizeUnsupported(codec: settings.codec, width: width, height: height)
        }
        var muxer = try Muxer(path: path)
        timeBase = AVRational(num: 1, den: Int32(timeBaseDenominator ?? framesPerSecond))
        let geometry = VideoEncoder.Geometry(
            width: Int32(width & ~1), height: Int32(height & ~1), timeBase: timeBase,
            frameRate: AVRational(num: Int32(framesPerSecond), den: 1), sampleAspectRatio: AVRational(num: 1, den: 1),
            colorRange: AVCOL_RANGE_MPEG, colorPrimaries: AVCOL_PRI_BT709, colorTransfer: AVCOL_TRC_BT709,
            colorSpace: AVCOL_SPC_BT709, chromaLocation: AVCHROMA_LOC_LEFT, globalHeader: muxer.needsGlobalHeader)
        encoder = try VideoEncoder(settings: settings, geometry: geometry)
        let vs = try muxer.addEncoded(encoder, like: nil)
        if rotationDegrees != 0 { try muxer.setRotation(rotationDegrees, of: vs) }
        videoIndex = 0
        if let audio {
            _ = try muxer.addPCMAudio(sampleRate: audio.sampleRate, channels: audio.channels)
            audioIndex = 1
            sampleRate = audio.sampleRate
            channels = audio.channels
        } else {
            audioIndex = nil
            sampleRate = 0
            channels = 0
        }
        try muxer.writeHeader(metadataFrom: nil)
        self.muxer = consume muxer
        rgbFrame = try Frame()
        rgbFrame.pointer.pointee.width = Int32(width)
        rgbFrame.pointer.pointee.height = Int32(height)
        rgbFrame.pointer.pointee.format = AV_PIX_FMT_RGB24.rawValue
        try check(av_frame_get_buffer(rgbFrame.pointer, 0), "av_frame_get_buffer")
        packet = try Packet()
    }

    /// Appends one image.
    /// - Parameters:
    ///   - pts: timestamp in units of the time base (default: the previous frame's + one frame).
    ///   - qp: the frame's QP and regions (required when the settings are `.planned`).
    public func append(_ image: RGBImage, pts: Int64? = nil, qp: FrameQP? = nil) throws {
        let f = rgbFrame.pointer
        precondition(
            image.width == Int(f.pointee.width) && image.height == Int(f.pointee.height), "VideoWriter: image size differs from the writer's")
        try check(av_frame_make_writable(f), "av_frame_make_writable")
        let stride = Int(f.pointee.linesize.0)
        let dst = f.pointee.data.0!
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<image.height {
                (dst + y * stride).update(from: src.baseAddress! + y * image.width * 3, count: image.width * 3)
            }
        }
        let ticksPerFrame = Int64(timeBase.den) / Int64(max(1, encoder.context.pointee.framerate.num))
        let t = pts ?? framesWritten * max(1, ticksPerFrame)
        try encoder.send(rgbFrame, pts: t, qp: qp)
        framesWritten += 1
        try drain()
    }

    /// Appends interleaved signed 16-bit audio samples (count must be a multiple of the channel count).
    public func appendAudio(_ samples: [Int16]) throws {
        guard let audioIndex else { preconditionFailure("VideoWriter: no audio track was configured") }
        precondition(samples.count % channels == 0, "VideoWriter: sample count is not a multiple of the channel count")
        let bytes = samples.count * 2
        try check(av_new_packet(packet.pointer, Int32(bytes)), "av_new_packet")
        samples.withUnsafeBytes { src in
            UnsafeMutableRawPointer(packet.pointer.pointee.data!).copyMemory(from: src.baseAddress!, byteCount: bytes)
        }
        let n = Int64(samples.count / channels)
        packet.pointer.pointee.pts = audioSamplesWritten
        packet.pointer.pointee.dts = audioSamplesWritten
        packet.pointer.pointee.duration = n
        packet.pointer.pointee.flags |= AV_PKT_FLAG_KEY
        audioSamplesWritten += n
        try muxer!.write(packet, from: AVRational(num: 1, den: Int32(sampleRate)), to: audioIndex)
    }

    private func drain() throws {
        while try encoder.receive(into: packet) == .produced {
            packetStats.append(VideoEncoder.stats(of: packet))
            try muxer!.write(packet, from: timeBase, to: videoIndex)
        }
    }

    /// Flushes the encoder, writes the trailer and moves the file into place.
    public func finish() throws {
        try encoder.send(nil, pts: 0, qp: nil)
        try drain()
        guard let muxer = muxer.take() else { preconditionFailure("VideoWriter.finish called twice") }
        try muxer.finish()
    }
}

/// FFmpeg's own console logging.
public enum FFmpegLog {
    /// Shows only FFmpeg errors (the default for the CLI), or everything from `verbose` on.
    public static func setVerbose(_ verbose: Bool) {
        cffmpeg_set_log_level(verbose ? AV_LOG_VERBOSE : AV_LOG_ERROR)
    }
}
