internal import CFFmpeg
import Foundation
import RateControl

/// What a transcode reports.
public struct TranscodeResult: Sendable {
    /// The input's video stream.
    public var inputVideo: StreamInfo
    /// Frames decoded and encoded (they are always equal: no frame is dropped or duplicated).
    public var frameCount: Int
    /// Per-frame encoder statistics in presentation order; `pts` in the input video stream's time base.
    public var frames: [EncodedFrameStats]
    /// Size of the finished output file in bytes.
    public var outputBytes: Int
    /// Number of input packets the decoder rejected as corrupt (0 for a clean input).
    public var corruptPackets: Int

    /// Bytes of the encoded video stream (packets only: no container, no other stream).
    public var videoBytes: Int { frames.reduce(0) { $0 + $1.bytes } }
}

/// Progress of a long transcode.
public struct TranscodeProgress: Sendable {
    public var framesDone: Int
    /// Expected frame count, when the container says.
    public var framesExpected: Int?
}

/// Decodes the best video stream of a file, re-encodes it with per-frame QP control, copies every other stream
/// (audio, subtitles, data) packet for packet, and writes the result atomically.
///
/// Timestamps pass through unchanged (variable frame rate stays variable), as do the frame count, rotation
/// (display matrix), colour tags and stream metadata.
public struct Transcoder {
    public var input: String
    public var output: String
    public var encoder: EncoderSettings
    /// Copy streams other than the re-encoded video (default true).
    public var copyOtherStreams = true

    public init(input: String, output: String, encoder: EncoderSettings) {
        self.input = input
        self.output = output
        self.encoder = encoder
    }

