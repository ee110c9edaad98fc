import Foundation
import MediaIO
import RateControl

/// A plain transcode: one QP (or CRF) for the whole video, or a QP plan.
public struct TranscodeJob: Sendable {
    public enum Quality: Sendable, Equatable {
        case qp(Int)
        case crf(Double)
        case plan(QPPlan)
    }

    public var input: String
    public var output: String
    public var codec: String
    public var preset: String?
    public var quality: Quality

    public init(input: String, output: String, codec: String = "libx264", preset: String? = "medium", quality: Quality) {
        self.input = input
        self.output = output
        self.codec = codec
        self.preset = preset
        self.quality = quality
    }

    /// Runs the transcode; no output file exists unless it succeeds.
    public func run(progress: (TranscodeProgress) -> Void = { _ in }, isCancelled: () -> Bool = { false }) throws -> TranscodeSummary {
        let mode: RateControlMode
        var plan: QPPlan? = nil
        switch quality {
        case .qp(let q): mode = .qp(q)
        case .crf(let c): mode = .crf(c)
        case .plan(let p):
            plan = p
            mode = .planned(anchorQP: p.defaultQP)
            // Refuse early when the container already says the plan runs past the end.
            let info = try Demuxer(path: input)
            if let n = try info.bestVideoStream().frameCount { try p.check(frameCount: n) }
        }
        var transcoder = Transcoder(
            input: input, output: output,
            encoder: EncoderSettings(codec: codec, preset: preset, rateControl: mode))
        transcoder.copyOtherStreams = true
        let result = try transcoder.run(
            frameQP: { index, _ in plan?.frame(index) },
            beforeFinish: { count in try plan?.check(frameCount: count) },
            progress: progress,
            isCancelled: isCancelled)
        return TranscodeSummary(job: self, result: result, plan: plan)
    }
}

/// The outcome of a transcode, ready for JSON.
public struct TranscodeSummary: Sendable, Encodable {
    public struct FrameRow: Sendable, Encodable {
        public var index: Int
        public var pts: Double
        public var type: String
        public var bytes: Int
        public var encoderQP: Double?
        public var plannedQP: Int?

        enum CodingKeys: String, CodingKey {
            case index, pts, type, bytes
            case encoderQP = "encoder_qp"
            case plannedQP = "planned_qp"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(pts, forKey: .pts)
            try c.encode(type, forKey: .type)
            try c.encode(bytes, forKey: .bytes)
            try c.encode(encoderQP, forKey: .encoderQP)
            try c.encode(plannedQP, forKey: .plannedQP)
        }
    }

    public var input: String
    public var output: String
    public var codec: String
    public var frameCount: Int
    public var outputBytes: Int
    public var durationSeconds: Double
    public var bitrateKbps: Double
    public var corruptPackets: Int
    public var frames: [FrameRow]

    enum CodingKeys: String, CodingKey {
        case input, output, codec, frames
        case frameCount = "frame_count"
        case outputBytes = "output_bytes"
        case durationSeconds = "duration"
        case bitrateKbps = "bitrate_kbps"
        case corruptPackets = "corrupt_packets"
    }

    init(job: TranscodeJob, result: TranscodeResult, plan: QPPlan?) {
        input = job.input
        output = job.output
        codec = job.codec
        frameCount = result.frameCount
        outputBytes = result.outputBytes
        corruptPackets = result.corruptPackets
        let tb = result.inputVideo.timeBaseSeconds
        let fps = result.inputVideo.framesPerSecond > 0 ? result.inputVideo.framesPerSecond : 25
        let first = result.frames.first?.pts ?? 0
        frames = result.frames.enumerated().map { i, f in
            FrameRow(
                index: i, pts: Double(f.pts) * tb, type: f.pictureType, bytes: f.bytes, encoderQP: f.encoderQP,
                plannedQP: plan.map { $0.frame(i).qp })
        }
        let last = result.frames.last?.pts ?? 0
        durationSeconds = Double(last - first) * tb + 1 / fps
        let videoBytes = result.frames.reduce(0) { $0 + $1.bytes }
        bitrateKbps = durationSeconds > 0 ? Double(videoBytes) * 8 / durationSeconds / 1000 : 0
    }
}
