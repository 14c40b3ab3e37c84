/* qloom driver: AXI DMA (PG021, direct register mode) transfers of packed frames.
 *
 * Design numbers come from qloom_driver.h (generated from design.json); the board functions
 * from qloom_board.h. Every wait is bounded by the board's microsecond timer: a transfer that
 * never ends (no TLAST, a short MM2S length) returns QLOOM_ERR_TIMEOUT with both DMASRs.
 */
#include "qloom_driver.h"

#include <stdio.h>
#include <string.h>

#include "qloom_board.h"

/* Register offsets from the DMA base (PG021). */
#define MM2S_DMACR 0x00u
#define MM2S_DMASR 0x04u
#define MM2S_SA 0x18u
#define MM2S_SA_MSB 0x1Cu
#define MM2S_LENGTH 0x28u
#define S2MM_DMACR 0x30u
#define S2MM_DMASR 0x34u
#define S2MM_DA 0x48u
#define S2MM_DA_MSB 0x4Cu
#define S2MM_LENGTH 0x58u

#define CR_RS 0x1u
#define CR_RESET 0x4u
#define SR_HALTED 0x1u
#define SR_IDLE 0x2u
#define SR_INTERR 0x10u
#define SR_SLVERR 0x20u
#define SR_DECERR 0x40u
#define SR_IOC 0x1000u
#define SR_ERRIRQ 0x4000u
#define SR_ERRORS (SR_INTERR | SR_SLVERR | SR_DECERR)

#define RESET_TIMEOUT_US 1000u

static uint32_t rd(const qloom_dev *dev, uint32_t off) { return qloom_board_read32(dev->base + off); }

static void wr(const qloom_dev *dev, uint32_t off, uint32_t v) { qloom_board_write32(dev->base + off, v); }

static void snapshot(qloom_dev *dev) {
    dev->mm2s_sr = rd(dev, MM2S_DMASR);
    dev->s2mm_sr = rd(dev, S2MM_DMASR);
}

static int finish(qloom_dev *dev, int status) {
    dev->status = status;
    return status;
}

int qloom_init(qloom_dev *dev, uintptr_t dma_base) {
    uint64_t t0;
    memset(dev, 0, sizeof *dev);
    dev->base = dma_base;
    dev->timeout_us = RESET_TIMEOUT_US;
    wr(dev, MM2S_DMACR, CR_RESET); /* resets both channels */
    t0 = qloom_board_time_us();
    while (rd(dev, MM2S_DMACR) & CR_RESET) {
        if (qloom_board_time_us() - t0 > RESET_TIMEOUT_US) {
            snapshot(dev);
            return finish(dev, QLOOM_ERR_RESET);
        }
    }
    snapshot(dev);
    if (!(dev->mm2s_sr & SR_HALTED) || !(dev->s2mm_sr & SR_HALTED)) return finish(dev, QLOOM_ERR_RESET);
    wr(dev, S2MM_DMACR, CR_RS); /* no interrupts: the driver polls */
    wr(dev, MM2S_DMACR, CR_RS);
    t0 = qloom_board_time_us();
    for (;;) {
        snapshot(dev);
        if (!(dev->mm2s_sr & SR_HALTED) && !(dev->s2mm_sr & SR_HALTED)) break;
        if (qloom_board_time_us() - t0 > RESET_TIMEOUT_US) return finish(dev, QLOOM_ERR_HALTED);
    }
    return finish(dev, QLOOM_OK);
}

/* The element's code: two's complement in `bits` bits, bipolar -1/+1 as 0/1. */
static uint32_t encode(int32_t v, int bits, int bipolar) {
    if (bipolar) return v > 0 ? 1u : 0u;
    return (uint32_t)v & (uint32_t)((1ull << bits) - 1u);
}

static int32_t decode(uint32_t code, int bits, int is_signed, int bipolar) {
    code &= (uint32_t)((1ull << bits) - 1u);
    if (bipolar) return code ? 1 : -1;
    if (is_signed && (code >> (bits - 1)) & 1u) return (int32_t)((int64_t)code - ((int64_t)1 << bits));
    return (int32_t)code;
}

void qloom_pack(const qloom_in_t *elems, size_t frames, uint8_t *bytes) {
    size_t f;
    int i, b;
    memset(bytes, 0, frames * QLOOM_IN_BYTES_PER_FRAME); /* the last word's padding is zero */
    for (f = 0; f < frames; ++f) {
        uint8_t *frame = bytes + f * QLOOM_IN_BYTES_PER_FRAME;
        for (i = 0; i < QLOOM_IN_ELEMS_PER_FRAME; ++i) {
            /* element i: word i / k, bits from (i % k) * elem_bits, element 0 in the LSBs */
            uint32_t code = encode((int32_t)elems[f * QLOOM_IN_ELEMS_PER_FRAME + (size_t)i], QLOOM_IN_VALUE_BITS,
                                   QLOOM_IN_BIPOLAR);
            size_t bit = (size_t)(i / QLOOM_IN_ELEMS_PER_WORD) * QLOOM_IN_WIDTH_BITS +
                         (size_t)(i % QLOOM_IN_ELEMS_PER_WORD) * QLOOM_IN_ELEM_BITS;
            for (b = 0; b < QLOOM_IN_ELEM_BITS; ++b, ++bit)
                if ((code >> b) & 1u) frame[bit / 8] |= (uint8_t)(1u << (bit % 8));
        }
    }
}

