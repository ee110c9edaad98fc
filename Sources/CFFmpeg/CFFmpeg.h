#ifndef CFFMPEG_H
#define CFFMPEG_H

#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/frame.h>
#include <libavutil/opt.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libavutil/display.h>
#include <libavutil/video_enc_params.h>
#include <libswscale/swscale.h>
#include <errno.h>
#include <string.h>

// Swift cannot import function-like macros, FFERRTAG constants or compound literals;
// these static inline functions give them names Swift can call.

static inline int cffmpeg_averror(int posixError) { return AVERROR(posixError); }
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
static inline int cffmpeg_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int cffmpeg_averror_enomem(void) { return AVERROR(ENOMEM); }
static inline int cffmpeg_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int cffmpeg_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }
static inline int cffmpeg_averror_stream_not_found(void) { return AVERROR_STREAM_NOT_FOUND; }
static inline int64_t cffmpeg_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational cffmpeg_time_base_q(void) { return (AVRational){1, AV_TIME_BASE}; }

/// Formats an FFmpeg error code into `buffer`.
static inline void cffmpeg_strerror(int code, char *buffer, size_t length) {
    if (av_strerror(code, buffer, length) < 0) {
        snprintf(buffer, length, "FFmpeg error %d", code);
    }
}

/// Reads the frame-level quality (QP * FF_QP2LAMBDA) and picture type from AV_PKT_DATA_QUALITY_STATS.
/// Returns 0 when the packet has no such side data.
static inline int cffmpeg_packet_quality(const AVPacket *pkt, int *quality, int *pictType) {
    size_t size = 0;
    const uint8_t *data = av_packet_get_side_data(pkt, AV_PKT_DATA_QUALITY_STATS, &size);
    if (data == NULL || size < 5) return 0;
    uint32_t q;
    memcpy(&q, data, 4); // unaligned read; the layout is a native-endian uint32
    *quality = (int)q;
    *pictType = data[4];
    return 1;
}

/// Silences FFmpeg's own logging below `level` (variadic av_log is unavailable to Swift).
static inline void cffmpeg_set_log_level(int level) { av_log_set_level(level); }

#endif
