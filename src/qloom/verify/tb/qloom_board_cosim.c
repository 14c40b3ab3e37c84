/* qloom board layer for the driver co-simulation (qloom verify --level driver).
 *
 * Registers go to the AXI DMA model of the co-simulation library (qloom_cosim.h); each
 * access advances the simulated clock. DMA buffers are CPU-side copies of regions of the
 * simulated DDR, and the cache calls move bytes between the two exactly where a data
 * cache would: a missing flush leaves the DMA reading stale DDR, a missing invalidate
 * leaves the CPU reading its stale copy, and both show up as mismatches. A pointer that
 * did not come from qloom_board_dma_alloc maps to the first address past the DDR (as a
 * buffer in memory the DMA cannot reach: DMADecErr).
 * Options for the model come from the environment variable QLOOM_COSIM_OPTS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qloom_board.h"
#include "qloom_cosim.h"

#define DMA_BASE 0x40400000u /* Vivado's default address of the first AXI DMA on Zynq */
#define DMA_SPAN 0x10000u
#define MAX_REGIONS 32

struct region {
    uint8_t *cpu;
    uint64_t bus;
    size_t bytes;
};

static struct region regions[MAX_REGIONS];
static int nregions;
static uint64_t next_bus;

static void die(const char *what) {
    fflush(stdout);
    fprintf(stderr, "qloom co-sim: %s\n", what);
    qcs_close();
    exit(3);
}

static void check(void) {
    const char *e = qcs_error();
    if (e[0]) die(e);
}

void qloom_board_init(void) {
    const char *opts = getenv("QLOOM_COSIM_OPTS");
    if (qcs_open(opts ? opts : "") != 0) die(qcs_error());
    atexit(qcs_close);
    next_bus = qcs_ddr_base();
}

static uint32_t offset_of(uintptr_t addr, const char *what) {
    char msg[160];
    if (addr < DMA_BASE || addr >= DMA_BASE + DMA_SPAN || addr % 4) {
        snprintf(msg, sizeof msg, "bus error: %s of 0x%08lx, outside the AXI DMA's registers at 0x%08lx", what,
                 (unsigned long)addr, (unsigned long)DMA_BASE);
        die(msg);
    }
    return (uint32_t)(addr - DMA_BASE);
}

uint32_t qloom_board_read32(uintptr_t addr) {
    uint32_t v = qcs_reg_read(offset_of(addr, "read"));
    check();
    return v;
}

void qloom_board_write32(uintptr_t addr, uint32_t value) {
    qcs_reg_write(offset_of(addr, "write"), value);
    check();
}

uintptr_t qloom_board_dma_base(void) { return DMA_BASE; }

void *qloom_board_dma_alloc(size_t bytes) {
    size_t padded = (bytes + 63u) & ~(size_t)63u;
    uint8_t *cpu;
    if (nregions == MAX_REGIONS || next_bus + padded > qcs_ddr_base() + qcs_ddr_bytes()) return NULL;
    cpu = (uint8_t *)calloc(padded ? padded : 64u, 1);
    if (cpu == NULL) return NULL;
    regions[nregions].cpu = cpu;
    regions[nregions].bus = next_bus;
    regions[nregions].bytes = padded;
    ++nregions;
    next_bus += padded;
    return cpu;
}

static const struct region *find(const void *p) {
    int i;
    for (i = 0; i < nregions; ++i)
        if ((const uint8_t *)p >= regions[i].cpu && (const uint8_t *)p < regions[i].cpu + regions[i].bytes)
            return &regions[i];
    return NULL;
}

uint64_t qloom_board_dma_addr(const void *p) {
    const struct region *r = find(p);
    if (r == NULL) return qcs_ddr_base() + qcs_ddr_bytes();
    return r->bus + (uint64_t)((const uint8_t *)p - r->cpu);
}

/* The part of [p, p + bytes) inside its region (a range past the region's end is a driver bug). */
static size_t span(const struct region *r, const void *p, size_t bytes) {
    size_t off = (size_t)((const uint8_t *)p - r->cpu);
    return bytes < r->bytes - off ? bytes : r->bytes - off;
}

void qloom_board_cache_flush(const void *p, size_t bytes) {
    const struct region *r = find(p);
    if (r == NULL) return;
    memcpy(qcs_ddr() + (qloom_board_dma_addr(p) - qcs_ddr_base()), p, span(r, p, bytes));
}

void qloom_board_cache_invalidate(void *p, size_t bytes) {
    const struct region *r = find(p);
    if (r == NULL) return;
    memcpy(p, qcs_ddr() + (qloom_board_dma_addr(p) - qcs_ddr_base()), span(r, p, bytes));
}

uint64_t qloom_board_time_us(void) {
    qcs_step(4); /* reading the timer takes a few clocks too: a loop on it alone still advances */
    check();
    return (uint64_t)((double)qcs_cycles() / qcs_clock_mhz());
}
