import Foundation
import MediaIO
import TensorCore

/// `facejnd probe`'s JSON document: a stream summary and per-frame QP read-back.
public struct ProbeReport: Sendable, Encodable {
    public struct Stream: Sendable, Encodable {
        public var index: Int
        public var codec: String
        public var width: Int
        public var height: Int
        public var fps: Double
        public var duration: Double?
        public var bitrate: Int?
        public var frameCount: Int
        public var rotation: Double
        public var container: String

        enum CodingKeys: String, CodingKey {
            case index, codec, width, height, fps, duration, bitrate, rotation, container
            case frameCount = "frame_count"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(codec, forKey: .codec)
            try c.encode(width, forKey: .width)
            try c.encode(height, forKey: .height)
            try c.encode(fps, forKey: .fps)
            try c.encode(duration, forKey: .duration)
            try c.encode(bitrate, forKey: .bitrate)
            try c.encode(frameCount, forKey: .frameCount)
            try c.encode(rotation, forKey: .rotation)
            try c.encode(container, forKey: .container)
        }
    }

    public struct FrameRow: Sendable, Encodable {
        public var index: Int
        public var pts: Double?
        public var type: String
        public var bytes: Int
        public var qpMean: Double?
        public var qpMin: Int?
        public var qpMax: Int?
        public var regionQPMeans: [Double?]?
        public var outsideQPMean: Double?

        enum CodingKeys: String, CodingKey {
            case index, pts, type, bytes
            case qpMean = "qp_mean"
            case qpMin = "qp_min"
            case qpMax = "qp_max"
            case regionQPMeans = "region_qp_means"
            case outsideQPMean = "outside_qp_mean"
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(pts, forKey: .pts)
            try c.encode(type, forKey: .type)
            try c.encode(bytes, forKey: .bytes)
            try c.encode(qpMean.map { ($0 * 1000).rounded() / 1000 }, forKey: .qpMean)
            try c.encode(qpMin, forKey: .qpMin)
            try c.encode(qpMax, forKey: .qpMax)
            if let r = regionQPMeans {
                try c.encode(r.map { $0.map { ($0 * 1000).rounded() / 1000 } }, forKey: .regionQPMeans)
                try c.encode(outsideQPMean.map { ($0 * 1000).rounded() / 1000 }, forKey: .outsideQPMean)
            }
        }
    }

    public var file: String
    public var stream: Stream
    public var frames: [FrameRow]

    /// Reads `path` and builds the report.
    public static func make(path: String, regions: [PixelRect] = [], isCancelled: () -> Bool = { false }) throws -> ProbeReport {
        let r = try QPProbe.read(path: path, regions: regions, isCancelled: isCancelled)
        let frames = r.frames.map {
            FrameRow(
                index: $0.index, pts: $0.ptsSeconds, type: $0.pictureType, bytes: $0.bytes, qpMean: $0.qpMean,
                qpMin: $0.qpMin, qpMax: $0.qpMax, regionQPMeans: regions.isEmpty ? nil : $0.regionQPMeans,
                outsideQPMean: $0.outsideQPMean)
        }
        var bitrate = r.bitRate
        if bitrate == nil, let d = r.durationSeconds, d > 0 {
            bitrate = Int(Double(r.frames.reduce(0) { $0 + $1.bytes }) * 8 / d)
        }
        let s = Stream(
            index: r.video.index, codec: r.video.codecName, width: r.video.width, height: r.video.height,
            fps: (r.video.framesPerSecond * 1000).rounded() / 1000, duration: r.durationSeconds,
            bitrate: bitrate, frameCount: frames.count, rotation: r.video.rotationDegrees,
            container: r.formatName)
        return ProbeReport(file: path, stream: s, frames: frames)
    }
}
