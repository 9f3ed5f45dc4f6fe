/* machine.c - machine description and peak measurements (FMA, VNNI, memory bandwidth). */
#include "machine.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void pl_machine_describe(pl_machine_info *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10) && !out->cpu_model[0]) {
            char *c = strchr(line, ':');
            if (c) snprintf(out->cpu_model, sizeof out->cpu_model, "%s", c + 2);
            out->cpu_model[strcspn(out->cpu_model, "\n")] = 0;
        }
    }
    if (f) fclose(f);
    out->logical_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    out->mem_bytes = (int64_t)sysconf(_SC_PHYS_PAGES) * (int64_t)sysconf(_SC_PAGESIZE);
    struct utsname u;
    if (uname(&u) == 0) snprintf(out->kernel, sizeof out->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    __builtin_cpu_init();
    static const char *features[] = {"sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl",
                                     "avx512vnni", "avx512bf16", "avxvnni", "amx-tile", "amx-bf16", "amx-int8"};
    size_t used = 0;
    for (size_t i = 0; i < sizeof features / sizeof features[0]; i++) {
        int has = 0;
        /* __builtin_cpu_supports needs a literal; map through a switch of known names */
        switch (i) {
        case 0: has = __builtin_cpu_supports("sse4.2"); break;
        case 1: has = __builtin_cpu_supports("avx"); break;
        case 2: has = __builtin_cpu_supports("avx2"); break;
        case 3: has = __builtin_cpu_supports("fma"); break;
        case 4: has = __builtin_cpu_supports("avx512f"); break;
        case 5: has = __builtin_cpu_supports("avx512bw"); break;
        case 6: has = __builtin_cpu_supports("avx512vl"); break;
        case 7: has = __builtin_cpu_supports("avx512vnni"); break;
        case 8: has = __builtin_cpu_supports("avx512bf16"); break;
        default: break; /* AVX-VNNI and AMX: read from /proc/cpuinfo below */
        }
        if (i >= 9) {
            FILE *c = fopen("/proc/cpuinfo", "r");
            char flag[32];
            snprintf(flag, sizeof flag, " %s ", i == 9 ? "avx_vnni" : i == 10 ? "amx_tile" : i == 11 ? "amx_bf16" : "amx_int8");
            while (c && fgets(line, sizeof line, c) && !has) {
                line[strcspn(line, "\n")] = ' '; /* so the last flag ends with a space too */
                if (!strncmp(line, "flags", 5) && strstr(line, flag)) has = 1;
            }
            if (c) fclose(c);
        }
        if (has && used < sizeof out->isa)
            used += (size_t)snprintf(out->isa + used, sizeof out->isa - used, "%s%s", used ? " " : "", features[i]);
    }
#if defined(__clang__)
    snprintf(out->compiler, sizeof out->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(out->compiler, sizeof out->compiler, "gcc %d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#endif
}

/* ---- FMA peak: independent accumulator chains hide the FMA latency ---- */

/* The accumulators are named variables, not an array: at -O2 gcc keeps an array of vectors in
 * memory and each FMA then waits on a store and a load, which measured a third of the peak. */
#define FMA16(F, T)                                                                                \
    T a0 = F(0), a1 = F(1), a2 = F(2), a3 = F(3), a4 = F(4), a5 = F(5), a6 = F(6), a7 = F(7);      \
    T a8 = F(8), a9 = F(9), a10 = F(10), a11 = F(11), a12 = F(12), a13 = F(13), a14 = F(14),       \
      a15 = F(15)

__attribute__((target("avx512f"))) static double fma_avx512(int64_t iters) {
    __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
#define SET512(i) _mm512_set1_ps((float)(i))
    FMA16(SET512, __m512);
    for (int64_t n = 0; n < iters; n++) {
        a0 = _mm512_fmadd_ps(a0, m, c), a1 = _mm512_fmadd_ps(a1, m, c), a2 = _mm512_fmadd_ps(a2, m, c);
        a3 = _mm512_fmadd_ps(a3, m, c), a4 = _mm512_fmadd_ps(a4, m, c), a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c), a7 = _mm512_fmadd_ps(a7, m, c), a8 = _mm512_fmadd_ps(a8, m, c);
        a9 = _mm512_fmadd_ps(a9, m, c), a10 = _mm512_fmadd_ps(a10, m, c), a11 = _mm512_fmadd_ps(a11, m, c);
        a12 = _mm512_fmadd_ps(a12, m, c), a13 = _mm512_fmadd_ps(a13, m, c), a14 = _mm512_fmadd_ps(a14, m, c);
        a15 = _mm512_fmadd_ps(a15, m, c);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)),
                                       _mm512_add_ps(_mm512_add_ps(a12, a13), _mm512_add_ps(a14, a15))));
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * 16 * 16 * 2;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(int64_t iters) {
    __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#define SET256(i) _mm256_set1_ps((float)(i))
    FMA16(SET256, __m256);
    for (int64_t n = 0; n < iters; n++) {
        a0 = _mm256_fmadd_ps(a0, m, c), a1 = _mm256_fmadd_ps(a1, m, c), a2 = _mm256_fmadd_ps(a2, m, c);
        a3 = _mm256_fmadd_ps(a3, m, c), a4 = _mm256_fmadd_ps(a4, m, c), a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c), a7 = _mm256_fmadd_ps(a7, m, c), a8 = _mm256_fmadd_ps(a8, m, c);
        a9 = _mm256_fmadd_ps(a9, m, c), a10 = _mm256_fmadd_ps(a10, m, c), a11 = _mm256_fmadd_ps(a11, m, c);
    }
    (void)a12, (void)a13, (void)a14, (void)a15;
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    volatile float sink = out[0];
    (void)sink;
    return (double)iters * 12 * 8 * 2;
}

