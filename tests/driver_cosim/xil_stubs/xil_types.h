/* Declarations of the Xilinx standalone BSP functions qloom_board_xil.c uses, with the
 * signatures of the BSP headers, so the file can be compiled (-Wall -Werror) without Vitis. */
#ifndef XIL_TYPES_H
#define XIL_TYPES_H
#include <stdint.h>
typedef uint32_t u32;
typedef uint64_t u64;
typedef uintptr_t UINTPTR;
typedef intptr_t INTPTR;
#endif
