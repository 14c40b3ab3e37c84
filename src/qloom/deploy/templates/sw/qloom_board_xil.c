/* qloom board layer on the Xilinx standalone BSP (Vitis): Zynq-7000, Zynq UltraScale+, MicroBlaze.
 *
 * Registers through Xil_In32/Xil_Out32, caches through Xil_DCacheFlushRange/InvalidateRange,
 * time from XTime_GetTime (the Cortex-A global timer) or, on MicroBlaze, from an AXI Timer
 * counting up (its 32-bit count is extended in software; reads are frequent enough).
 * xparameters.h names differ across Vitis releases; pass -DQLOOM_DMA_BASEADDR=... to override.
 */
#include "qloom_board.h"
#include "qloom_driver.h"

#include "xil_cache.h"
#include "xil_io.h"
#include "xparameters.h"

#ifndef QLOOM_DMA_BASEADDR
#if defined(XPAR_AXI_DMA_0_BASEADDR)
#define QLOOM_DMA_BASEADDR XPAR_AXI_DMA_0_BASEADDR
#elif defined(XPAR_AXIDMA_0_BASEADDR)
#define QLOOM_DMA_BASEADDR XPAR_AXIDMA_0_BASEADDR
#elif defined(XPAR_XAXIDMA_0_BASEADDR)
#define QLOOM_DMA_BASEADDR XPAR_XAXIDMA_0_BASEADDR
#else
#error "no AXI DMA in xparameters.h: add one to the design or pass -DQLOOM_DMA_BASEADDR=0x..."
#endif
#endif

#if defined(__MICROBLAZE__)
#ifndef QLOOM_TIMER_BASEADDR
#if defined(XPAR_AXI_TIMER_0_BASEADDR)
#define QLOOM_TIMER_BASEADDR XPAR_AXI_TIMER_0_BASEADDR
#define QLOOM_TIMER_HZ XPAR_AXI_TIMER_0_CLOCK_FREQ_HZ
#elif defined(XPAR_TMRCTR_0_BASEADDR)
#define QLOOM_TIMER_BASEADDR XPAR_TMRCTR_0_BASEADDR
#define QLOOM_TIMER_HZ XPAR_TMRCTR_0_CLOCK_FREQ_HZ
#elif defined(XPAR_XTMRCTR_0_BASEADDR)
#define QLOOM_TIMER_BASEADDR XPAR_XTMRCTR_0_BASEADDR
#define QLOOM_TIMER_HZ XPAR_XTMRCTR_0_CLOCK_FREQUENCY
#else
#error "MicroBlaze without an AXI Timer: add one or pass -DQLOOM_TIMER_BASEADDR=0x... -DQLOOM_TIMER_HZ=..."
#endif
#endif
/* AXI Timer (PG079) timer 0: TCSR0, TLR0, TCR0. */
#define QLOOM_TCSR0 0x00u
#define QLOOM_TLR0 0x04u
#define QLOOM_TCR0 0x08u
#define QLOOM_TCSR_LOAD 0x20u
#define QLOOM_TCSR_ARHT 0x10u
#define QLOOM_TCSR_ENT 0x80u
#else
#include "xtime_l.h"
#endif

/* DMA buffers. Zynq: a static pool in DDR (the DMA reaches DDR through an HP port).
 * MicroBlaze: the AXI BRAM `dma_mem_ctrl` of qloom's block design (the DMA cannot reach the
 * MicroBlaze's local memory). */
#if defined(__MICROBLAZE__)
#ifndef QLOOM_POOL_BASE
#if defined(XPAR_DMA_MEM_CTRL_S_AXI_BASEADDR)
#define QLOOM_POOL_BASE XPAR_DMA_MEM_CTRL_S_AXI_BASEADDR
#define QLOOM_POOL_BYTES (XPAR_DMA_MEM_CTRL_S_AXI_HIGHADDR - XPAR_DMA_MEM_CTRL_S_AXI_BASEADDR + 1u)
#elif defined(XPAR_DMA_MEM_CTRL_BASEADDR)
#define QLOOM_POOL_BASE XPAR_DMA_MEM_CTRL_BASEADDR
#define QLOOM_POOL_BYTES (XPAR_DMA_MEM_CTRL_HIGHADDR - XPAR_DMA_MEM_CTRL_BASEADDR + 1u)
#else
#error "no AXI BRAM dma_mem_ctrl in xparameters.h: pass -DQLOOM_POOL_BASE=0x... -DQLOOM_POOL_BYTES=..."
#endif
#endif
#define POOL ((uint8_t *)(uintptr_t)(QLOOM_POOL_BASE))
#else
#ifndef QLOOM_POOL_BYTES
#define QLOOM_POOL_BYTES QLOOM_DMA_POOL_BYTES
#endif
static uint8_t pool[QLOOM_POOL_BYTES] __attribute__((aligned(64)));
#define POOL pool
#endif
static size_t pool_used;

void qloom_board_init(void) {
    Xil_DCacheEnable();
#if defined(__MICROBLAZE__)
    Xil_Out32(QLOOM_TIMER_BASEADDR + QLOOM_TLR0, 0);
    Xil_Out32(QLOOM_TIMER_BASEADDR + QLOOM_TCSR0, QLOOM_TCSR_LOAD);
    Xil_Out32(QLOOM_TIMER_BASEADDR + QLOOM_TCSR0, QLOOM_TCSR_ENT | QLOOM_TCSR_ARHT);
#endif
}

uint32_t qloom_board_read32(uintptr_t addr) { return Xil_In32(addr); }

void qloom_board_write32(uintptr_t addr, uint32_t value) { Xil_Out32(addr, value); }

uintptr_t qloom_board_dma_base(void) { return (uintptr_t)QLOOM_DMA_BASEADDR; }

void *qloom_board_dma_alloc(size_t bytes) {
    size_t padded = (bytes + 63u) & ~(size_t)63u;
    void *p;
    if (padded > QLOOM_POOL_BYTES - pool_used) return NULL;
    p = POOL + pool_used;
    pool_used += padded;
    return p;
}

uint64_t qloom_board_dma_addr(const void *p) { return (uint64_t)(uintptr_t)p; }

void qloom_board_cache_flush(const void *p, size_t bytes) { Xil_DCacheFlushRange((INTPTR)p, bytes); }

void qloom_board_cache_invalidate(void *p, size_t bytes) { Xil_DCacheInvalidateRange((INTPTR)p, bytes); }

uint64_t qloom_board_time_us(void) {
#if defined(__MICROBLAZE__)
    static uint32_t last;
    static uint64_t high;
    uint32_t now = Xil_In32(QLOOM_TIMER_BASEADDR + QLOOM_TCR0);
    if (now < last) high += (uint64_t)1 << 32;
    last = now;
    return (high | now) / ((uint64_t)QLOOM_TIMER_HZ / 1000000u);
#else
    XTime t;
    XTime_GetTime(&t);
    return (uint64_t)t / ((uint64_t)COUNTS_PER_SECOND / 1000000u);
#endif
}
