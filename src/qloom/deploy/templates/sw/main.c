/* qloom example: the embedded test images through the IP, checked against the IR.
 *
 * Prints the accuracy on the labels, the number of output frames that differ from the IR's
 * (qloom_data.h holds the IR's outputs: any difference is a bit-exactness failure on the
 * board) and the measured frames per second of the DMA transfers. Exit code 0 only when
 * every frame matched.
 */
#include <stdio.h>

#include "qloom_board.h"
#include "qloom_data.h"
#include "qloom_driver.h"

#define BATCH (QLOOM_DATA_FRAMES < QLOOM_MAX_BATCH ? QLOOM_DATA_FRAMES : QLOOM_MAX_BATCH)

static int32_t got[BATCH][QLOOM_OUT_ELEMS_PER_FRAME];

int main(void) {
    static qloom_dev dev;
    char msg[512];
    uint8_t *in, *out;
    long correct = 0, labelled = 0, mismatches = 0, first_bad = -1, done = 0;
    uint64_t us = 0;
    int status;

    qloom_board_init();
    status = qloom_init(&dev, qloom_board_dma_base());
    if (status != QLOOM_OK) {
        qloom_format_status(&dev, msg, sizeof msg);
        printf("qloom: DMA init failed: %s\n", msg);
        printf("QLOOM_RESULT frames=0 status=%d\n", status);
        return 1;
    }
    in = (uint8_t *)qloom_board_dma_alloc((size_t)BATCH * QLOOM_IN_BYTES_PER_FRAME);
    out = (uint8_t *)qloom_board_dma_alloc((size_t)BATCH * QLOOM_OUT_BYTES_PER_FRAME);
    if (in == NULL || out == NULL) {
        printf("qloom: no DMA memory for a batch of %d frames (QLOOM_DMA_POOL_BYTES)\n", (int)BATCH);
        return 1;
    }
    printf("qloom: %d frames in batches of %d, %d bytes in and %d bytes out per frame\n", (int)QLOOM_DATA_FRAMES,
           (int)BATCH, (int)QLOOM_IN_BYTES_PER_FRAME, (int)QLOOM_OUT_BYTES_PER_FRAME);
    while (done < QLOOM_DATA_FRAMES) {
        long n = QLOOM_DATA_FRAMES - done < BATCH ? QLOOM_DATA_FRAMES - done : BATCH, f;
        int e;
        qloom_pack(&qloom_images[done][0], (size_t)n, in);
        status = qloom_infer(&dev, in, out, (size_t)n, qloom_timeout_us((size_t)n));
        us += dev.elapsed_us;
        if (status != QLOOM_OK) {
            qloom_format_status(&dev, msg, sizeof msg);
            printf("qloom: batch at frame %ld failed: %s\n", done, msg);
            break;
        }
        qloom_unpack(out, (size_t)n, &got[0][0]);
        for (f = 0; f < n; ++f) {
            int differs = 0;
            for (e = 0; e < QLOOM_OUT_ELEMS_PER_FRAME; ++e) differs |= got[f][e] != qloom_expected[done + f][e];
            if (differs && first_bad < 0) first_bad = done + f;
            mismatches += differs;
            if (qloom_labels[done + f] >= 0) {
                ++labelled;
                correct += qloom_predict(got[f]) == qloom_labels[done + f];
            }
        }
        done += n;
    }
    printf("qloom: %ld frames, accuracy %.4f (%ld of %ld labelled), %ld outputs differ from the IR", done,
           labelled ? (double)correct / (double)labelled : 0.0, correct, labelled, mismatches);
    if (first_bad >= 0) printf(" (first: frame %ld)", first_bad);
    printf(", %.1f frames/s (%lu us in DMA transfers)\n", us ? (double)done * 1e6 / (double)us : 0.0,
           (unsigned long)us);
    printf("QLOOM_RESULT frames=%ld correct=%ld labelled=%ld mismatches=%ld us=%lu status=%d mm2s_sr=%lu s2mm_sr=%lu\n",
           done, correct, labelled, mismatches, (unsigned long)us, status, (unsigned long)dev.mm2s_sr,
           (unsigned long)dev.s2mm_sr);
    return status == QLOOM_OK && mismatches == 0 ? 0 : 1;
}