static double fma_scalar(int64_t iters) {
    float a[8];
    for (int i = 0; i < 8; i++) a[i] = (float)i;
    for (int64_t n = 0; n < iters; n++)
        for (int i = 0; i < 8; i++) a[i] = a[i] * 0.999999f + 1e-7f;
    volatile float sink = a[0] + a[7];
    (void)sink;
    return (double)iters * 8 * 2;
}

__attribute__((target("avx512f,avx512vnni"))) static double vnni_avx512(int64_t iters) {
    __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
#define SETI(i) _mm512_set1_epi32(i)
    FMA16(SETI, __m512i);
    for (int64_t n = 0; n < iters; n++) {
        a0 = _mm512_dpbusd_epi32(a0, x, y), a1 = _mm512_dpbusd_epi32(a1, x, y), a2 = _mm512_dpbusd_epi32(a2, x, y);
        a3 = _mm512_dpbusd_epi32(a3, x, y), a4 = _mm512_dpbusd_epi32(a4, x, y), a5 = _mm512_dpbusd_epi32(a5, x, y);
        a6 = _mm512_dpbusd_epi32(a6, x, y), a7 = _mm512_dpbusd_epi32(a7, x, y), a8 = _mm512_dpbusd_epi32(a8, x, y);
        a9 = _mm512_dpbusd_epi32(a9, x, y), a10 = _mm512_dpbusd_epi32(a10, x, y), a11 = _mm512_dpbusd_epi32(a11, x, y);
        a12 = _mm512_dpbusd_epi32(a12, x, y), a13 = _mm512_dpbusd_epi32(a13, x, y), a14 = _mm512_dpbusd_epi32(a14, x, y);
        a15 = _mm512_dpbusd_epi32(a15, x, y);
    }
    __m512i s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                 _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
    s = _mm512_add_epi32(s, _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)),
                                             _mm512_add_epi32(_mm512_add_epi32(a12, a13), _mm512_add_epi32(a14, a15))));
    uint32_t lanes[16], sum = 0; /* wrapping sum: the values are meaningless, only kept alive */
    _mm512_storeu_si512(lanes, s);
    for (int i = 0; i < 16; i++) sum += lanes[i];
    volatile uint32_t sink = sum;
    (void)sink;
    return (double)iters * 16 * 64 * 2;
}

typedef double (*kernel_fn)(int64_t);

/* Runs `k` on every thread for about `seconds`; returns operations per second, best of 3. */
static double rate(kernel_fn k, int threads, double seconds) {
    int64_t iters = 1 << 16;
    for (;;) { /* calibrate on one thread */
        double t0 = now_s();
        k(iters);
        double dt = now_s() - t0;
        if (dt > 0.02 || iters > (INT64_C(1) << 40)) {
            iters = (int64_t)((double)iters * seconds / (dt > 1e-9 ? dt : 1e-9));
            if (iters < 1) iters = 1;
            break;
        }
        iters *= 4;
    }
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double ops = 0, t0 = now_s();
#pragma omp parallel num_threads(threads) reduction(+ : ops)
        ops += k(iters);
        double r = ops / (now_s() - t0);
        if (r > best) best = r;
    }
    return best;
}

static double triad_gbps(int threads) {
    const size_t n = (64u << 20) / sizeof(float);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
#pragma omp parallel for num_threads(threads)
    for (size_t i = 0; i < n; i++) a[i] = 0, b[i] = 1, c[i] = 2;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
#pragma omp parallel for num_threads(threads)
        for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0f * c[i];
        double gbps = 3.0 * (double)n * sizeof(float) / (now_s() - t0) / 1e9;
        if (gbps > best) best = gbps;
    }
    volatile float sink = a[n / 2];
    (void)sink;
    free(a), free(b), free(c);
    return best;
}

pl_status pl_machine_measure(int threads, double seconds, pl_machine_peaks *out) {
    memset(out, 0, sizeof *out);
    if (threads < 1 || threads > 4096) return pl_err(PL_ERR_INVALID, "threads must be 1..4096, got %d", threads);
    if (!(seconds > 0 && seconds < 60)) return pl_err(PL_ERR_INVALID, "seconds per kernel must be in (0, 60)");
    __builtin_cpu_init();
    out->threads = threads;
    if (__builtin_cpu_supports("avx512f")) {
        out->fp32_gflops = rate(fma_avx512, threads, seconds) / 1e9;
        out->fp32_kernel = "avx512 fma";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        out->fp32_gflops = rate(fma_avx2, threads, seconds) / 1e9;
        out->fp32_kernel = "avx2 fma";
    } else {
        out->fp32_gflops = rate(fma_scalar, threads, seconds) / 1e9;
        out->fp32_kernel = "scalar";
    }
    if (__builtin_cpu_supports("avx512vnni")) out->int8_gops = rate(vnni_avx512, threads, seconds) / 1e9;
    out->mem_gbps = triad_gbps(threads);
    return PL_OK;
}
