/// Errors in how the pipeline was asked to work, as opposed to media errors (`MediaError`, `FFmpegError`) and
/// model-file errors. Cancellation is Swift's `CancellationError` everywhere.
public enum PipelineError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Face regions need an encoder that honours per-region QP.
    case codecCannotPlanFaces(codec: String)
    /// The JND-image prefilter was asked for without a JND predictor.
    case prefilterNeedsPredictor
    /// A JND probe made from a known curve was asked for a QP the curve does not hold.
    case probeHasNoOracle(track: Int, frame: Int, qp: Int)
    /// The input decoded to no frame at all.
    case noFrames(path: String)
    /// The verification pass decoded a different number of frames than the analysis pass.
    case frameCountMismatch(path: String, encoded: Int, expected: Int)
    /// A report, dataset record or finished output could not be written or moved into place.
    case outputNotWritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .codecCannotPlanFaces(let codec):
            return "face-region QP needs libx264 or libx265, not \(codec)"
        case .prefilterNeedsPredictor:
            return "the JND-image prefilter needs the learned JND predictor"
        case .probeHasNoOracle(let track, let frame, let qp):
            return "the JND probe of track \(track) at frame \(frame) has no distance for QP \(qp) and no oracle to measure it"
        case .noFrames(let path):
            return "no video frame of \(path) could be decoded"
        case .frameCountMismatch(let path, let encoded, let expected):
            return "\(path) has \(encoded) frames, the input \(expected)"
        case .outputNotWritable(let path, let reason):
            return "cannot write output \(path): \(reason)"
        }
    }
}
