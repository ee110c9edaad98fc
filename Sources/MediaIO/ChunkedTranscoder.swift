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
    /// Bytes of its first packet, the IDR picture every chunk starts with.
    public var keyframeBytes = 0
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

/// One encoded video packet kept outside FFmpeg: what a resumed encode writes instead of encoding its chunk again.
public struct StoredPacket: Sendable, Equatable {
    public var pts: Int64
    public var dts: Int64
    public var duration: Int64
    public var isKeyframe: Bool
    public var data: [UInt8]
    /// The encoder's statistics for this packet (picture type, QP).
    public var stats: EncodedFrameStats

    /// Packets in one flat file: per packet a little-endian header (size u32, pts i64, dts i64, duration i64,
    /// key u8, picture type u8, QP f64 or NaN) and the payload.
    public static func serialize(_ packets: [StoredPacket]) -> Data {
        var d = Data()
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        for p in packets {
            put(UInt32(p.data.count))
            put(p.pts)
            put(p.dts)
            put(p.duration)
            put(UInt8(p.isKeyframe ? 1 : 0))
            put(p.stats.pictureType.utf8.first ?? UInt8(ascii: "?"))
            put((p.stats.encoderQP ?? .nan).bitPattern)
            d.append(contentsOf: p.data)
        }
        return d
    }

