internal import CFFmpeg
import RateControl
import TensorCore

/// What the bitstream says about one decoded frame.
public struct FrameQPReadback: Sendable, Equatable {
    /// Index in presentation order.
    public var index: Int
    /// Presentation time in seconds (nil when the stream has none).
    public var ptsSeconds: Double?
    /// Picture type letter (I, P, B, ...).
    public var pictureType: String
    /// Coded size in bytes.
    public var bytes: Int
    /// Mean, minimum and maximum block QP (nil where the decoder exports none: hevc, av1).
    /// For h264 these are the per-macroblock QPs (0…51); for vp9 they are q-indices (0…255).
    public var qpMean: Double?
    public var qpMin: Int?
    public var qpMax: Int?
    /// Mean block QP over the blocks whose centre lies inside each requested rectangle (nil if none does).
    public var regionQPMeans: [Double?]
    /// Mean block QP over the blocks outside every requested rectangle.
    public var outsideQPMean: Double?
}

/// Reads back, frame by frame, the QP a video stream actually carries.
///
/// Uses the decoder option `export_side_data=venc_params` (`AV_FRAME_DATA_VIDEO_ENC_PARAMS`). In FFmpeg 5.1 only
/// h264, mpeg1/2 and vp9 export it. For h264 the block QP is `par.qp + delta_qp`; macroblocks without coded
/// residual carry the previous macroblock's QP, so region edges read back slightly ragged.
public enum QPProbe {
    /// Summary of the file plus every frame's read-back.
    public struct Report: Sendable {
        public var video: StreamInfo
        public var streams: [StreamInfo]
        public var formatName: String
        public var durationSeconds: Double?
        public var bitRate: Int?
        public var frames: [FrameQPReadback]
    }

    /// Decodes the best video stream of `path` and reads back every frame's QP.
    /// - Parameter regions: rectangles whose mean QP is reported per frame.
    public static func read(path: String, regions: [PixelRect] = [], isCancelled: () -> Bool = { false }) throws -> Report {
        let demuxer = try Demuxer(path: path)
        let video = try demuxer.bestVideoStream()
        let stream = demuxer.stream(video.index)
        // One thread: with frame threading FFmpeg 5.1's h264 decoder can hand out a B-frame's QP table after another
        // thread has reused it, which reads back as random QPs.
        let decoder = try VideoDecoder(stream: stream, exportQP: true, threads: 1)
        let tb = stream.pointee.time_base
        let packet = try Packet()
        let frame = try Frame()
        var frames: [FrameQPReadback] = []

        func drain() throws {
            while true {
                let step = try decoder.receive(into: frame)
                if step == .corrupt { continue }
                guard step == .produced else { return }
                var r = readback(frame, regions: regions)
                r.index = frames.count
                r.ptsSeconds = frame.pts.map { Double($0) * av_q2d(tb) }
                frames.append(r)
                frame.unref()
            }
        }
        while try demuxer.read(into: packet) {
            if isCancelled() { throw CancellationError() }
            guard Int(packet.pointer.pointee.stream_index) == video.index else { continue }
            guard try decoder.send(packet) else { continue }
            try drain()
        }
        try decoder.send(nil)
        try drain()
        return Report(
            video: video, streams: demuxer.streams, formatName: demuxer.formatName,
            durationSeconds: video.durationSeconds ?? demuxer.durationSeconds,
            bitRate: video.bitRate ?? demuxer.bitRate, frames: frames)
    }

    static func readback(_ frame: Frame, regions: [PixelRect]) -> FrameQPReadback {
        var out = FrameQPReadback(
            index: 0, ptsSeconds: nil, pictureType: frame.pictureType, bytes: frame.codedBytes,
            qpMean: nil, qpMin: nil, qpMax: nil,
            regionQPMeans: Array(repeating: nil, count: regions.count), outsideQPMean: nil)
        guard let sd = av_frame_get_side_data(frame.pointer, AV_FRAME_DATA_VIDEO_ENC_PARAMS) else { return out }
        let par = UnsafeMutableRawPointer(sd.pointee.data!).assumingMemoryBound(to: AVVideoEncParams.self)
        let base = Int(par.pointee.qp)
        let n = Int(par.pointee.nb_blocks)
        if n == 0 {
            // vp9 without segmentation: one q-index for the whole frame.
            out.qpMean = Double(base); out.qpMin = base; out.qpMax = base
            return out
        }
        var sum = 0, lo = Int.max, hi = Int.min
        var regionSum = [Int](repeating: 0, count: regions.count)
        var regionCount = [Int](repeating: 0, count: regions.count)
        var outsideSum = 0, outsideCount = 0
        for i in 0..<n {
            let b = av_video_enc_params_block(par, UInt32(i))!.pointee
            let q = base + Int(b.delta_qp)
            sum += q; lo = min(lo, q); hi = max(hi, q)
            guard !regions.isEmpty else { continue }
            let cx = Double(b.src_x) + Double(b.w) / 2, cy = Double(b.src_y) + Double(b.h) / 2
            var inside = false
            for (k, r) in regions.enumerated() where r.contains(x: cx, y: cy) {
                regionSum[k] += q; regionCount[k] += 1; inside = true
            }
            if !inside { outsideSum += q; outsideCount += 1 }
        }
        out.qpMean = Double(sum) / Double(n)
        out.qpMin = lo
        out.qpMax = hi
        out.regionQPMeans = zip(regionSum, regionCount).map { $1 > 0 ? Double($0) / Double($1) : nil }
        out.outsideQPMean = outsideCount > 0 ? Double(outsideSum) / Double(outsideCount) : nil
        return out
    }
}
