internal import CFFmpeg
import Foundation
import RateControl

/// Which encode of which chunk a callback is asked about.
public struct ChunkAttempt: Sendable, Equatable {
    /// The chunk's number, from 0.
    public var chunk: Int
    /// The chunk's frames (indices in presentation order over the whole video).
    public var frames: Range<Int>
    /// 0 for the chunk's first encode, then one more per re-encode.
    public var attempt: Int
    /// Bytes of this encode's video packets (0 until it is encoded).
    public var bytes = 0
}

/// What one chunk cost, for the report.
public struct ChunkRecord: Sendable, Equatable, Codable {
    public var firstFrame: Int
    public var frameCount: Int
    /// Encodes of this chunk (1: accepted the first time).
    public var encodes: Int
    /// Bytes of the accepted encode's video packets.
    public var bytes: Int
    /// Wall time spent encoding and verifying this chunk, all attempts.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case firstFrame = "first_frame"
        case frameCount = "frames"
        case encodes, bytes, seconds
    }
}

/// The outcome of a chunked transcode.
public struct ChunkedTranscodeResult: Sendable {
    public var transcode: TranscodeResult
    public var chunks: [ChunkRecord]
}

/// A transcode in closed chunks: the video is cut every `chunkFrames` frames (or where `startsChunk` says), each chunk is encoded by its own encoder
/// session (so it starts with an IDR picture and nothing outside it refers into it), decoded and handed to `verify`,
/// and encoded again alone until `verify` accepts it or `maxEncodes` is reached. Accepted chunks are written in
/// order into one stream; every other stream is copied as `Transcoder` does.
///
/// Why chunks: re-encoding a whole file to repair one failing face changes every other frame's bits too, and faces
/// near the threshold then fail where they passed before. A closed chunk is final once accepted. The sessions share
/// one set of stream headers (same settings, same geometry); a session whose headers differ is an error, not a
/// silently broken stream. Timestamps pass through unchanged, as in `Transcoder`.
///
/// Memory: the decoded frames of one chunk and the packets of one chunk are held at a time.
public struct ChunkedTranscoder {
    public var input: String
    public var output: String
    public var encoder: EncoderSettings
    public var chunkFrames: Int
    public var maxEncodes: Int
    public var copyOtherStreams = true
    /// Whether a new chunk starts at a frame, given the frame's index and the length of the chunk so far (never
    /// asked for the first frame). Default: every `chunkFrames` frames.
    public var startsChunk: (@Sendable (_ frame: Int, _ chunkLength: Int) -> Bool)? = nil

    public init(input: String, output: String, encoder: EncoderSettings, chunkFrames: Int, maxEncodes: Int) {
        self.input = input
        self.output = output
        self.encoder = encoder
        self.chunkFrames = max(1, chunkFrames)
        self.maxEncodes = max(1, maxEncodes)
    }