    /// The packets of `serialize`; nil when the data is cut short or malformed.
    public static func deserialize(_ d: Data) -> [StoredPacket]? {
        let bytes = [UInt8](d)
        var at = 0
        func get<T: FixedWidthInteger>(_: T.Type) -> T? {
            let n = MemoryLayout<T>.size
            guard at + n <= bytes.count else { return nil }
            var v: T = 0
            for k in 0..<n { v |= T(truncatingIfNeeded: bytes[at + k]) << (8 * k) }
            at += n
            return v
        }
        var out: [StoredPacket] = []
        while at < bytes.count {
            guard let size = get(UInt32.self), let pts = get(Int64.self), let dts = get(Int64.self), let duration = get(Int64.self),
                let key = get(UInt8.self), let type = get(UInt8.self), let qp = get(UInt64.self), at + Int(size) <= bytes.count
            else { return nil }
            let q = Double(bitPattern: qp)
            out.append(
                StoredPacket(
                    pts: pts, dts: dts, duration: duration, isKeyframe: key != 0, data: Array(bytes[at..<(at + Int(size))]),
                    stats: EncodedFrameStats(pts: pts, bytes: Int(size), pictureType: String(UnicodeScalar(type)), encoderQP: q.isNaN ? nil : q)))
            at += Int(size)
        }
        return out
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
    /// A chunk an earlier run finished: its packets are written and the chunk is neither encoded nor verified
    /// (nil: encode it). Asked once per chunk with its number and frames.
    public var storedChunk: ((_ chunk: Int, _ frames: Range<Int>) throws -> [StoredPacket]?)? = nil
    /// Told every accepted chunk's packets before they are written (to keep them for a resumed run).
    public var chunkAccepted: ((_ chunk: Int, _ frames: Range<Int>, _ packets: [StoredPacket]) throws -> Void)? = nil

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

        // Decode times are assigned here, not taken from the sessions: each session starts its own below its first
        // presentation time, by an amount x265 varies with the session's length, so consecutive chunks can overlap by
        // more than a time base with one tick per frame leaves room for. The k-th packet of the stream in decode order
        // gets the presentation time of frame k − D (D: the encoders' reordering depth, the same in every session);
        // a packet is never decoded later than D frames before it is shown, so that is always at or before its own
        // presentation time, and it increases strictly from packet to packet. D is at least 2, the depth of x264's
        // and x265's B-pyramids (libx265 in FFmpeg 5.1 does not report it; a larger D than needed is still valid).
        let depth = max(2, Int(headerSession.context.pointee.has_b_frames))
        var shownTimes: [Int64] = []  // presentation time of every frame so far
        var written = 0
        func stampDecodeTime(_ p: Packet, chunkStart: Int) throws {
            let k = written - depth
            let dts = k >= 0 ? shownTimes[k] : shownTimes[0] - Int64(-k) * geometry.frameDuration
            guard dts <= p.pointer.pointee.pts, lastDTS.map({ dts > $0 }) ?? true else { throw MediaError.chunkTimestamps(frame: chunkStart) }
            p.pointer.pointee.dts = dts
            lastDTS = dts
            written += 1
        }

        func finishChunk(_ muxer: borrowing Muxer) throws {
            guard !pending.isEmpty else { return }
            let start = Date()
            let frames = firstPending..<(firstPending + pending.count)
            var attempt = ChunkAttempt(chunk: records.count, frames: frames, attempt: 0)
            if let stored = try storedChunk?(attempt.chunk, frames) {
                try write(stored.map { try Packet($0) }, stats: stored.map(\.stats), frames: frames, encodes: 0, since: nil, to: muxer)
                return
            }
            var encoded = try encodeChunk(attempt)
            while true {
                let decoded = try decodeChunk(encoded.packets, first: frames.lowerBound)
                guard decoded.count == pending.count else {
                    throw MediaError.decodeFailed(
                        path: output, frame: frames.lowerBound + decoded.count,
                        reason: "chunk \(attempt.chunk) decoded to \(decoded.count) frames, not \(pending.count)")
                }
                attempt.bytes = encoded.packets.reduce(0) { $0 + Int($1.pointer.pointee.size) }
                attempt.keyframeBytes = encoded.packets.first.map { Int($0.pointer.pointee.size) } ?? 0
                let accepted = try verify(attempt, decoded)
                if accepted || attempt.attempt + 1 >= maxEncodes { break }
                attempt.attempt += 1
                encoded = try encodeChunk(attempt)
            }
            try chunkAccepted?(attempt.chunk, frames, zip(encoded.packets, encoded.stats).map { StoredPacket($0, stats: $1) })
            try write(encoded.packets, stats: encoded.stats, frames: frames, encodes: attempt.attempt + 1, since: start, to: muxer)
        }

        /// Writes an accepted (or taken-over) chunk's packets and records it.
        func write(
            _ packets: [Packet], stats chunkStats: [EncodedFrameStats], frames: Range<Int>, encodes: Int, since start: Date?,
            to muxer: borrowing Muxer
        ) throws {
            var bytes = 0
            for p in packets {
                try stampDecodeTime(p, chunkStart: frames.lowerBound)
                bytes += Int(p.pointer.pointee.size)
                try muxer.write(p, from: geometry.timeBase, to: videoOut)
            }
            stats += chunkStats
            records.append(
                ChunkRecord(
                    firstFrame: frames.lowerBound, frameCount: frames.count, encodes: encodes, bytes: bytes,
                    seconds: start.map { Date().timeIntervalSince($0) } ?? 0))
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
                shownTimes.append(pending.last!.pts)
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

extension StoredPacket {
    /// A copy of an encoder's packet (stats from the encoder, taken before the muxer consumes the packet).
    init(_ p: Packet, stats: EncodedFrameStats) {
        let q = p.pointer.pointee
        data = q.data.map { Array(UnsafeBufferPointer(start: $0, count: Int(q.size))) } ?? []
        pts = q.pts
        dts = q.dts
        duration = q.duration
        isKeyframe = (q.flags & AV_PKT_FLAG_KEY) != 0
        self.stats = stats
    }
}

extension Packet {
    /// A packet holding a copy of a stored packet.
    convenience init(_ s: StoredPacket) throws {
        try self.init()
        try check(av_new_packet(pointer, Int32(s.data.count)), "av_new_packet")
        s.data.withUnsafeBytes { src in
            if let base = src.baseAddress { pointer.pointee.data.update(from: base.assumingMemoryBound(to: UInt8.self), count: s.data.count) }
        }
        pointer.pointee.pts = s.pts
        pointer.pointee.dts = s.dts
        pointer.pointee.duration = s.duration
        if s.isKeyframe { pointer.pointee.flags |= AV_PKT_FLAG_KEY }
    }
}