void qloom_unpack(const uint8_t *bytes, size_t frames, int32_t *elems) {
    size_t f;
    int i, b;
    for (f = 0; f < frames; ++f) {
        const uint8_t *frame = bytes + f * QLOOM_OUT_BYTES_PER_FRAME;
        for (i = 0; i < QLOOM_OUT_ELEMS_PER_FRAME; ++i) {
            uint32_t code = 0;
            size_t bit = (size_t)(i / QLOOM_OUT_ELEMS_PER_WORD) * QLOOM_OUT_WIDTH_BITS +
                         (size_t)(i % QLOOM_OUT_ELEMS_PER_WORD) * QLOOM_OUT_ELEM_BITS;
            for (b = 0; b < QLOOM_OUT_ELEM_BITS; ++b, ++bit) code |= (uint32_t)((frame[bit / 8] >> (bit % 8)) & 1u) << b;
            elems[f * QLOOM_OUT_ELEMS_PER_FRAME + (size_t)i] =
                decode(code, QLOOM_OUT_VALUE_BITS, QLOOM_OUT_SIGNED, QLOOM_OUT_BIPOLAR);
        }
    }
}

int32_t qloom_predict(const int32_t *frame) {
#if QLOOM_OUT_LABELS
    return frame[0];
#elif QLOOM_OUT_AFFINE
    static const double scale[QLOOM_OUT_ELEMS_PER_FRAME] = QLOOM_OUT_SCALE;
    static const double bias[QLOOM_OUT_ELEMS_PER_FRAME] = QLOOM_OUT_BIAS;
    int32_t best = 0;
    int i;
    for (i = 1; i < QLOOM_OUT_ELEMS_PER_FRAME; ++i)
        if (frame[i] * scale[i] + bias[i] > frame[best] * scale[best] + bias[best]) best = i;
    return best;
#else
    int32_t best = 0;
    int i;
    for (i = 1; i < QLOOM_OUT_ELEMS_PER_FRAME; ++i)
        if (frame[i] > frame[best]) best = i; /* first maximum wins, as numpy.argmax */
    return best;
#endif
}

uint32_t qloom_timeout_us(size_t frames) {
    /* 4x the cycle model for the batch plus the pipeline fill, at the design's clock. */
    uint64_t cycles = 4u * ((uint64_t)frames + QLOOM_LAYERS + 2u) * QLOOM_FRAME_CYCLES;
    return (uint32_t)(1000u + cycles / (uint64_t)QLOOM_CLOCK_MHZ);
}

static int aligned(uint64_t addr, uint32_t width_bits) { return addr % (width_bits / 8u) == 0; }