    /// Runs the transcode.
    /// - Parameters:
    ///   - frameQP: called for every frame of every encode of a chunk, with a frame the callback may change (a copy
    ///     of the decoded frame when `editsFrames`); returns the frame's QP.
    ///   - verify: the decoded frames of one encode of a chunk, in presentation order with their indices; returns
    ///     true to accept the encode. An encode is accepted anyway when it is the chunk's last allowed one.
    ///   - progress: frames accepted so far.
    /// - Throws: `MediaError`, `FFmpegError`, `CancellationError`; on any error no output is left behind.
    public func run(
        editsFrames: Bool = false,
        frameQP: (ChunkAttempt, Int, Frame) throws -> FrameQP?,
        verify: (ChunkAttempt, [(index: Int, frame: Frame)]) throws -> Bool,
        progress: (TranscodeProgress) -> Void = { _ in },
        isCancelled: () -> Bool = { false }
    ) throws -> ChunkedTranscodeResult {
        let demuxer = try Demuxer(path: input)
        let video = try demuxer.bestVideoStream()
        var muxer = try Muxer(path: output)
        let inStream = demuxer.stream(video.index)
        let decoder = try VideoDecoder(stream: inStream, exportQP: false)
        let geometry = try Transcoder.geometry(of: inStream, path: input, globalHeader: muxer.needsGlobalHeader)
        // The muxer is passed to the nested functions rather than captured: a captured noncopyable value could not be
        // consumed by `finish()`.
        // A session opened only for the stream's parameters: every chunk's session must produce the same headers.
        let headerSession = try VideoEncoder(settings: encoder, geometry: geometry)
        let headers = headerSession.extradata
        let outIndex = try Transcoder.addStreams(
            to: muxer, from: demuxer, video: video.index, encoder: headerSession, copyOtherStreams: copyOtherStreams)
        muxer.movieTimescale = geometry.timeBase.den
        try muxer.writeHeader(metadataFrom: demuxer)
        let videoOut = outIndex[video.index]!

        var pending: [(frame: Frame, pts: Int64)] = []
        var firstPending = 0
        var lastPTS: Int64? = nil
        var lastDTS: Int64? = nil
        var stats: [EncodedFrameStats] = []
        var records: [ChunkRecord] = []
        var corrupt = 0

        func encodeChunk(_ attempt: ChunkAttempt) throws -> (packets: [Packet], stats: [EncodedFrameStats]) {
            let session = try VideoEncoder(settings: encoder, geometry: geometry)
            guard session.extradata == headers else { throw MediaError.chunkHeadersDiffer(codec: encoder.codec) }
            var packets: [Packet] = []
            var chunkStats: [EncodedFrameStats] = []
            func drain() throws {
                while true {
                    let p = try Packet()
                    guard try session.receive(into: p) == .produced else { return }
                    chunkStats.append(VideoEncoder.stats(of: p))
                    packets.append(p)
                }
            }
            for (k, item) in pending.enumerated() {
                if isCancelled() { throw CancellationError() }
                let frame = editsFrames ? try item.frame.deepCopy() : item.frame
                let qp = try frameQP(attempt, attempt.frames.lowerBound + k, frame)
                try session.send(frame, pts: item.pts, qp: qp)
                try drain()
            }
            try session.send(nil, pts: 0, qp: nil)
            try drain()
            return (packets, chunkStats)
        }

        func decodeChunk(_ packets: [Packet], first: Int) throws -> [(index: Int, frame: Frame)] {
            let check = try VideoDecoder(parametersOf: headerSession)
            var frames: [(index: Int, frame: Frame)] = []
            func drain() throws {
                while true {
                    let f = try Frame()
                    guard try check.receive(into: f) == .produced else { return }
                    frames.append((first + frames.count, f))
                }
            }
            for p in packets {
                try check.send(p)
                try drain()
            }
            try check.send(nil)
            try drain()
            return frames
        }

        func finishChunk(_ muxer: borrowing Muxer) throws {
            guard !pending.isEmpty else { return }
            let start = Date()
            let frames = firstPending..<(firstPending + pending.count)
            var attempt = ChunkAttempt(chunk: records.count, frames: frames, attempt: 0)
            var encoded = try encodeChunk(attempt)
            while true {
                let decoded = try decodeChunk(encoded.packets, first: frames.lowerBound)
                guard decoded.count == pending.count else {
                    throw MediaError.decodeFailed(
                        path: output, frame: frames.lowerBound + decoded.count,
                        reason: "chunk \(attempt.chunk) decoded to \(decoded.count) frames, not \(pending.count)")
                }
                attempt.bytes = encoded.packets.reduce(0) { $0 + Int($1.pointer.pointee.size) }
                let accepted = try verify(attempt, decoded)
                if accepted || attempt.attempt + 1 >= maxEncodes { break }
                attempt.attempt += 1
                encoded = try encodeChunk(attempt)
            }
            var bytes = 0
            for p in encoded.packets {
                // Sessions restart decode time below their first presentation time (B-frame delay); consecutive
                // closed chunks meet exactly at constant rate, a variable rate may overlap by a tick or two.
                var dts = p.pointer.pointee.dts
                if let last = lastDTS, dts <= last { dts = last + 1 }
                guard dts <= p.pointer.pointee.pts else { throw MediaError.chunkTimestamps(frame: frames.lowerBound) }
                p.pointer.pointee.dts = dts
                lastDTS = dts
                bytes += Int(p.pointer.pointee.size)
                try muxer.write(p, from: geometry.timeBase, to: videoOut)
            }
            stats += encoded.stats
            records.append(
                ChunkRecord(
                    firstFrame: frames.lowerBound, frameCount: frames.count, encodes: attempt.attempt + 1, bytes: bytes,
                    seconds: Date().timeIntervalSince(start)))
            firstPending = frames.upperBound
            pending.removeAll(keepingCapacity: true)
            progress(TranscodeProgress(framesDone: firstPending, framesExpected: video.frameCount))
        }

        func drainDecoder(_ muxer: borrowing Muxer) throws {
            while true {
                let frame = try Frame()
                let step = try decoder.receive(into: frame)
                if step == .corrupt {
                    corrupt += 1
                    continue
                }
                guard step == .produced else { return }
                let index = firstPending + pending.count
                if !pending.isEmpty && (startsChunk?(index, pending.count) ?? (pending.count >= chunkFrames)) { try finishChunk(muxer) }
                pending.append((frame, Transcoder.presentationTime(of: frame, after: &lastPTS, frameDuration: geometry.frameDuration)))
            }
        }

        corrupt += try Transcoder.pump(
            demuxer, video: video.index, decoder: decoder, outIndex: outIndex, into: muxer, isCancelled: isCancelled, drain: drainDecoder)
        try finishChunk(muxer)
        if isCancelled() { throw CancellationError() }
        guard firstPending > 0 else {
            throw MediaError.decodeFailed(path: input, frame: 0, reason: "no video frame could be decoded")
        }
        try muxer.finish()
        stats.sort { $0.pts < $1.pts }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        return ChunkedTranscodeResult(
            transcode: TranscodeResult(inputVideo: video, frameCount: firstPending, frames: stats, outputBytes: size, corruptPackets: corrupt),
            chunks: records)
    }
}

