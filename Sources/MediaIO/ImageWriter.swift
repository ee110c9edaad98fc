internal import CFFmpeg
import Foundation

extension ImageFile {
    /// Pixel layouts a PNG can be written in.
    public enum PNGLayout: Sendable {
        case rgb
        case gray
        case rgba
        /// 16 bits per channel (each 8-bit value v stored as v·257).
        case rgb16
    }

    /// Writes `image` as a PNG through FFmpeg's encoder, atomically (temporary file, then rename).
    public static func writePNG(_ image: RGBImage, to path: String, layout: PNGLayout = .rgb) throws {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_PNG) else {
            throw MediaError.unknownEncoder(name: "png", available: [])
        }
        guard let ctx = avcodec_alloc_context3(codec) else { throw FFmpegError.outOfMemory }
        var owned: UnsafeMutablePointer<AVCodecContext>? = ctx
        defer { avcodec_free_context(&owned) }
        let format: AVPixelFormat
        switch layout {
        case .rgb: format = AV_PIX_FMT_RGB24
        case .gray: format = AV_PIX_FMT_GRAY8
        case .rgba: format = AV_PIX_FMT_RGBA
        case .rgb16: format = AV_PIX_FMT_RGB48BE
        }
        ctx.pointee.width = Int32(image.width)
        ctx.pointee.height = Int32(image.height)
        ctx.pointee.pix_fmt = format
        ctx.pointee.time_base = AVRational(num: 1, den: 1)
        try check(avcodec_open2(ctx, codec, nil), "avcodec_open2")
        let frame = try Frame()
        let f = frame.pointer
        f.pointee.width = Int32(image.width)
        f.pointee.height = Int32(image.height)
        f.pointee.format = format.rawValue
        try check(av_frame_get_buffer(f, 0), "av_frame_get_buffer")
        let stride = Int(f.pointee.linesize.0)
        let dst = f.pointee.data.0!
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
        try check(avcodec_send_frame(ctx, f), "avcodec_send_frame")
        let packet = try Packet()
        try check(avcodec_receive_packet(ctx, packet.pointer), "avcodec_receive_packet")
        let data = Data(bytes: packet.pointer.pointee.data, count: Int(packet.pointer.pointee.size))
        let url = URL(fileURLWithPath: path)
        do { try data.write(to: url, options: .atomic) } catch {
            throw MediaError.outputNotWritable(path: path, reason: error.localizedDescription)
        }
    }
}
