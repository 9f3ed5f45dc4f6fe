/* machine.h - what this machine is (CPU, ISA, memory, kernel) and its measured peaks:
 * FP32 FMA GFLOP/s, INT8 dot-product GOP/s (VNNI), memory GB/s, per thread count. */
#ifndef PL_MACHINE_H
#define PL_MACHINE_H

#include "../core/core.h"

/* The types and functions are declared in plaster.h (pl_machine_info, pl_machine_peaks,
 * pl_machine_describe, pl_machine_measure). */

#endif
