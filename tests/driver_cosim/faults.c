/* Fault injection for the driver co-simulation tests: one DMA transfer of a few frames with
 * a deliberate mistake (argv[1]), then the driver's status, decoded. Uses only the driver's
 * public API and the board layer, compiled with -Wall -Wextra -Werror like main.c. */
#include <stdio.h>
#include <string.h>

#include "qloom_board.h"
#include "qloom_driver.h"

#define N 4

static qloom_in_t elems[N * QLOOM_IN_ELEMS_PER_FRAME];
static uint8_t not_dma[N * QLOOM_IN_BYTES_PER_FRAME + N * QLOOM_OUT_BYTES_PER_FRAME] __attribute__((aligned(64)));

int main(int argc, char **argv) {
    static qloom_dev dev;
    const char *mode = argc > 1 ? argv[1] : "ok";
    const uint32_t in_bytes = N * QLOOM_IN_BYTES_PER_FRAME, out_bytes = N * QLOOM_OUT_BYTES_PER_FRAME;
    uint8_t *in, *out;
    char msg[512];
    int status;

    qloom_board_init();
    status = qloom_init(&dev, qloom_board_dma_base());
    in = (uint8_t *)qloom_board_dma_alloc(in_bytes);
    out = (uint8_t *)qloom_board_dma_alloc(out_bytes + 64);
    if (status == QLOOM_OK) {
        qloom_pack(elems, N, in);
        if (strcmp(mode, "short_mm2s") == 0) /* a frame's last word never sent */
            status = qloom_transfer(&dev, in, in_bytes - QLOOM_IN_WIDTH_BITS / 8, out, out_bytes, qloom_timeout_us(N));
        else if (strcmp(mode, "short_s2mm") == 0) /* S2MM buffer one frame too small */
            status = qloom_transfer(&dev, in, in_bytes, out, out_bytes - QLOOM_OUT_BYTES_PER_FRAME, qloom_timeout_us(N));
        else if (strcmp(mode, "decerr") == 0) /* output buffer the DMA cannot reach */
            status = qloom_transfer(&dev, in, in_bytes, not_dma, out_bytes, qloom_timeout_us(N));
        else if (strcmp(mode, "long_s2mm") == 0) /* a buffer larger than the packet: LENGTH reads what came */
            status = qloom_transfer(&dev, in, in_bytes, out, out_bytes + 64, qloom_timeout_us(N));
        else if (strcmp(mode, "zero") == 0)
            status = qloom_transfer(&dev, in, 0, out, out_bytes, qloom_timeout_us(N));
        else
            status = qloom_infer(&dev, in, out, N, qloom_timeout_us(N));
    }
    qloom_format_status(&dev, msg, sizeof msg);
    printf("%s\n", msg);
    printf("QLOOM_RESULT status=%d mm2s_sr=%lu s2mm_sr=%lu us=%lu bound=%lu s2mm_bytes=%lu\n", status,
           (unsigned long)dev.mm2s_sr, (unsigned long)dev.s2mm_sr, (unsigned long)dev.elapsed_us,
           (unsigned long)dev.timeout_us, (unsigned long)dev.s2mm_bytes);
    return 0;
}
