internal import CFFmpeg
import RateControl
import TensorCore

/// Encodes single pictures as intra frames and decodes them straight back, in memory: "what does this picture
/// look like after the codec at QP q?" One instance per picture size; not thread-safe (one per worker).
///
/// QP control uses the same mechanism as `Transcoder` (an anchor QP plus per-frame region offsets), so the QP
/// asked for is the QP the picture carries; `FrameQP.regions` encodes rectangles at their own QP.
public final class PictureCodec {
    public let width: Int
    public let height: Int
    public let codec: String
    private let encoder: VideoEncoder
    private let decoder: VideoDecoder
    private let input: Frame
    private let packet: Packet
    private let decoded: Frame
    private let scaler: Scaler
    private var pts: Int64 = 0

    /// - Parameter codec: libx264 or libx265 (the encoders that honour per-picture QP).
    public init(codec: String = "libx264", width: Int, height: Int, preset: String = "medium") throws {
        guard width >= 16, height >= 16, width % 2 == 0, height % 2 == 0 else {
            throw MediaError.pictureSizeUnsupported(codec: codec, width: width, height: height)
        }
        let decoderName: String
        switch codec {
        case "libx264": decoderName = "h264"
        case "libx265": decoderName = "hevc"
        default:
            throw MediaError.planUnsupported(codec: codec, reason: "per-picture QP needs libx264 or libx265")
        }
        self.width = width
        self.height = height
        self.codec = codec
        let settings = EncoderSettings(
            codec: codec, preset: preset, rateControl: .planned(anchorQP: 26), threads: 1,
            intraOnly: true)
        encoder = try VideoEncoder(
            settings: settings,
            geometry: VideoEncoder.Geometry(
                width: Int32(width), height: Int32(height), timeBase: AVRational(num: 1, den: 25),
                frameRate: AVRational(num: 25, den: 1), sampleAspectRatio: AVRational(num: 1, den: 1),
                colorRange: AVCOL_RANGE_MPEG, colorPrimaries: AVCOL_PRI_UNSPECIFIED, colorTransfer: AVCOL_TRC_UNSPECIFIED,
                colorSpace: AVCOL_SPC_UNSPECIFIED, chromaLocation: AVCHROMA_LOC_LEFT, globalHeader: false))
        decoder = try VideoDecoder(decoderName: decoderName, threads: 1)
        input = try Frame()
        input.pointer.pointee.width = Int32(width)
        input.pointer.pointee.height = Int32(height)
        input.pointer.pointee.format = AV_PIX_FMT_RGB24.rawValue
        try check(av_frame_get_buffer(input.pointer, 0), "av_frame_get_buffer")
        packet = try Packet()
        decoded = try Frame()
        scaler = try Scaler()
    }

    /// Encodes `image` as one intra picture at `qp` and returns the decoded picture and its coded size in bytes.
    public func roundTrip(_ image: RGBImage, qp: FrameQP) throws -> (image: RGBImage, bytes: Int) {
        precondition(image.width == width && image.height == height, "PictureCodec: image size differs from the codec's")
        let f = input.pointer
        try check(av_frame_make_writable(f), "av_frame_make_writable")
        let stride = Int(f.pointee.linesize.0)
        let dst = f.pointee.data.0!
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<height { (dst + y * stride).update(from: src.baseAddress! + y * width * 3, count: width * 3) }
        }
        try encoder.send(input, pts: pts, qp: qp)
        pts += 1
        var bytes = 0
        var result: RGBImage? = nil
        // Intra-only with no lookahead: the packet comes out at once; drain defensively all the same.
        while try encoder.receive(into: packet) == .produced {
            bytes += Int(packet.pointer.pointee.size)
            guard try decoder.send(packet) else {
                throw MediaError.decodeFailed(path: "<memory>", frame: Int(pts), reason: "decoder rejected the picture")
            }
            while true {
                decoded.unref()
                let step = try decoder.receive(into: decoded)
                guard step == .produced else { break }
                result = try scaler.rgb(decoded)
            }
        }
        if result == nil && bytes > 0 {
            // The decoder may keep a picture back until it knows the stream has no reordering: drain it and reset.
            try decoder.send(nil)
            while true {
                decoded.unref()
                guard try decoder.receive(into: decoded) == .produced else { break }
                result = try scaler.rgb(decoded)
            }
            decoder.reset()
        }
        guard let result else {
            throw MediaError.decodeFailed(
                path: "<memory>", frame: Int(pts), reason: bytes == 0 ? "the encoder held the picture back" : "the decoder returned no picture")
        }
        return (result, bytes)
    }
}
