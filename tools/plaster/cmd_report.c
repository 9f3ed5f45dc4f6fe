/* cmd_report.c - `plaster report`: measure what applies and write the PLASTER report. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *report_help =
    "usage: plaster report MODEL|PLAN [--dataset D] [--limit N] [-o DIR] [--threads N] [--batch N]\n"
    "                      [--backend B] [--duration S] [--sla-ms MS] [--no-server] [--seed S] [--quiet]\n"
    "\n"
    "Measures MODEL on this machine and writes DIR/report.json (schema plaster-report/1, see\n"
    "docs/REPORT.md), DIR/report.md and a self-contained DIR/report.html (inline SVG, no network):\n"
    "  - the machine (CPU, ISA, memory, kernel) and its peaks (`plaster machine`'s cache, else measured);\n"
    "  - size of model (as `plaster info --size`): parameters, bytes per precision, MACs, layers;\n"
    "  - latency: single-stream run with a per-node profile (histogram, CDF, per-layer time);\n"
    "  - throughput: offline at --batch, and the server scenario's peak QPS under --sla-ms;\n"
    "  - energy per inference from the best available meter (an estimate says so);\n"
    "  - accuracy on --dataset (as `plaster eval`), when given;\n"
    "  - a one-line verdict per PLASTER element; rate of learning is reported as not measured.\n"
    "\n"
    "options:\n"
    "  -o DIR          output folder (default: report)\n"
    "  --dataset D     dataset for accuracy (e.g. fashion-mnist); --limit N samples at most\n"
    "  --threads N     threads per inference (default 1)\n"
    "  --backend B     cpu (default) or reference; MODEL may be a plan from `plaster build`, whose\n"
    "                  cpu engine every run uses (import time is then pl_plan_load's, build 0)\n"
    "  --batch N       batch of the offline run (default 8)\n"
    "  --duration S    minimum seconds per run (default 2)\n"
    "  --sla-ms MS     server latency bound for the peak search (default 100)\n"
    "  --no-server     skip the server peak search\n"
    "  --seed S        seed for generated inputs and arrivals (default 1)\n"
    "  --quiet         print only where the report is\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int cmd_report(int argc, char **argv) {
    const char *path = NULL, *dir = "report", *dataset = NULL, *backend = NULL;
    long long limit = 0, batch = 8, seed = 1;
    int threads = 1;
    double duration = 2.0, sla_ms = 100.0;
    bool quiet = false, server = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end = NULL;
        if (cli_is_help(a)) {
            fputs(report_help, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            cli_print_version();
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output-dir")) && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(a, "--dataset") && i + 1 < argc) dataset = argv[++i];
        else if (!strcmp(a, "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(a, "--limit") && i + 1 < argc) {
            limit = strtoll(argv[++i], &end, 10);
            if (*end || limit < 0) return cli_usage_error("report", "--limit must be a count >= 0");
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            batch = strtoll(argv[++i], &end, 10);
            if (*end || batch < 1 || batch > 65536) return cli_usage_error("report", "--batch must be 1..65536");
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            threads = (int)strtol(argv[++i], &end, 10);
            if (*end || threads < 1 || threads > 4096) return cli_usage_error("report", "--threads must be 1..4096");
        } else if (!strcmp(a, "--duration") && i + 1 < argc) {
            duration = strtod(argv[++i], &end);
            if (*end || !(duration > 0 && duration <= 3600)) return cli_usage_error("report", "--duration must be in (0, 3600] seconds");
        } else if (!strcmp(a, "--sla-ms") && i + 1 < argc) {
            sla_ms = strtod(argv[++i], &end);
            if (*end || !(sla_ms > 0)) return cli_usage_error("report", "--sla-ms must be > 0");
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            seed = strtoll(argv[++i], &end, 10);
            if (*end) return cli_usage_error("report", "--seed must be an integer");
        } else if (!strcmp(a, "--no-server")) server = false;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (a[0] == '-' && a[1]) return cli_usage_error("report", "unknown or incomplete option '%s'", a);
        else if (!path) path = a;
        else return cli_usage_error("report", "unexpected argument '%s'", a);
    }
    if (!path) return cli_usage_error("report", "no MODEL given");
    bool is_plan;
    int rc = cli_plan_backend("report", path, &backend, &is_plan);
    if (rc) return rc;

    pl_report_input in;
    memset(&in, 0, sizeof in);
    in.model_path = path;
    in.threads = threads;
    in.seed = (uint64_t)seed;
    pl_model *model = NULL;
    pl_engine *engine = NULL;
    pl_size_report *size = NULL;
    pl_bench_result *ss = NULL, *off = NULL, *srv = NULL;
    pl_eval_result *ev = NULL;
    pl_machine_info machine;
    pl_machine_peaks peaks;
    pl_build_options bo = {.backend = backend, .threads = threads};
    double t0 = now_ms();
    pl_status st = is_plan ? pl_plan_load(path, &bo, &model, &engine) : pl_model_load(path, &model);
    in.import_ms = now_ms() - t0;
    if (st == PL_OK && !is_plan) {
        t0 = now_ms();
        st = pl_engine_build(model, &bo, &engine);
        in.build_ms = now_ms() - t0;
    }
    if (st != PL_OK) {
        rc = cli_fail("report", st);
        goto done;
    }
    in.model = model;
    if (!quiet) fprintf(stderr, "report: describing the machine and measuring its peaks...\n");
    pl_machine_describe(&machine);
    in.machine = &machine;
    pl_peaks_provenance prov;
    if (pl_machine_peaks_cached(threads, 0.5, 0, &peaks, &prov) == PL_OK) { /* as `plaster machine` measured them */
        in.peaks = &peaks;
        in.n_peaks = 1;
    }
    if (!quiet) fprintf(stderr, "report: size of model...\n");
    if ((st = pl_model_size(model, 1, &size)) != PL_OK) {
        rc = cli_fail("report", st);
        goto done;
    }
    in.size = size;
    pl_bench_settings bs;
    char settings[512];
    snprintf(settings, sizeof settings, "backend %s%s; threads %d; runs of at least %.1f s; single-stream batch 1 with profile; offline batch %lld; server SLA %.1f ms%s; seed %lld",
             backend ? backend : CLI_DEFAULT_BACKEND, is_plan ? " (plan)" : "", threads, duration, batch, sla_ms, server ? "" : " (skipped)", seed);
    in.settings = settings;
    if (!quiet) fprintf(stderr, "report: single-stream latency...\n");
    pl_bench_settings_default(&bs, PL_SCENARIO_SINGLE_STREAM);
    bs.backend = backend;
    bs.plan_path = is_plan ? path : NULL;
    bs.min_duration_s = duration;
    bs.threads = threads;
    bs.seed = (uint64_t)seed;
    bs.profile = 1;
    bs.progress = !quiet;
    if ((st = pl_bench_run(model, &bs, &ss)) != PL_OK) {
        rc = cli_fail("report", st);
        goto done;
    }
    in.single_stream = ss;
    in.first_run_ms = ss->first_run_ns / 1e6;
    if (!quiet) fprintf(stderr, "report: offline throughput at batch %lld...\n", batch);
    pl_bench_settings_default(&bs, PL_SCENARIO_OFFLINE);
    bs.backend = backend;
    bs.plan_path = is_plan ? path : NULL;
    bs.min_duration_s = duration;
    bs.threads = threads;
    bs.batch = batch;
    bs.seed = (uint64_t)seed;
    bs.progress = !quiet;
    if ((st = pl_bench_run(model, &bs, &off)) != PL_OK) {
        rc = cli_fail("report", st);
        goto done;
    }
    in.offline = off;
    if (server) {
        if (!quiet) fprintf(stderr, "report: server peak QPS under a %.1f ms p99 SLA...\n", sla_ms);
        pl_bench_settings_default(&bs, PL_SCENARIO_SERVER);
        bs.backend = backend;
        bs.plan_path = is_plan ? path : NULL;
        bs.min_duration_s = duration;
        bs.threads = threads;
        bs.seed = (uint64_t)seed;
        bs.sla_ms = sla_ms;
        bs.find_peak = 1;
        bs.progress = !quiet;
        if ((st = pl_bench_run(model, &bs, &srv)) != PL_OK) {
            rc = cli_fail("report", st);
            goto done;
        }
        in.server = srv;
    }
    if (dataset) {
        if (!quiet) fprintf(stderr, "report: accuracy on %s...\n", dataset);
        pl_eval_settings es;
        pl_eval_settings_default(&es);
        es.dataset = dataset;
        es.limit = limit;
        es.threads = threads;
        es.backend = backend;
        es.engine = is_plan ? engine : NULL;
        es.progress = !quiet;
        if ((st = pl_eval_run(model, &es, &ev)) != PL_OK) {
            rc = cli_fail("report", st);
            goto done;
        }
        in.eval = ev;
    }
    if ((st = pl_report_write(&in, dir)) != PL_OK) {
        rc = cli_fail("report", st);
        goto done;
    }
    printf("report written: %s/report.html (and report.md, report.json)\n", dir);
done:
    if (ev) pl_eval_result_destroy(ev);
    if (srv) pl_bench_result_destroy(srv);
    if (off) pl_bench_result_destroy(off);
    if (ss) pl_bench_result_destroy(ss);
    pl_size_report_destroy(size);
    pl_engine_destroy(engine);
    pl_model_destroy(model);
    return rc;
}
