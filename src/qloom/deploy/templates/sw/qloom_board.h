/* qloom board layer: the only functions the driver needs from a board.
 *
 * qloom_board_xil.c implements them on the Xilinx standalone BSP (Zynq-7000, Zynq
 * UltraScale+, MicroBlaze); qloom verify --level driver links the same driver against a
 * co-simulation implementation whose register accesses reach a model of the AXI DMA.
 */
#ifndef QLOOM_BOARD_H
#define QLOOM_BOARD_H

#include <stddef.h>
#include <stdint.h>

void qloom_board_init(void);
uint32_t qloom_board_read32(uintptr_t addr);
void qloom_board_write32(uintptr_t addr, uint32_t value);
/* Base address of the AXI DMA's AXI-Lite registers. */
uintptr_t qloom_board_dma_base(void);
/* Memory the DMA can reach, 64-byte aligned and padded (cache lines), or NULL. */
void *qloom_board_dma_alloc(size_t bytes);
/* Address the DMA uses for a CPU pointer (identity on bare metal). */
uint64_t qloom_board_dma_addr(const void *p);
/* Write dirty lines back before the DMA reads memory; drop lines before the CPU reads what the DMA wrote. */
void qloom_board_cache_flush(const void *p, size_t bytes);
void qloom_board_cache_invalidate(void *p, size_t bytes);
/* Monotonic microseconds. */
uint64_t qloom_board_time_us(void);

#endif
