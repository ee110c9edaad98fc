import Foundation
import MediaIO
import TensorCore

/// Decoded frame → upright RGB picture: the one place where that conversion happens.
///
/// Phone videos store their pictures turned by a display matrix; faces are found in the upright picture (the
/// detector and the shape predictor expect upright faces), so every pass that looks at faces converts frames here.
public struct UprightConverter {
    public let orientation: Orientation
    private let scaler: Scaler
    /// JPEG frames converted with libjpeg's colour path (dlib's parity reference).
    private let libjpegColour: Bool

    public init(orientation: Orientation, libjpegColour: Bool = false) throws {
        self.orientation = orientation
        scaler = try Scaler()
        self.libjpegColour = libjpegColour
    }

    /// The upright RGB picture of a decoded frame.
    public func picture(_ frame: Frame) throws -> RGBImage {
        orientation.upright(libjpegColour ? try ImageFile.rgb(jpegFrame: frame, scaler: scaler) : try scaler.rgb(frame))
    }
}

/// The decoded frames of a video or an image, with their upright pictures on request.
public final class PictureSource {
    public let path: String
    public let reader: VideoReader
    public let converter: UprightConverter
    private let isJPEG: Bool

    /// - Parameters:
    ///   - libjpegCompatible: decode JPEG pictures exactly as libjpeg does.
    ///   - orientation: how to turn the pictures upright (nil: from the file's display matrix).
    public init(path: String, libjpegCompatible: Bool = false, orientation: Orientation? = nil) throws {
        self.path = path
        reader = try VideoReader(path: path, libjpegCompatible: libjpegCompatible)
        isJPEG = libjpegCompatible && reader.video.codecName == "mjpeg"
        converter = try UprightConverter(
            orientation: orientation ?? Orientation(displayRotationDegrees: reader.video.rotationDegrees),
            libjpegColour: isJPEG)
    }

    public var video: StreamInfo { reader.video }
    public var orientation: Orientation { converter.orientation }

    /// The upright RGB picture of a frame this source decoded.
    public func picture(_ frame: Frame) throws -> RGBImage { try converter.picture(frame) }

    /// A single baseline JPEG image decoded bit-exactly as libjpeg does (nil for anything else).
    /// - Throws: `JPEGError` for a baseline JPEG whose structure is broken.
    public func libjpegStill() throws -> RGBImage? {
        guard isJPEG, (reader.video.frameCount ?? 1) <= 1, let bytes = FileManager.default.contents(atPath: path) else { return nil }
        do { return try ImageFile.decodeBaselineJPEG([UInt8](bytes)) } catch {
            var e = error
            e.path = path
            throw e
        }
    }

    /// Calls `body` with each frame's index and the decoded frame, in presentation order, until it returns false or
    /// `isCancelled` does (then it throws `CancellationError`). Pictures are made only where `body` asks for
    /// them, so passes that skip frames pay no conversion.
    public func forEachFrame(isCancelled: () -> Bool = { false }, _ body: (Int, Frame) throws -> Bool) throws {
        try reader.forEachFrame { index, frame in
            if isCancelled() { throw CancellationError() }
            return try body(index, frame)
        }
    }
}
