internal import CFFmpeg
import Foundation
import TensorCore

extension ImageFile {
    /// Pixel layouts a PNG can be written in.
    public enum PNGLayout: Sendable {
        case rgb
        case gray
        case rgba
        /// 16 bits per channel (each 8-bit value v stored as v·257).
        case rgb16
    }

    /// Writes 16-bit RGB samples (interleaved R, G, B per pixel) as a lossless 48-bit PNG, atomically.
    public static func writePNG16(width: Int, height: Int, samples: [UInt16], to path: String) throws {
        precondition(samples.count == width * height * 3, "writePNG16: sample count does not match size")
        try encodePNG(width: width, height: height, format: AV_PIX_FMT_RGB48BE, to: path) { dst, stride in
            for y in 0..<height {
                for x in 0..<width * 3 {
                    let v = samples[y * width * 3 + x]
                    dst[y * stride + 2 * x] = UInt8(v >> 8)
                    dst[y * stride + 2 * x + 1] = UInt8(v & 0xFF)
                }
            }
        }
    }

    /// Reads a 48-bit RGB PNG back as 16-bit samples (exact).
    public static func loadRGB16(path: String) throws -> (width: Int, height: Int, samples: [UInt16]) {
        let reader = try VideoReader(path: path)
        guard let frame = try reader.next() else {
            throw MediaError.decodeFailed(path: path, frame: 0, reason: "no picture could be decoded")
        }
        let f = frame.pointer
        guard AVPixelFormat(rawValue: f.pointee.format) == AV_PIX_FMT_RGB48BE else {
            throw MediaError.decodeFailed(path: path, frame: 0, reason: "not a 48-bit RGB PNG")
        }
        let w = frame.width, h = frame.height, stride = Int(f.pointee.linesize.0)
        let src = f.pointee.data.0!
        var out = [UInt16](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in 0..<w * 3 { out[y * w * 3 + x] = UInt16(src[y * stride + 2 * x]) << 8 | UInt16(src[y * stride + 2 * x + 1]) } }
        return (w, h, out)
    }

    private static func encodePNG(
        width: Int, height: Int, format: AVPixelFormat, to path: String,
        fill: (UnsafeMutablePointer<UInt8>, Int) -> Void
    ) throws {
        try AtomicWrite.write(try encodePNG(width: width, height: height, format: format, fill: fill), to: path)
    }

    /// An RGB picture as PNG file bytes (for pictures inlined in HTML).
    public static func pngData(_ image: RGBImage) throws -> Data {
        try encodePNG(width: image.width, height: image.height, format: AV_PIX_FMT_RGB24) { dst, stride in
            image.pixels.withUnsafeBufferPointer { p in
                for y in 0..<image.height { (dst + y * stride).update(from: p.baseAddress! + y * image.width * 3, count: image.width * 3) }
            }
        }
    }

    private static func encodePNG(
        width: Int, height: Int, format: AVPixelFormat, fill: (UnsafeMutablePointer<UInt8>, Int) -> Void
    ) throws -> Data {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw MediaError.unknownEncoder(name: "png", available: [])
        }
        guard let ctx = avcodec_alloc_context3(codec) else { throw FFmpegError.outOfMemory }
        var owned: UnsafeMutablePointer<AVCodecContext>? = ctx
        defer { avcodec_free_context(&owned) }
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = format
        ctx.pointee.time_base = AVRational(num: 1, den: 1)
        try check(avcodec_open2(ctx, codec, nil), "avcodec_open2")
        let frame = try Frame()
        let f = frame.pointer
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        f.pointee.format = format.rawValue
        try check(av_frame_get_buffer(f, 0), "av_frame_get_buffer")
        fill(f.pointee.data.0!, Int(f.pointee.linesize.0))
        try check(avcodec_send_frame(ctx, f), "avcodec_send_frame")
        let packet = try Packet()
        try check(avcodec_receive_packet(ctx, packet.pointer), "avcodec_receive_packet")
        return Data(bytes: packet.pointer.pointee.data, count: Int(packet.pointer.pointee.size))
    }

    /// Writes `image` as a PNG through FFmpeg's encoder, atomically (temporary file, then rename).
    public static func writePNG(_ image: RGBImage, to path: String, layout: PNGLayout = .rgb) throws {
        let format: AVPixelFormat
        switch layout {
        case .rgb: format = AV_PIX_FMT_RGB24
        case .gray: format = AV_PIX_FMT_GRAY8
        case .rgba: format = AV_PIX_FMT_RGBA
        case .rgb16: format = AV_PIX_FMT_RGB48BE
        }
        try encodePNG(width: image.width, height: image.height, format: format, to: path) { dst, stride in
            for y in 0..<image.height {
                for x in 0..<image.width {
                    let s = (y * image.width + x) * 3
                    let r = image.pixels[s], g = image.pixels[s + 1], b = image.pixels[s + 2]
                    switch layout {
                    case .rgb: (dst + y * stride + x * 3).update(from: [r, g, b], count: 3)
                    case .gray: dst[y * stride + x] = UInt8((Int(r) * 77 + Int(g) * 150 + Int(b) * 29) >> 8)
                    case .rgba: (dst + y * stride + x * 4).update(from: [r, g, b, 255], count: 4)
                    case .rgb16: (dst + y * stride + x * 6).update(from: [r, r, g, g, b, b], count: 6)
                    }
                }
            }
        }
    }

}
