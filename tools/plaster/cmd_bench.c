/* cmd_bench.c - `plaster bench`: the load generator (MLPerf LoadGen scenarios) on one model. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *bench_help =
    "usage: plaster bench MODEL|PLAN [--scenario single-stream|multi-stream|server|offline] [options]\n"
    "\n"
    "Measures MODEL on the chosen backend (default: cpu, the optimized engine) with MLPerf LoadGen's scenarios, after an untimed\n"
    "warmup, and says whether the run is VALID (minimum duration, minimum queries, early stopping,\n"
    "and for the server the p99 SLA) with the reasons when it is not. Latencies are wall clock\n"
    "(CLOCK_MONOTONIC) from a query's issue (server: its scheduled arrival) to its completion.\n"
    "  single-stream  one query at a time, the next when the last completes; headline p90\n"
    "  multi-stream   each query is --samples-per-query inferences over the streams; headline p99\n"
    "  server         Poisson arrivals at --target-qps; VALID when p99 <= --sla-ms; --find-peak\n"
    "                 searches the highest VALID QPS (doubling, then bisection, then 1.2x check)\n"
    "  offline        all inferences issued at once over the streams; headline samples/s\n"
    "\n"
    "options:\n"
    "  --scenario S          the scenario (default single-stream)\n"
    "  --duration S          minimum timed duration in seconds (default 10)\n"
    "  --min-queries N       minimum queries (default: LoadGen's early-stopping minimum:\n"
    "                        64 single-stream, 662 multi-stream, 459 server, 1 offline)\n"
    "  --warmup-ms MS        untimed warmup (default 500)\n"
    "  --batch N             samples per inference, bound to the symbolic dim 0 (default 1)\n"
    "  --backend B           cpu (default: graph passes, oneDNN, blocked layouts) or reference;\n"
    "                        MODEL may be a plan from `plaster build`: its cpu engine is used and the\n"
    "                        cold start's load is pl_plan_load (model and engine, no tactic timing)\n"
    "  --threads N           threads per inference (default: OpenMP's default)\n"
    "  --streams N           concurrent execution contexts sharing one engine (default 1)\n"
    "  --samples-per-query N multi-stream samples per query (default 8)\n"
    "  --sla-ms MS           server p99 latency bound (default 100)\n"
    "  --target-qps Q        server mean arrival rate (required unless --find-peak)\n"
    "  --find-peak           server: search the highest VALID QPS\n"
    "  --seed S              seed for the arrivals and generated inputs (default 1)\n"
    "  --input-dir DIR       read input_<i>.pb (as `plaster run`) instead of generating inputs\n"
    "                        (default: seeded random values of the declared types and shapes;\n"
    "                        unknown dims other than dim 0 are 1, integers are 0 or 1)\n"
    "  --energy-meter NAME   rapl, hwmon, nvml, external or estimate (default: the first that\n"
    "                        works in that order; the estimate from CPU use is labelled as such)\n"
    "  --energy-external SPEC  a file whose last line is watts, or cmd:COMMAND printing watts\n"
    "  --profile             time every node; print the top 20 (all in JSON); the graph runs\n"
    "                        whole (no batch split, docs/ENGINE.md); nodes fixed by the input\n"
    "                        shapes (computed once per shape) show about 0 ms; nodes fused\n"
    "                        into another show 0 calls, their time in the node that took\n"
    "                        them in, listed under the fused op where a pass made one\n"
    "                        (SqueezeExcitation, LayerNormalization)\n"
    "  --trace FILE          write a Chrome trace (chrome://tracing, Perfetto) of the inferences\n"
    "  --json                print the result as JSON (keys carry units: _ns, _s, _j, _w, _qps)\n"
    "  --quiet               print only the headline line\n"
    "\n"
    "exit status: 0 measured (VALID or INVALID), 1 error, 2 unsupported op.\n";

static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

static int parse_scenario(const char *s, pl_scenario *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, pl_scenario_name((pl_scenario)i))) {
            *out = (pl_scenario)i;
            return 0;
        }
    return -1;
}

static double ms(double ns) { return ns / 1e6; }

static const char *headline_name(pl_scenario s) {
    switch (s) {
    case PL_SCENARIO_SINGLE_STREAM: return "p90 latency";
    case PL_SCENARIO_MULTI_STREAM: return "p99 latency";
    case PL_SCENARIO_SERVER: return "p99 latency";
    case PL_SCENARIO_OFFLINE: return "throughput";
    }
    return "";
}

static void print_headline(const pl_bench_result *r, const pl_bench_settings *s) {
    if (r->scenario == PL_SCENARIO_OFFLINE)
        printf("offline: %.1f samples/s (%s)\n", r->samples_per_s, r->valid ? "VALID" : "INVALID");
    else if (r->scenario == PL_SCENARIO_SERVER && s->find_peak)
        printf("server: peak %.1f QPS with p99 <= %g ms (%s)\n", r->peak_qps, s->sla_ms, r->valid ? "VALID" : "INVALID");
    else
        printf("%s: %s %.3f ms (%s)\n", pl_scenario_name(r->scenario), headline_name(r->scenario),
               ms(r->scenario == PL_SCENARIO_SINGLE_STREAM ? r->p90_ns : r->p99_ns), r->valid ? "VALID" : "INVALID");
}

static void print_text(const char *model, const pl_bench_result *r, const pl_bench_settings *s) {
    printf("model:       %s\n", model);
    char threads[32];
    if (s->threads) snprintf(threads, sizeof threads, "%d", s->threads);
    else snprintf(threads, sizeof threads, "OpenMP default");
    printf("scenario:    %s, batch %lld, streams %d, threads %s, seed %llu, backend %s\n", pl_scenario_name(r->scenario),
           (long long)r->batch, s->streams, threads, (unsigned long long)s->seed, s->backend ? s->backend : CLI_DEFAULT_BACKEND);
    print_headline(r, s);
    printf("result:      %s\n", r->valid ? "VALID (every constraint met)" : "INVALID");
    if (r->reasons[0]) {
        const char *p = r->reasons;
        while (*p) {
            const char *nl = strchr(p, '\n');
            int len = nl ? (int)(nl - p) : (int)strlen(p);
            printf("  - %.*s\n", len, p);
            p += len + (nl ? 1 : 0);
        }
    }
    const char *what = r->scenario == PL_SCENARIO_OFFLINE ? "per inference, from its start to its end"
                       : r->scenario == PL_SCENARIO_SERVER ? "per query, from its scheduled arrival to completion"
                                                           : "per query, from issue to completion";
    printf("latency (ms, wall clock, CLOCK_MONOTONIC, %s; %lld measured, nearest-rank percentiles):\n", what,
           (long long)r->n_latencies);
    printf("  min %.3f  max %.3f  mean %.3f  stddev %.3f  cv %.3f\n", ms(r->min_ns), ms(r->max_ns), ms(r->mean_ns),
           ms(r->stddev_ns), r->cv);
    printf("  p50 %.3f  p90 %.3f  p95 %.3f  p97 %.3f  p99 %.3f  p99.9 %.3f\n", ms(r->p50_ns), ms(r->p90_ns),
           ms(r->p95_ns), ms(r->p97_ns), ms(r->p99_ns), ms(r->p999_ns));
    if (r->cv > 0.1)
        printf("  WARNING: latency varies a lot (coefficient of variation %.2f > 0.10): the machine is busy or\n"
               "  throttling; figures from this run are noisy, rerun on a quiet machine or run longer\n", r->cv);
    if (r->scenario == PL_SCENARIO_SINGLE_STREAM || r->scenario == PL_SCENARIO_MULTI_STREAM) {
        if (r->early_stop_estimate_ns > 0)
            printf("  early-stopping p%s estimate %.3f ms (LoadGen binomial test, confidence 0.99)\n",
                   r->scenario == PL_SCENARIO_SINGLE_STREAM ? "90" : "99", ms(r->early_stop_estimate_ns));
        else
            printf("  early stopping: %lld more queries needed before it can estimate the percentile\n",
                   (long long)r->queries_needed);
    }
    printf("throughput:  %.1f samples/s, %.1f queries/s (%lld queries, %lld samples over %.3f s, first issue to last completion)\n",
           r->samples_per_s, r->qps, (long long)r->queries, (long long)r->samples, r->duration_ns / 1e9);
    if (r->n_points > 0) {
        printf("server sweep (SLA p99 <= %g ms; Poisson arrivals, seed %llu):\n", s->sla_ms, (unsigned long long)s->seed);
        printf("  %12s %12s %12s  %s\n", "target QPS", "achieved", "p99 ms", "result");
        for (int i = 0; i < r->n_points; i++)
            printf("  %12.1f %12.1f %12.3f  %s\n", r->points[i].target_qps, r->points[i].achieved_qps,
                   ms(r->points[i].p99_ns), r->points[i].valid ? "VALID" : "INVALID");
        printf("  peak %.1f QPS; check at 1.2 x peak (%.1f QPS): %s\n", r->peak_qps, r->verify_qps,
               r->verify_valid ? "VALID (the peak may be higher)" : "INVALID, as it must be");
    }
    if (r->energy_meter[0] && strncmp(r->energy_meter, "none", 4)) {
        printf("energy (%s%s; sampled every 100 ms inside the timed window; idle measured for 0.6 s before):\n",
               r->energy_meter, r->energy_is_estimate ? " -- an ESTIMATE, not a measurement" : "");
        printf("  average %.2f W (idle %.2f W), %.3f J in total\n", r->avg_w, r->idle_w, r->energy_j);
        printf("  %.6f J per inference sample gross, %.6f J net of idle; %.1f samples per J; %.3f mJ per query\n",
               r->j_per_sample, r->j_per_sample_net, r->samples_per_j, r->mj_per_query);
    } else {
        printf("energy:      %s\n", r->energy_meter[0] ? r->energy_meter : "not measured");
    }
    if (s->plan_path)
        printf("cold start (wall clock): load %.3f ms (pl_plan_load: checksum, model, engine with the plan's tactics), "
               "build 0 (none), first inference %.3f ms\n",
               ms(r->load_ns), ms(r->first_run_ns));
    else
        printf("cold start (wall clock): load %.3f ms (pl_model_load), build %.3f ms (pl_engine_build), first inference %.3f ms\n",
               ms(r->load_ns), ms(r->build_ns), ms(r->first_run_ns));
    if (r->batch_split > 0)
        printf("batch split: the engine ran each batch of %lld as slices of %lld samples, one thread each, "
               "through the whole graph (chosen by timing it against the whole batch at the second run)\n",
               (long long)r->batch, (long long)r->batch_split);
    if (r->fixed_nodes > 0)
        printf("fixed by input shapes: %d nodes (shape arithmetic) ran once for these input shapes, not per query\n",
               r->fixed_nodes);
    if (r->n_nodes > 0) {
        double total = 0;
        for (int i = 0; i < r->n_nodes; i++) total += r->nodes[i].total_ns;
        printf("profile (wall clock per top-level node, summed over the timed run; top %d of %d):\n",
               r->n_nodes < 20 ? r->n_nodes : 20, r->n_nodes);
        printf("  %-28s %-16s %8s %12s %7s\n", "node", "op", "calls", "total ms", "share");
        for (int i = 0; i < r->n_nodes && i < 20; i++)
            printf("  %-28.28s %-16.16s %8lld %12.3f %6.1f%%\n", r->nodes[i].name, r->nodes[i].op,
                   (long long)r->nodes[i].calls, ms(r->nodes[i].total_ns),
                   total > 0 ? 100 * r->nodes[i].total_ns / total : 0);
    }
}

static void print_json(const char *model, const pl_bench_result *r, const pl_bench_settings *s) {
    printf("{\"model\":");
    cli_json_string(stdout, model);
    printf(",\"scenario\":\"%s\",\"valid\":%s,\"reasons\":", pl_scenario_name(r->scenario), r->valid ? "true" : "false");
    cli_json_string(stdout, r->reasons);
    printf(",\"batch\":%lld,\"streams\":%d,\"threads\":%d,\"seed\":%llu,\"backend\":\"%s\"", (long long)r->batch, s->streams, s->threads,
           (unsigned long long)s->seed, s->backend ? s->backend : CLI_DEFAULT_BACKEND);
    printf(",\"plan\":%s", s->plan_path ? "true" : "false");
    printf(",\"min_duration_s\":%.17g,\"min_queries\":%lld", s->min_duration_s, (long long)s->min_queries);
    printf(",\"queries\":%lld,\"samples\":%lld,\"duration_ns\":%.17g", (long long)r->queries, (long long)r->samples,
           r->duration_ns);
    printf(",\"latency_clock\":\"CLOCK_MONOTONIC\",\"min_ns\":%.17g,\"max_ns\":%.17g,\"mean_ns\":%.17g,\"stddev_ns\":%.17g,\"cv\":%.17g",
           r->min_ns, r->max_ns, r->mean_ns, r->stddev_ns, r->cv);
    printf(",\"p50_ns\":%.17g,\"p90_ns\":%.17g,\"p95_ns\":%.17g,\"p97_ns\":%.17g,\"p99_ns\":%.17g,\"p999_ns\":%.17g",
           r->p50_ns, r->p90_ns, r->p95_ns, r->p97_ns, r->p99_ns, r->p999_ns);
    printf(",\"early_stop_estimate_ns\":%.17g,\"queries_needed\":%lld", r->early_stop_estimate_ns,
           (long long)r->queries_needed);
    printf(",\"samples_per_s\":%.17g,\"qps\":%.17g", r->samples_per_s, r->qps);
    printf(",\"load_ns\":%.17g,\"build_ns\":%.17g,\"first_run_ns\":%.17g", r->load_ns, r->build_ns, r->first_run_ns);
    printf(",\"batch_split\":%lld,\"fixed_nodes\":%d", (long long)r->batch_split, r->fixed_nodes);
    printf(",\"energy_meter\":");
    cli_json_string(stdout, r->energy_meter);
    printf(",\"energy_is_estimate\":%s,\"energy_j\":%.17g,\"idle_w\":%.17g,\"avg_w\":%.17g,\"j_per_sample\":%.17g,"
           "\"j_per_sample_net\":%.17g,\"samples_per_j\":%.17g,\"mj_per_query\":%.17g",
           r->energy_is_estimate ? "true" : "false", r->energy_j, r->idle_w, r->avg_w, r->j_per_sample,
           r->j_per_sample_net, r->samples_per_j, r->mj_per_query);
    if (r->scenario == PL_SCENARIO_SERVER) {
        printf(",\"sla_ms\":%.17g,\"target_qps\":%.17g", s->sla_ms, s->target_qps);
        if (s->find_peak) {
            printf(",\"peak_qps\":%.17g,\"verify_qps\":%.17g,\"verify_valid\":%s,\"points\":[", r->peak_qps,
                   r->verify_qps, r->verify_valid ? "true" : "false");
            for (int i = 0; i < r->n_points; i++)
                printf("%s{\"target_qps\":%.17g,\"achieved_qps\":%.17g,\"p99_ns\":%.17g,\"valid\":%s}", i ? "," : "",
                       r->points[i].target_qps, r->points[i].achieved_qps, r->points[i].p99_ns,
                       r->points[i].valid ? "true" : "false");
            printf("]");
        }
    }
    if (r->n_nodes > 0) {
        double total = 0;
        for (int i = 0; i < r->n_nodes; i++) total += r->nodes[i].total_ns;
        printf(",\"profile\":[");
        for (int i = 0; i < r->n_nodes; i++) {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_string(stdout, r->nodes[i].name);
            printf(",\"op\":");
            cli_json_string(stdout, r->nodes[i].op);
            printf(",\"calls\":%lld,\"total_ns\":%.17g,\"share\":%.17g}", (long long)r->nodes[i].calls,
                   r->nodes[i].total_ns, total > 0 ? r->nodes[i].total_ns / total : 0);
        }
        printf("]");
    }
    printf("}\n");
}

static int load_inputs(const pl_model *model, const char *dir, pl_tensor ***out, int *n_out) {
    int n = pl_model_input_count(model);
    pl_tensor **in = calloc((size_t)n + 1, sizeof *in);
    if (!in) {
        fprintf(stderr, "plaster bench: out of memory\n");
        return 1;
    }
    *out = in;
    *n_out = n;
    char path[4096];
    for (int i = 0; i < n; i++) {
        pl_io_info info;
        pl_model_input_info(model, i, &info);
        snprintf(path, sizeof path, "%s/input_%d.pb", dir, i);
        struct stat st;
        if (stat(path, &st) != 0) {
            fprintf(stderr, "plaster bench: %s: missing; the model takes %d inputs (input %d is '%s')\n", path, n,
                    i, info.name);
            return 1;
        }
        pl_status s = pl_value_load_pb(path, info.kind, &in[i]);
        if (s != PL_OK) return cli_fail("bench", s);
    }
    return 0;
}

static bool takes_value(const char *a) {
    static const char *const opts[] = {"--scenario", "--duration", "--min-queries", "--warmup-ms", "--batch",
                                       "--threads", "--streams", "--samples-per-query", "--sla-ms",
                                       "--target-qps", "--seed", "--input-dir", "--energy-meter",
                                       "--energy-external", "--trace", "--backend"};
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(a, opts[i])) return true;
    return false;
}

int cmd_bench(int argc, char **argv) {
    pl_scenario scenario = PL_SCENARIO_SINGLE_STREAM;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--scenario") && parse_scenario(argv[i + 1], &scenario))
            return cli_usage_error("bench", "--scenario must be single-stream, multi-stream, server or offline, not '%s'",
                                   argv[i + 1]);
    pl_bench_settings s;
    pl_bench_settings_default(&s, scenario);
    const char *model_path = NULL, *in_dir = NULL;
    bool json = false, quiet = false, have_qps = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        int64_t n;
        if (cli_is_help(a)) {
            fputs(bench_help, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            cli_print_version();
            return 0;
        } else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--find-peak")) s.find_peak = 1;
        else if (!strcmp(a, "--profile")) s.profile = 1;
        else if (!v && takes_value(a)) return cli_usage_error("bench", "option '%s' needs a value", a);
        else if (!strcmp(a, "--scenario")) i++;
        else if (!strcmp(a, "--duration") || !strcmp(a, "--warmup-ms") || !strcmp(a, "--sla-ms") ||
                 !strcmp(a, "--target-qps")) {
            if (parse_double(v, &d)) return cli_usage_error("bench", "%s needs a number, not '%s'", a, v);
            bool positive = !strcmp(a, "--sla-ms") || !strcmp(a, "--target-qps");
            if (d < 0 || (positive && d == 0))
                return cli_usage_error("bench", "%s must be %s, got %s", a, positive ? "> 0" : ">= 0", v);
            if (!strcmp(a, "--duration")) s.min_duration_s = d;
            else if (!strcmp(a, "--warmup-ms")) s.warmup_ms = d;
            else if (!strcmp(a, "--sla-ms")) s.sla_ms = d;
            else {
                s.target_qps = d;
                have_qps = true;
            }
            i++;
        } else if (!strcmp(a, "--min-queries") || !strcmp(a, "--batch") || !strcmp(a, "--threads") ||
                   !strcmp(a, "--streams") || !strcmp(a, "--samples-per-query") || !strcmp(a, "--seed")) {
            if (parse_int(v, &n)) return cli_usage_error("bench", "%s needs an integer, not '%s'", a, v);
            bool zero_ok = !strcmp(a, "--min-queries") || !strcmp(a, "--threads") || !strcmp(a, "--seed");
            if (n < 0 || (!zero_ok && n == 0)) return cli_usage_error("bench", "%s must be %s, got %s", a, zero_ok ? ">= 0" : ">= 1", v);
            if ((!strcmp(a, "--threads") || !strcmp(a, "--streams")) && n > 1024)
                return cli_usage_error("bench", "%s must be at most 1024, got %s", a, v);
            if (!strcmp(a, "--min-queries")) s.min_queries = n;
            else if (!strcmp(a, "--batch")) s.batch = n;
            else if (!strcmp(a, "--threads")) s.threads = (int)n;
            else if (!strcmp(a, "--streams")) s.streams = (int)n;
            else if (!strcmp(a, "--samples-per-query")) s.samples_per_query = n;
            else s.seed = (uint64_t)n;
            i++;
        } else if (!strcmp(a, "--input-dir")) in_dir = argv[++i];
        else if (!strcmp(a, "--energy-meter")) s.energy_meter = argv[++i];
        else if (!strcmp(a, "--energy-external")) s.energy_external = argv[++i];
        else if (!strcmp(a, "--trace")) s.trace_path = argv[++i];
        else if (!strcmp(a, "--backend")) s.backend = argv[++i];
        else if (a[0] == '-' && a[1]) return cli_usage_error("bench", "unknown option '%s'", a);
        else if (!model_path) model_path = a;
        else return cli_usage_error("bench", "unexpected argument '%s'", a);
    }
    if (!model_path) return cli_usage_error("bench", "no MODEL given");
    if (scenario == PL_SCENARIO_SERVER && !have_qps && !s.find_peak)
        return cli_usage_error("bench", "the server scenario needs --target-qps Q (or --find-peak)");
    if (scenario != PL_SCENARIO_SERVER && (have_qps || s.find_peak))
        return cli_usage_error("bench", "--target-qps and --find-peak apply to --scenario server only");
    if (s.energy_meter && strcmp(s.energy_meter, "rapl") && strcmp(s.energy_meter, "hwmon") &&
        strcmp(s.energy_meter, "nvml") && strcmp(s.energy_meter, "external") && strcmp(s.energy_meter, "estimate"))
        return cli_usage_error("bench", "--energy-meter must be rapl, hwmon, nvml, external or estimate, not '%s'",
                               s.energy_meter);
    s.progress = !quiet && !json && isatty(2);
    bool is_plan;
    int rc = cli_plan_backend("bench", model_path, &s.backend, &is_plan);
    if (rc) return rc;
    if (is_plan) s.plan_path = model_path; /* the load generator loads it again, timed */
    else s.model_path = model_path;

    pl_model *model = NULL;
    pl_tensor **inputs = NULL;
    pl_bench_result *r = NULL;
    int n_in = 0;
    pl_engine *plan_engine = NULL;
    pl_build_options bo = {.threads = s.threads};
    pl_status st = is_plan ? pl_plan_load(model_path, &bo, &model, &plan_engine) : pl_model_load(model_path, &model);
    pl_engine_destroy(plan_engine); /* only its model is needed here */
    if (st != PL_OK) return cli_fail("bench", st);
    if (in_dir) {
        rc = load_inputs(model, in_dir, &inputs, &n_in);
        if (rc) goto done;
        s.n_inputs = n_in;
        s.inputs = inputs;
    }
    st = pl_bench_run(model, &s, &r);
    if (st != PL_OK) {
        rc = cli_fail("bench", st);
        goto done;
    }
    if (json) print_json(model_path, r, &s);
    else if (quiet) print_headline(r, &s);
    else print_text(model_path, r, &s);
done:
    pl_bench_result_destroy(r);
    if (inputs)
        for (int i = 0; i < n_in; i++) pl_tensor_destroy(inputs[i]);
    free(inputs);
    pl_model_destroy(model);
    return rc;
}
