/* machine_cache.c - measured peaks kept per CPU in $XDG_CACHE_HOME/plaster/machine-peaks.txt
 * (or ~/.cache/plaster), so `plaster machine` and `plaster report` measure once and reuse. */
#include "machine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_ENTRIES 64

typedef struct entry {
    pl_machine_peaks p;
    char when[64];
    double seconds;
} entry;

static void cache_dir(char *buf, size_t n) {
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (x && x[0]) snprintf(buf, n, "%s/plaster", x);
    else snprintf(buf, n, "%s/.cache/plaster", home && home[0] ? home : "/tmp");
}

static void mkdirs(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

/* The cache key: CPU, ISA and CPU count (a different VM size measures again). */
static void cache_key(char *buf, size_t n) {
    pl_machine_info m;
    pl_machine_describe(&m);
    /* v2: the peak kernels keep their accumulators in registers (v1 measured a third of the FP32
     * and half of the INT8 peak), so v1 entries are measured again */
    snprintf(buf, n, "v2|%s|%s|%d", m.cpu_model, m.isa, m.logical_cpus);
}

static const char *kernel_name(const char *stored) {
    return !strcmp(stored, "avx512_fma") ? "avx512 fma" : !strcmp(stored, "avx2_fma") ? "avx2 fma" : "scalar";
}

/* Entries of the cache file when its key matches this machine. */
static int load_entries(const char *file, const char *key, entry *e) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char line[1024];
    int n = 0;
    if (fgets(line, sizeof line, f) && !strncmp(line, key, strlen(key)) && line[strlen(key)] == '\n') {
        while (n < MAX_ENTRIES && fgets(line, sizeof line, f)) {
            char kernel[32];
            entry *x = &e[n];
            if (sscanf(line, "%d %lf %lf %lf %31s %63s %lf", &x->p.threads, &x->p.fp32_gflops, &x->p.int8_gops,
                       &x->p.mem_gbps, kernel, x->when, &x->seconds) == 7) {
                x->p.fp32_kernel = kernel_name(kernel);
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

static void save_entries(const char *dir, const char *file, const char *key, const entry *e, int n) {
    mkdirs(dir);
    FILE *f = fopen(file, "w");
    if (!f) return; /* a cache we cannot write only costs a measurement next time */
    fprintf(f, "%s\n", key);
    for (int i = 0; i < n; i++) {
        char kernel[32];
        snprintf(kernel, sizeof kernel, "%s", e[i].p.fp32_kernel ? e[i].p.fp32_kernel : "scalar");
        for (char *c = kernel; *c; c++)
            if (*c == ' ') *c = '_';
        fprintf(f, "%d %.3f %.3f %.3f %s %s %.3f\n", e[i].p.threads, e[i].p.fp32_gflops, e[i].p.int8_gops,
                e[i].p.mem_gbps, kernel, e[i].when, e[i].seconds);
    }
    fclose(f);
}

pl_status pl_machine_peaks_cached(int threads, double seconds, int refresh, pl_machine_peaks *out,
                                  pl_peaks_provenance *prov) {
    memset(prov, 0, sizeof *prov);
    char dir[768], key[768];
    cache_dir(dir, sizeof dir);
    snprintf(prov->cache_path, sizeof prov->cache_path, "%s/machine-peaks.txt", dir);
    cache_key(key, sizeof key);
    entry e[MAX_ENTRIES];
    int n = load_entries(prov->cache_path, key, e), k = 0;
    while (k < n && e[k].p.threads != threads) k++;
    if (k < n && !refresh) {
        *out = e[k].p;
        snprintf(prov->measured, sizeof prov->measured, "%s", e[k].when);
        prov->seconds_per_kernel = e[k].seconds;
        prov->from_cache = 1;
        return PL_OK;
    }
    PL_TRY(pl_machine_measure(threads, seconds, out));
    time_t now = time(NULL);
    strftime(prov->measured, sizeof prov->measured, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    prov->seconds_per_kernel = seconds;
    if (k == n && n < MAX_ENTRIES) n++;
    if (k < n) {
        e[k].p = *out;
        snprintf(e[k].when, sizeof e[k].when, "%s", prov->measured);
        e[k].seconds = seconds;
        save_entries(dir, prov->cache_path, key, e, n);
    }
    return PL_OK;
}
