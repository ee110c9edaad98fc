import RateControl

/// How the encoder spends bits.
public enum RateControlMode: Sendable, Equatable {
    /// Constant rate factor (x264/x265/libsvtav1 `crf`, libvpx-vp9 `crf` with `b:v 0`).
    case crf(Double)
    /// Every frame and every block at exactly this QP (x264/x265: 0…51). For libvpx-vp9 and libsvtav1 this is
    /// their own 0…63 quantizer (`qmin = qmax`, resp. `qp`).
    case qp(Int)
    /// Per-frame and per-region QP chosen by a plan, given to the encoder frame by frame as `FrameQP`.
    /// `anchorQP` is the QP the encoder is opened at; each frame's QP is reached by an offset from it.
    case planned(anchorQP: Int)
}

/// What to encode with.
public struct EncoderSettings: Sendable, Equatable {
    /// FFmpeg encoder name, e.g. "libx264".
    public var codec: String
    /// Encoder preset (x264/x265 names such as "medium"; libsvtav1 0…13; libvpx-vp9 ignores it).
    public var preset: String?
    public var rateControl: RateControlMode
    /// Maximum GOP length in frames (nil: the encoder's default).
    public var gopSize: Int?
    /// Encoder threads (0: automatic).
    public var threads: Int
    /// Every frame an independent intra picture, output as soon as it is sent (no B-frames, no lookahead).
    public var intraOnly: Bool

    public init(
        codec: String = "libx264", preset: String? = "medium", rateControl: RateControlMode = .crf(23),
        gopSize: Int? = nil, threads: Int = 0, intraOnly: Bool = false
    ) {
        self.codec = codec
        self.preset = preset
        self.rateControl = rateControl
        self.gopSize = gopSize
        self.threads = threads
        self.intraOnly = intraOnly
    }
}

/// The encoders facejnd knows how to drive, and what each can honour.
public enum CodecFamily: String, Sendable, CaseIterable {
    case x264 = "libx264"
    case x265 = "libx265"
    case vp9 = "libvpx-vp9"
    case svtav1 = "libsvtav1"

    /// Whether the encoder can carry a different QP per frame and per rectangle, frame-accurately.
    public var supportsPlans: Bool { self == .x264 || self == .x265 }

    /// Why a plan cannot be honoured (nil when it can).
    public var planLimitation: String? {
        switch self {
        case .x264, .x265: return nil
        case .vp9:
            return
                "FFmpeg 5.1's libvpx-vp9 applies regions only in realtime mode with at most 7 distinct offsets per frame and has no frame-accurate per-frame QP; use libx264 or libx265 for QP plans"
        case .svtav1:
            return "FFmpeg 5.1's libsvtav1 ignores regions of interest and cannot change QP per frame; use libx264 or libx265 for QP plans"
        }
    }

    /// The valid QP range for `--qp`.
    public var qpRange: ClosedRange<Int> { self == .x264 || self == .x265 ? 0...51 : 0...63 }
}
