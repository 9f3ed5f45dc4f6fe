/* machine.h - what this machine is (CPU, ISA, memory, kernel) and its measured peaks:
 * FP32 FMA GFLOP/s, INT8 dot-product GOP/s (VNNI), memory GB/s, per thread count. */
#ifndef PL_MACHINE_H
#define PL_MACHINE_H

#include "../core/core.h"

typedef struct pl_machine_info {
    char cpu_model[128];
    int logical_cpus;
    int64_t mem_bytes;
    char kernel[128];
    char isa[256];      /* the vector extensions plaster can use, space-separated */
    char compiler[64];
} pl_machine_info;

void pl_machine_describe(pl_machine_info *out);

typedef struct pl_machine_peaks {
    int threads;
    double fp32_gflops;     /* FMA throughput: 2 FLOPs per lane per FMA */
    const char *fp32_kernel;/* "avx512 fma", "avx2 fma", "scalar" */
    double int8_gops;       /* VNNI vpdpbusd: 2 ops per int8 multiply-add; 0 when no VNNI */
    double mem_gbps;        /* STREAM triad a = b + s*c over 3 x 64 MiB, 12 bytes per element */
} pl_machine_peaks;

/* Measures the peaks with `threads` OpenMP threads, each kernel for about `seconds`, keeping
 * the best of three repetitions. */
pl_status pl_machine_measure(int threads, double seconds, pl_machine_peaks *out);

#endif