    /// Runs the transcode.
    /// - Parameters:
    ///   - frameQP: called once per frame, in presentation order, with the frame index and decoded frame; returns
    ///     the frame's QP (required for `.planned`, ignored otherwise).
    ///   - beforeFinish: called with the frame count once every frame is encoded, before the output is renamed into
    ///     place; throwing here discards the output.
    ///   - progress: called after every frame.
    ///   - isCancelled: polled once per packet; when it returns true the transcode stops with `CancellationError`.
    /// - Throws: `MediaError` and `FFmpegError`; on any error no output file is left behind.
    public func run(
        frameQP: (Int, Frame) throws -> FrameQP? = { _, _ in nil },
        beforeFinish: (Int) throws -> Void = { _ in },
        progress: (TranscodeProgress) -> Void = { _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> TranscodeResult {
        let demuxer = try Demuxer(path: input)
        let video = try demuxer.bestVideoStream()
        var muxer = try Muxer(path: output)
        let inStream = demuxer.stream(video.index)
        let decoder = try VideoDecoder(stream: inStream, exportQP: false)
        let geometry = try Transcoder.geometry(of: inStream, path: input, globalHeader: muxer.needsGlobalHeader)
        let videoEncoder = try VideoEncoder(settings: encoder, geometry: geometry)

        let outIndex = try Transcoder.addStreams(
            to: muxer, from: demuxer, video: video.index, encoder: videoEncoder, copyOtherStreams: copyOtherStreams)
        muxer.movieTimescale = geometry.timeBase.den
        try muxer.writeHeader(metadataFrom: demuxer)
        let videoOut = outIndex[video.index]!

        let outPacket = try Packet()
        let frame = try Frame()
        var frameIndex = 0
        var stats: [EncodedFrameStats] = []
        var lastPTS: Int64? = nil
        var corrupt = 0
        let defaultDuration = geometry.frameDuration

        // The muxer is passed in rather than captured: a captured noncopyable value could not be consumed by `finish()`.
        func drainEncoder(_ muxer: borrowing Muxer) throws {
            while try videoEncoder.receive(into: outPacket) == .produced {
                stats.append(VideoEncoder.stats(of: outPacket))
                try muxer.write(outPacket, from: geometry.timeBase, to: videoOut)
            }
        }
        func drainDecoder(_ muxer: borrowing Muxer) throws {
            while true {
                let step = try decoder.receive(into: frame)
                if step == .corrupt {
                    corrupt += 1
                    continue
                }
                guard step == .produced else { return }
                // Keep presentation timestamps exactly; repair only missing or non-increasing ones, which
                // encoders reject.
                let pts = Transcoder.presentationTime(of: frame, after: &lastPTS, frameDuration: defaultDuration)
                let qp = try frameQP(frameIndex, frame)
                try videoEncoder.send(frame, pts: pts, qp: qp)
                frame.unref()
                frameIndex += 1
                progress(TranscodeProgress(framesDone: frameIndex, framesExpected: video.frameCount))
                try drainEncoder(muxer)
            }
        }

        corrupt += try Transcoder.pump(
            demuxer, video: video.index, decoder: decoder, outIndex: outIndex, into: muxer, isCancelled: isCancelled, drain: drainDecoder)
        try videoEncoder.send(nil, pts: 0, qp: nil)
        try drainEncoder(muxer)
        if isCancelled() { throw CancellationError() }
        guard frameIndex > 0 else {
            throw MediaError.decodeFailed(path: input, frame: 0, reason: "no video frame could be decoded")
        }
        try beforeFinish(frameIndex)
        try muxer.finish()
        stats.sort { $0.pts < $1.pts }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        return TranscodeResult(
            inputVideo: video, frameCount: frameIndex, frames: stats, outputBytes: size,
            corruptPackets: corrupt)
    }
}

extension Transcoder {
    /// The encoder geometry for re-encoding `stream`: its size (odd sizes one pixel smaller: 4:2:0 encoders need even
    /// ones), time base, rate, aspect and colour tags.
    static func geometry(of stream: UnsafeMutablePointer<AVStream>, path: String, globalHeader: Bool) throws -> VideoEncoder.Geometry {
        let par = stream.pointee.codecpar!.pointee
        guard par.width > 0, par.height > 0 else { throw MediaError.cannotOpen(path: path, reason: "video stream has no size") }
        let fmtIsJPEG = Scaler.isJPEGFormat(AVPixelFormat(rawValue: par.format))
        return VideoEncoder.Geometry(
            width: par.width & ~1, height: par.height & ~1,
            timeBase: stream.pointee.time_base,
            frameRate: stream.pointee.avg_frame_rate.num > 0 ? stream.pointee.avg_frame_rate : stream.pointee.r_frame_rate,
            sampleAspectRatio: par.sample_aspect_ratio.num > 0 ? par.sample_aspect_ratio : AVRational(num: 1, den: 1),
            colorRange: fmtIsJPEG ? AVCOL_RANGE_JPEG : par.color_range,
            colorPrimaries: par.color_primaries, colorTransfer: par.color_trc, colorSpace: par.color_space,
            chromaLocation: par.chroma_location, globalHeader: globalHeader)
    }

    /// A decoded frame's presentation time, kept exactly; only missing or non-increasing ones (which encoders
    /// reject) are repaired, from the previous frame's.
    static func presentationTime(of frame: Frame, after last: inout Int64?, frameDuration: Int64) -> Int64 {
        var pts = frame.pts ?? ((last ?? -frameDuration) + frameDuration)
        if let l = last, pts <= l { pts = l + 1 }
        last = pts
        return pts
    }
}

extension Transcoder {
    /// Adds the encoded video stream and (with `copyOtherStreams`) a copy of every other stream; returns the output
    /// stream index of each input stream that is written.
    static func addStreams(
        to muxer: borrowing Muxer, from demuxer: Demuxer, video: Int, encoder: VideoEncoder, copyOtherStreams: Bool
    ) throws -> [Int: Int] {
        var outIndex = [Int: Int]()
        for info in demuxer.streams {
            if info.index == video {
                _ = try muxer.addEncoded(encoder, like: demuxer.stream(video))
            } else if copyOtherStreams {
                _ = try muxer.addCopy(of: demuxer.stream(info.index))
            } else {
                continue
            }
            outIndex[info.index] = Int(muxer.context.pointee.nb_streams) - 1
        }
        return outIndex
    }
}

extension Transcoder {
    /// Reads the whole input: video packets go to `decoder` and then `drain` (which takes the decoded frames), then
    /// the decoder is flushed; packets of the streams in `outIndex` are copied to the muxer as they come. Returns how
    /// many video packets the decoder rejected as corrupt.
    static func pump(
        _ demuxer: Demuxer, video: Int, decoder: VideoDecoder, outIndex: [Int: Int], into muxer: borrowing Muxer,
        isCancelled: () -> Bool, drain: (borrowing Muxer) throws -> Void
    ) throws -> Int {
        let packet = try Packet()
        var rejected = 0
        while try demuxer.read(into: packet) {
            if isCancelled() { throw CancellationError() }
            let si = Int(packet.pointer.pointee.stream_index)
            if si == video {
                guard try decoder.send(packet) else {
                    rejected += 1
                    continue
                }
                try drain(muxer)
            } else if let o = outIndex[si] {
                try muxer.write(packet, from: demuxer.stream(si).pointee.time_base, to: o)
            }
        }
        try decoder.send(nil)
        try drain(muxer)
        return rejected
    }
}

extension VideoEncoder.Geometry {
    /// One frame's duration in the time base (from the frame rate; 1 tick when the rate is unknown).
    var frameDuration: Int64 {
        guard frameRate.num > 0, frameRate.den > 0 else { return 1 }
        return max(1, av_rescale_q(1, AVRational(num: frameRate.den, den: frameRate.num), timeBase))
    }
}
