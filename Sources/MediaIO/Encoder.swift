internal import CFFmpeg
import RateControl

/// Per-frame statistics an encoder reports about its own output.
public struct EncodedFrameStats: Sendable, Equatable, Codable {
    /// Presentation timestamp in the encoder's time base.
    public var pts: Int64
    /// Coded size in bytes.
    public var bytes: Int
    /// Picture type letter from the encoder (I, P, B, ...), or "?".
    public var pictureType: String
    /// The frame-level QP the encoder reports in `AV_PKT_DATA_QUALITY_STATS` (before per-block offsets), if any.
    public var encoderQP: Double?
}

/// Encodes video frames with one FFmpeg encoder. Owns one `AVCodecContext`.
///
/// Frame-accurate QP: for `.planned` the encoder is opened in a near-constant-QP mode that keeps adaptive
/// quantisation switched on (x264: `crf=anchor`, `aq-mode=variance`, `aq-strength=0.01`,
/// `qcomp=1:ipratio=1:pbratio=1`), because x264 and x265 silently ignore regions of interest in CQP mode. Each
/// frame then carries `AV_FRAME_DATA_REGIONS_OF_INTEREST`: the rectangles first (the first region wins on overlap),
/// each at `(qp - anchor)/51`, then one full-frame region at `(frameQP - anchor)/51`. x264 applies these offsets to
/// exactly the frame they are attached to, whereas changing `crf` mid-stream lands 2–5 frames early.
///
/// - Note: Not thread-safe; do not share between tasks.
final class VideoEncoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    let family: CodecFamily?
    let settings: EncoderSettings
    private let inputFrame: Frame
    private let scaler: Scaler

    /// Names of the supported encoders present in this FFmpeg build.
    static func availableEncoders() -> [String] {
        CodecFamily.allCases.map(\.rawValue).filter { avcodec_find_encoder_by_name($0) != nil }
    }

    struct Geometry {
        var width: Int32
        var height: Int32
        var timeBase: AVRational
        var frameRate: AVRational
        var sampleAspectRatio: AVRational
        var colorRange: AVColorRange
        var colorPrimaries: AVColorPrimaries
        var colorTransfer: AVColorTransferCharacteristic
        var colorSpace: AVColorSpace
        var chromaLocation: AVChromaLocation
        var globalHeader: Bool
    }

    init(settings: EncoderSettings, geometry g: Geometry) throws {
        guard let family = CodecFamily(rawValue: settings.codec),
            let codec = avcodec_find_encoder_by_name(settings.codec)
        else {
            throw MediaError.unknownEncoder(name: settings.codec, available: VideoEncoder.availableEncoders())
        }
        switch settings.rateControl {
        case .planned(let anchor):
            if let why = family.planLimitation { throw MediaError.planUnsupported(codec: family.rawValue, reason: why) }
            guard (0...51).contains(anchor) else {
                throw MediaError.rateOutOfRange(codec: family.rawValue, reason: "anchor QP \(anchor) is outside 0…51")
            }
        case .qp(let q):
            guard family.qpRange.contains(q) else {
                throw MediaError.rateOutOfRange(
                    codec: family.rawValue, reason: "QP \(q) is outside \(family.qpRange.lowerBound)…\(family.qpRange.upperBound)")
            }
        case .crf(let c):
            guard c >= 0, c <= Double(family.qpRange.upperBound) else {
                throw MediaError.rateOutOfRange(codec: family.rawValue, reason: "CRF \(c) is outside 0…\(family.qpRange.upperBound)")
            }
        }
        guard let ctx = avcodec_alloc_context3(codec) else { throw FFmpegError.outOfMemory }
        var owned: UnsafeMutablePointer<AVCodecContext>? = ctx
        do {
            ctx.pointee.width = g.width
            ctx.pointee.height = g.height
            ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            ctx.pointee.time_base = g.timeBase
            ctx.pointee.framerate = g.frameRate
            ctx.pointee.sample_aspect_ratio = g.sampleAspectRatio
            ctx.pointee.color_range = g.colorRange
            ctx.pointee.color_primaries = g.colorPrimaries
            ctx.pointee.color_trc = g.colorTransfer
            ctx.pointee.colorspace = g.colorSpace
            ctx.pointee.chroma_sample_location = g.chromaLocation
            ctx.pointee.thread_count = Int32(settings.threads)
            if let gop = settings.gopSize { ctx.pointee.gop_size = Int32(gop) }
            if g.globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
            var options: OpaquePointer? = nil
            defer { av_dict_free(&options) }
            for (k, v) in VideoEncoder.options(family: family, settings: settings) {
                av_dict_set(&options, k, v, 0)
                if k == "b" { ctx.pointee.bit_rate = 0 }
            }
            try check(avcodec_open2(ctx, codec, &options), "avcodec_open2")
            if let leftover = av_dict_get(options, "", nil, AV_DICT_IGNORE_SUFFIX) {
                let key = String(cString: leftover.pointee.key)
                throw MediaError.encoderOptionRejected(codec: family.rawValue, option: key)
            }
        } catch {
            avcodec_free_context(&owned)
            throw error
        }
        context = ctx
        self.family = family
        self.settings = settings
        inputFrame = try Frame()
        inputFrame.pointer.pointee.width = g.width
        inputFrame.pointer.pointee.height = g.height
        inputFrame.pointer.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        scaler = try Scaler()
    }

    deinit {
        var c: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&c)
    }

    /// The encoder options for each mode. Kept in one place because the combination decides whether
    /// regions are honoured at all (see ffmpeg-notes §2: CQP and `aq-strength 0` silently drop them).
    static func options(family: CodecFamily, settings: EncoderSettings) -> [(String, String)] {
        var o: [(String, String)] = []
        if let p = settings.preset, family != .vp9 { o.append(("preset", p)) }
        switch (family, settings.rateControl) {
        case (.x264, .crf(let c)), (.x265, .crf(let c)), (.svtav1, .crf(let c)):
            o.append(("crf", fmt(c)))
        case (.vp9, .crf(let c)):
            o.append(("crf", fmt(c)))
            o.append(("b", "0"))
        case (.x264, .qp(let q)), (.x264, .planned(let q)):
            o.append(("crf", String(q)))
            o.append(("aq-mode", "variance"))
            o.append(("aq-strength", "0.01"))
            o.append(("x264-params", "qcomp=1:ipratio=1:pbratio=1"))
        case (.x265, .qp(let q)), (.x265, .planned(let q)):
            // ctu=32:rskip=0: with 64×64 CTUs and recursion skip, x265 decides a CTU is skipped from its first
            // evaluation and never looks at the smaller CUs inside, so a face region smaller than a CTU on a coarse
            // background lost its low QP in inter frames (a 96×96 region at QP 10 on QP 40 fell from 50 to 44 dB
            // PSNR after a few P frames; encode then left 53 of 90 sample face-frames over τ at the floor QP).
            o.append(("crf", String(q)))
            let rate = "aq-mode=1:aq-strength=0.01:qcomp=1:ipratio=1:pbratio=1:cutree=0"
            o.append(("x265-params", "\(rate):ctu=\(x265QuantisationGroup):rskip=0:log-level=error"))
        case (.vp9, .qp(let q)):
            o.append(("qmin", String(q)))
            o.append(("qmax", String(q)))
            o.append(("b", "0"))
            o.append(("crf", String(q)))
        case (.svtav1, .qp(let q)):
            o.append(("qp", String(q)))
        case (.vp9, .planned), (.svtav1, .planned):
            break  // rejected in init
        }
        if family == .x265, case .crf = settings.rateControl { o.append(("x265-params", "log-level=error")) }
        if settings.intraOnly {
            // Merge into the codec's params string: a second "x264-params" entry would replace the first.
            let extra: [CodecFamily: String] = [
                .x264: "keyint=1:bframes=0:rc-lookahead=0:sync-lookahead=0",
                .x265: "keyint=1:bframes=0:rc-lookahead=0",
            ]
            if let e = extra[family] {
                let key = family == .x264 ? "x264-params" : "x265-params"
                if let i = o.firstIndex(where: { $0.0 == key }) { o[i].1 += ":" + e } else { o.append((key, e)) }
            }
            if family == .vp9 || family == .svtav1 { o.append(("g", "1")) }
            if family == .x264 || family == .x265 { o.append(("tune", "zerolatency")) }
        }
        return o
    }

    private static func fmt(_ v: Double) -> String {
        v == v.rounded() ? String(Int(v)) : String(v)
    }

    /// Encodes one frame (converted to the encoder's size and pixel format), or starts draining with `nil`.
    /// - Parameter qp: required for `.planned`, ignored otherwise.
    /// The corresponding C function is `avcodec_send_frame`.
    func send(_ frame: Frame?, pts: Int64, qp: FrameQP?) throws {
        guard let frame else {
            let status = avcodec_send_frame(context, nil)
            if status != cffmpeg_averror_eof() { try check(status, "avcodec_send_frame") }
            return
        }
        let input = inputFrame.pointer
        // The encoder may still hold a reference to the previous buffer; make ours writable (drops old ROI too).
        av_frame_remove_side_data(input, AV_FRAME_DATA_REGIONS_OF_INTEREST)
        try scaler.convert(frame, into: inputFrame)
        input.pointee.pts = pts
        input.pointee.pict_type = AV_PICTURE_TYPE_NONE
        input.pointee.sample_aspect_ratio = context.pointee.sample_aspect_ratio
        if case .planned(let anchor) = settings.rateControl {
            guard let qp else { preconditionFailure("planned encoding needs a FrameQP for every frame") }
            try attachRegions(qp, anchor: anchor, to: input)
        }
        try check(avcodec_send_frame(context, input), "avcodec_send_frame")
    }

    /// x265's CTU and quantisation group size in planned mode (`ctu` in `options`), in luma pixels; `attachRegions`
    /// grows regions to it.
    static let x265QuantisationGroup = 32

    private func attachRegions(_ qp: FrameQP, anchor: Int, to frame: UnsafeMutablePointer<AVFrame>) throws {
        let w = Int(context.pointee.width), h = Int(context.pointee.height)
        var regions: [AVRegionOfInterest] = []
        let size = UInt32(MemoryLayout<AVRegionOfInterest>.stride)
        // x265 codes one QP per quantisation group (32×32 with `ctu=32`), the mean of its 16×16 blocks' offsets
        // when a coding unit spans the group: a region covering part of a group got a QP between its own and the
        // background's (a 16×16 region planned at 10 on 40 was coded like QP 32; QPControlTests). Its regions
        // grow to whole groups. Smaller groups (`qg-size=16`) do not help: the encoder then picks 32×32 units
        // at the averaged QP, and 16×16 CTUs cost a QP-40 background 31% more bytes (docs/video-jnd.md).
        let grid = family == .x265 ? VideoEncoder.x265QuantisationGroup : 1
        for r in qp.regions {
            guard (0...51).contains(r.qp) else { throw MediaError.invalidRegion("QP \(r.qp) outside 0…51") }
            let left = max(0, r.x / grid * grid), top = max(0, r.y / grid * grid)
            let right = min(w, (r.x + r.width + grid - 1) / grid * grid), bottom = min(h, (r.y + r.height + grid - 1) / grid * grid)
            guard right > left, bottom > top else { continue }  // entirely outside the picture: nothing to do
            regions.append(
                AVRegionOfInterest(
                    self_size: size, top: Int32(top), bottom: Int32(bottom), left: Int32(left), right: Int32(right),
                    qoffset: AVRational(num: Int32(r.qp - anchor), den: 51)))
        }
        guard (0...51).contains(qp.qp) else { throw MediaError.invalidRegion("frame QP \(qp.qp) outside 0…51") }
        // Always attach the full-frame entry, even at offset 0: x265 recycles its frame objects and allocates the
        // per-block offset buffer only for frames created with offsets, so a frame without them crashes it later.
        do {
            regions.append(
                AVRegionOfInterest(
                    self_size: size, top: 0, bottom: Int32(h), left: 0, right: Int32(w),
                    qoffset: AVRational(num: Int32(qp.qp - anchor), den: 51)))
        }
        let bytes = regions.count * Int(size)
        guard let sd = av_frame_new_side_data(frame, AV_FRAME_DATA_REGIONS_OF_INTEREST, bytes) else {
            throw FFmpegError.outOfMemory
        }
        regions.withUnsafeBytes { src in
            UnsafeMutableRawPointer(sd.pointee.data!).copyMemory(from: src.baseAddress!, byteCount: bytes)
        }
    }

    /// Receives the next packet.
    /// The corresponding C function is `avcodec_receive_packet`.
    func receive(into packet: Packet) throws -> CodecStep {
        packet.unref()
        let status = avcodec_receive_packet(context, packet.pointer)
        if status == cffmpeg_averror_eagain() { return .needsInput }
        if status == cffmpeg_averror_eof() { return .endOfStream }
        try check(status, "avcodec_receive_packet")
        return .produced
    }

    /// The statistics of a packet this encoder produced.
    static func stats(of packet: Packet) -> EncodedFrameStats {
        var quality: Int32 = 0, pict: Int32 = 0
        var qp: Double? = nil
        var type = "?"
        if cffmpeg_packet_quality(packet.pointer, &quality, &pict) != 0 {
            qp = Double(quality) / Double(FF_QP2LAMBDA)
            let c = av_get_picture_type_char(AVPictureType(rawValue: UInt32(pict)))
            type = String(UnicodeScalar(UInt8(bitPattern: c)))
        }
        return EncodedFrameStats(
            pts: packet.pointer.pointee.pts, bytes: Int(packet.pointer.pointee.size),
            pictureType: type, encoderQP: qp)
    }
}
