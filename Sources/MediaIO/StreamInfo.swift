/// A value snapshot of one stream of an opened input.
public struct StreamInfo: Sendable, Equatable {
    public enum Kind: String, Sendable { case video, audio, subtitle, data, attachment, unknown }

    public var index: Int
    public var kind: Kind
    public var codecName: String
    public var width: Int
    public var height: Int
    /// Stream time base as numerator / denominator.
    public var timeBaseNum: Int32
    public var timeBaseDen: Int32
    /// Average frame rate in frames per second (0 when unknown).
    public var framesPerSecond: Double
    /// Duration in seconds (nil when unknown).
    public var durationSeconds: Double?
    /// Bit rate in bits per second (nil when unknown).
    public var bitRate: Int?
    /// Frame count stored in the container (nil when unknown).
    public var frameCount: Int?
    /// Display rotation in degrees (counter-clockwise, as FFmpeg's display matrix reports), 0 if none.
    public var rotationDegrees: Double
    /// Whether the stream is an attached picture (cover art) rather than real video.
    public var isAttachedPicture: Bool
    /// Colour tags as FFmpeg names them ("bt709", "tv", ...; "unknown" when unset).
    public var colorPrimaries: String = "unknown"
    public var colorTransfer: String = "unknown"
    public var colorSpace: String = "unknown"
    public var colorRange: String = "unknown"

    public var timeBaseSeconds: Double { Double(timeBaseNum) / Double(timeBaseDen) }
}