extension VideoEncoder {
    /// The stream headers the session put in its parameters (SPS/PPS for H.264, VPS/SPS/PPS for HEVC) when the
    /// container wants global headers; empty otherwise.
    var extradata: [UInt8] {
        guard let p = context.pointee.extradata, context.pointee.extradata_size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: p, count: Int(context.pointee.extradata_size)))
    }
}

extension VideoDecoder {
    /// A decoder for what `encoder` produces, its stream headers included.
    convenience init(parametersOf encoder: VideoEncoder) throws {
        guard let par = avcodec_parameters_alloc() else { throw FFmpegError.outOfMemory }
        var owned: UnsafeMutablePointer<AVCodecParameters>? = par
        defer { avcodec_parameters_free(&owned) }
        try check(avcodec_parameters_from_context(par, encoder.context), "avcodec_parameters_from_context")
        try self.init(parameters: par, timeBase: encoder.context.pointee.time_base)
    }
}

extension Frame {
    /// A copy with buffers of its own (a decoded frame's buffers may be shared with the decoder).
    func deepCopy() throws -> Frame {
        let copy = try Frame()
        copy.pointer.pointee.format = pointer.pointee.format
        copy.pointer.pointee.width = pointer.pointee.width
        copy.pointer.pointee.height = pointer.pointee.height
        try check(av_frame_get_buffer(copy.pointer, 0), "av_frame_get_buffer")
        try check(av_frame_copy(copy.pointer, pointer), "av_frame_copy")
        try check(av_frame_copy_props(copy.pointer, pointer), "av_frame_copy_props")
        return copy
    }
}
