/* qloom driver co-simulation: C API of the simulated board (AXI DMA + DDR + the stitched IP).
 *
 * One process holds one simulated board (Verilator allows one model per context; one is all
 * a driver needs). The C driver reaches it through its co-simulation board layer, the PYNQ
 * stand-in through ctypes: the same library serves both drivers.
 *
 * Register offsets are those of the AXI DMA (PG021, direct register mode) relative to its
 * base. Every register access advances the simulation by `access_cycles`, so a polling loop
 * makes progress; a watchdog stops the run when nothing moves for `watchdog_cycles`.
 */
#ifndef QLOOM_COSIM_H
#define QLOOM_COSIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* opts: comma-separated key=value (see dma_cosim.cpp for keys and defaults). 0 on success. */
int qcs_open(const char *opts);
/* Writes DUMP_DIR/{stats.json,mm2s.bin,s2mm.bin} when dump_dir was given; idempotent. */
void qcs_close(void);

uint32_t qcs_reg_read(uint32_t offset);
void qcs_reg_write(uint32_t offset, uint32_t value);

uint8_t *qcs_ddr(void);      /* host pointer to the simulated DDR */
uint64_t qcs_ddr_base(void); /* bus address of its first byte */
uint64_t qcs_ddr_bytes(void);

/* Advance `cycles` clocks; returns 0, or 3 once the watchdog has fired (then see qcs_error). */
int qcs_step(uint64_t cycles);
uint64_t qcs_cycles(void);
double qcs_clock_mhz(void);
/* "" while healthy; otherwise why the co-simulation must end (watchdog, bad option, bus error). */
const char *qcs_error(void);

#ifdef __cplusplus
}
#endif
#endif
