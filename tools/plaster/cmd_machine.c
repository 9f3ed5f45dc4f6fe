/* cmd_machine.c - `plaster machine`: describe this machine and measure its peaks (cached). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *machine_help =
    "usage: plaster machine [--threads N,M,...] [--seconds S] [--refresh] [--json]\n"
    "\n"
    "Describes this machine (CPU model, vector extensions, memory, kernel, compiler) and\n"
    "measures its peaks per thread count: FP32 FMA GFLOP/s (independent FMA chains on the\n"
    "widest vector unit; 1 FMA = 2 FLOPs), INT8 dot-product GOP/s where the CPU has VNNI\n"
    "(vpdpbusd; 1 multiply-add = 2 ops), and memory GB/s (STREAM triad over 3 x 64 MiB,\n"
    "12 bytes per element). Each figure is the best of 3 runs of about S seconds.\n"
    "Results are cached in $XDG_CACHE_HOME/plaster (or ~/.cache/plaster) per CPU and reused;\n"
    "--refresh measures again. The roofline of `plaster info` and reports uses them.\n"
    "\n"
    "options:\n"
    "  --threads LIST   thread counts to measure (default: 1 and every logical CPU)\n"
    "  --seconds S      time per kernel and repetition (default 0.5)\n"
    "  --refresh        ignore the cache\n"
    "  --json           print JSON\n";

int cmd_machine(int argc, char **argv) {
    int threads[64], n_threads = 0;
    double seconds = 0.5;
    bool json = false, refresh = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(machine_help, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            cli_print_version();
            return 0;
        } else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--refresh")) refresh = true;
        else if (!strcmp(a, "--seconds") && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0 && seconds <= 10)) return cli_usage_error("machine", "--seconds must be in (0, 10]");
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            char *s = argv[++i], *end;
            while (*s && n_threads < 64) {
                long t = strtol(s, &end, 10);
                if (end == s || t < 1 || t > 4096) return cli_usage_error("machine", "--threads wants a list of counts in 1..4096");
                threads[n_threads++] = (int)t;
                s = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') return cli_usage_error("machine", "--threads wants a comma-separated list");
            }
        } else return cli_usage_error("machine", "unknown or incomplete option '%s'", a);
    }
    pl_machine_info m;
    pl_machine_describe(&m);
    if (n_threads == 0) {
        threads[n_threads++] = 1;
        if (m.logical_cpus > 1) threads[n_threads++] = m.logical_cpus;
    }
    pl_machine_peaks peaks[64];
    pl_peaks_provenance prov[64];
    for (int i = 0; i < n_threads; i++) {
        pl_status st = pl_machine_peaks_cached(threads[i], seconds, refresh, &peaks[i], &prov[i]);
        if (st != PL_OK) return cli_fail("machine", st);
        if (!json && !prov[i].from_cache) fprintf(stderr, "measured peaks with %d thread(s)\n", threads[i]);
    }
    const char *file = prov[0].cache_path;
    if (json) {
        printf("{\"cpu_model\": ");
        cli_json_string(stdout, m.cpu_model);
        printf(", \"logical_cpus\": %d, \"mem_bytes\": %lld, \"kernel\": ", m.logical_cpus, (long long)m.mem_bytes);
        cli_json_string(stdout, m.kernel);
        printf(", \"isa\": ");
        cli_json_string(stdout, m.isa);
        printf(", \"compiler\": ");
        cli_json_string(stdout, m.compiler);
        printf(", \"method\": \"best of 3 runs per kernel; FP32: FMA chains (1 FMA = 2 FLOPs); INT8: vpdpbusd (1 MAC = 2 ops); memory: STREAM triad, 12 bytes/element\", \"peaks\": [");
        for (int i = 0; i < n_threads; i++)
            printf("%s{\"threads\": %d, \"fp32_gflops\": %.3f, \"fp32_kernel\": \"%s\", \"int8_gops\": %.3f, \"mem_gbps\": %.3f, \"measured\": \"%s\", \"seconds_per_kernel\": %.3f, \"from_cache\": %s}",
                   i ? ", " : "", peaks[i].threads, peaks[i].fp32_gflops, peaks[i].fp32_kernel, peaks[i].int8_gops,
                   peaks[i].mem_gbps, prov[i].measured, prov[i].seconds_per_kernel, prov[i].from_cache ? "true" : "false");
        printf("], \"cache\": ");
        cli_json_string(stdout, file);
        printf("}\n");
        return 0;
    }
    printf("machine:   %s, %d logical CPUs, %.1f GiB memory\n", m.cpu_model[0] ? m.cpu_model : "(unknown CPU)",
           m.logical_cpus, (double)m.mem_bytes / (1024.0 * 1024 * 1024));
    printf("kernel:    %s\n", m.kernel);
    printf("isa:       %s\n", m.isa[0] ? m.isa : "(no vector extensions detected)");
    printf("compiler:  %s\n", m.compiler);
    printf("peaks (best of 3 runs per kernel; cache %s):\n", file);
    printf("  %-8s %-24s %-18s %-20s %s\n", "threads", "FP32 FMA (GFLOP/s)", "INT8 VNNI (GOP/s)", "memory triad (GB/s)", "measured (s per kernel)");
    for (int i = 0; i < n_threads; i++) {
        char fp[64], i8[64];
        snprintf(fp, sizeof fp, "%.1f (%s)", peaks[i].fp32_gflops, peaks[i].fp32_kernel);
        if (peaks[i].int8_gops > 0) snprintf(i8, sizeof i8, "%.1f", peaks[i].int8_gops);
        else snprintf(i8, sizeof i8, "n/a (no VNNI)");
        printf("  %-8d %-24s %-18s %-20.1f %s (%.2f)%s\n", peaks[i].threads, fp, i8, peaks[i].mem_gbps, prov[i].measured,
               prov[i].seconds_per_kernel, prov[i].from_cache ? ", cached" : "");
    }
    return 0;
}