int qloom_transfer(qloom_dev *dev, const void *src, uint32_t src_bytes, void *dst, uint32_t dst_bytes,
                   uint32_t timeout_us) {
    uint64_t sa = qloom_board_dma_addr(src), da = qloom_board_dma_addr(dst), t0;
    dev->want_bytes = dst_bytes;
    dev->s2mm_bytes = 0;
    dev->elapsed_us = 0;
    dev->timeout_us = timeout_us;
    snapshot(dev);
    /* No data realignment engine: buffers start on a stream word (PG021). */
    if (src_bytes == 0 || dst_bytes == 0 || src_bytes > QLOOM_DMA_MAX_BYTES || dst_bytes > QLOOM_DMA_MAX_BYTES ||
        !aligned(sa, QLOOM_IN_WIDTH_BITS) || !aligned(da, QLOOM_OUT_WIDTH_BITS))
        return finish(dev, QLOOM_ERR_ARG);
    if ((dev->mm2s_sr | dev->s2mm_sr) & SR_ERRORS) return finish(dev, QLOOM_ERR_DMA); /* needs qloom_init */
    if ((dev->mm2s_sr | dev->s2mm_sr) & SR_HALTED) return finish(dev, QLOOM_ERR_HALTED);
    qloom_board_cache_flush(src, src_bytes);
    qloom_board_cache_flush(dst, dst_bytes); /* no dirty line may be written back over the DMA's data */
    wr(dev, MM2S_DMASR, SR_IOC | SR_ERRIRQ);  /* write one to clear */
    wr(dev, S2MM_DMASR, SR_IOC | SR_ERRIRQ);
    /* S2MM first: it must be ready before the IP produces its first output word. */
    wr(dev, S2MM_DA, (uint32_t)da);
    if (da >> 32) wr(dev, S2MM_DA_MSB, (uint32_t)(da >> 32));
    wr(dev, S2MM_LENGTH, dst_bytes);
    wr(dev, MM2S_SA, (uint32_t)sa);
    if (sa >> 32) wr(dev, MM2S_SA_MSB, (uint32_t)(sa >> 32));
    t0 = qloom_board_time_us();
    wr(dev, MM2S_LENGTH, src_bytes);
    for (;;) {
        snapshot(dev);
        dev->elapsed_us = qloom_board_time_us() - t0;
        if ((dev->mm2s_sr | dev->s2mm_sr) & SR_ERRORS) return finish(dev, QLOOM_ERR_DMA);
        if ((dev->mm2s_sr | dev->s2mm_sr) & SR_HALTED) return finish(dev, QLOOM_ERR_HALTED);
        if ((dev->mm2s_sr & SR_IDLE) && (dev->s2mm_sr & SR_IDLE)) break;
        if (dev->elapsed_us > timeout_us) {
            dev->s2mm_bytes = 0;
            return finish(dev, QLOOM_ERR_TIMEOUT);
        }
    }
    dev->s2mm_bytes = rd(dev, S2MM_LENGTH);
    qloom_board_cache_invalidate(dst, dst_bytes);
    return finish(dev, QLOOM_OK);
}

int qloom_infer(qloom_dev *dev, const uint8_t *in, uint8_t *out, size_t frames, uint32_t timeout_us) {
    uint64_t in_bytes = (uint64_t)frames * QLOOM_IN_BYTES_PER_FRAME;
    uint64_t out_bytes = (uint64_t)frames * QLOOM_OUT_BYTES_PER_FRAME;
    if (frames == 0 || in_bytes > QLOOM_DMA_MAX_BYTES || out_bytes > QLOOM_DMA_MAX_BYTES) {
        dev->want_bytes = (uint32_t)out_bytes;
        return finish(dev, QLOOM_ERR_ARG);
    }
    if (qloom_transfer(dev, in, (uint32_t)in_bytes, out, (uint32_t)out_bytes, timeout_us) != QLOOM_OK)
        return dev->status;
    if (dev->s2mm_bytes != out_bytes) return finish(dev, QLOOM_ERR_SHORT);
    return QLOOM_OK;
}

const char *qloom_status_name(int status) {
    switch (status) {
        case QLOOM_OK: return "ok";
        case QLOOM_ERR_TIMEOUT: return "timeout";
        case QLOOM_ERR_DMA: return "DMA error";
        case QLOOM_ERR_HALTED: return "halted";
        case QLOOM_ERR_RESET: return "reset did not complete";
        case QLOOM_ERR_ARG: return "bad length or alignment";
        case QLOOM_ERR_SHORT: return "short output";
        default: return "unknown";
    }
}

static int format_sr(char *buf, size_t n, const char *name, uint32_t sr) {
    return snprintf(buf, n, "%s DMASR 0x%08lx (%s, %s%s%s%s%s)", name, (unsigned long)sr,
                    (sr & SR_HALTED) ? "halted" : "running", (sr & SR_IDLE) ? "idle" : "busy",
                    (sr & SR_INTERR) ? ", DMAIntErr" : "", (sr & SR_SLVERR) ? ", DMASlvErr" : "",
                    (sr & SR_DECERR) ? ", DMADecErr" : "", (sr & SR_IOC) ? ", IOC" : "");
}

int qloom_format_status(const qloom_dev *dev, char *buf, size_t n) {
    int len = 0;
    char mm2s[128], s2mm[128];
    format_sr(mm2s, sizeof mm2s, "MM2S", dev->mm2s_sr);
    format_sr(s2mm, sizeof s2mm, "S2MM", dev->s2mm_sr);
    if (dev->status == QLOOM_ERR_TIMEOUT)
        len = snprintf(buf, n, "timeout after %lu us (bound %lu us): %s, %s; no TLAST reached the S2MM channel",
                       (unsigned long)dev->elapsed_us, (unsigned long)dev->timeout_us, mm2s, s2mm);
    else if (dev->status == QLOOM_ERR_SHORT)
        len = snprintf(buf, n, "short output: S2MM received %lu of %lu bytes: %s, %s", (unsigned long)dev->s2mm_bytes,
                       (unsigned long)dev->want_bytes, mm2s, s2mm);
    else
        len = snprintf(buf, n, "%s: %s, %s", qloom_status_name(dev->status), mm2s, s2mm);
    return len;
}
