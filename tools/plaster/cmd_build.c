/* cmd_build.c - `plaster build`: build the cpu engine with tactic timing and save it as a plan. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *build_help =
    "usage: plaster build MODEL -o PLAN [--threads N] [--batch N] [--no-onednn] [--json] [--quiet]\n"
    "\n"
    "Builds MODEL (ONNX) for the cpu backend as TensorRT builds an engine: runs the graph passes, times\n"
    "every candidate tactic of each node on this machine (one inference on generated inputs: declared\n"
    "shapes, symbolic dims bound to --batch for dim 0 and 1 elsewhere) and keeps the fastest, then\n"
    "saves the engine as PLAN: the model, the tactic of each node, the timings, the build settings,\n"
    "this CPU's identity and the oneDNN version, with a CRC-32 (format: docs/PLAN.md).\n"
    "`plaster run`, `bench`, `report` and `eval` take the plan wherever they take MODEL and load it\n"
    "without timing anything; a plan built on a CPU with other ISA features, or with another oneDNN,\n"
    "is refused with the two values named (rebuild it there).\n"
    "\n"
    "Prints the passes' summary, how many nodes each tactic runs, the candidate timings of each node\n"
    "that had more than one, the build's wall time, the plan's size and the arena's peak bytes (after\n"
    "one inference on the generated inputs).\n"
    "\n"
    "options:\n"
    "  -o, --output PLAN  the plan file to write (required)\n"
    "  --threads N        threads per inference, recorded in the plan (default: OpenMP's default)\n"
    "  --batch N          value of symbolic dim 0 while timing (default 1)\n"
    "  --no-onednn        offer no oneDNN tactics (plaster's own and reference kernels only)\n"
    "  --json             print the result as JSON (keys carry units: _ns, _bytes)\n"
    "  --quiet            print nothing on success\n"
    "\n"
    "exit status: 0 built, 1 error, 2 unsupported op.\n";

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Zero-filled inputs of the declared shapes (symbolic dims: batch for dim 0, 1 elsewhere), as
 * the build timed tactics with; NULL with a reason when an input is not a plain tensor. */
static pl_status make_inputs(const pl_model *m, int64_t batch, pl_tensor ***out, const char **why) {
    int n = pl_model_input_count(m);
    pl_tensor **in = calloc((size_t)n + 1, sizeof *in);
    *out = NULL;
    *why = NULL;
    if (!in) return PL_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        pl_io_info info;
        pl_model_input_info(m, i, &info);
        if (info.kind != PL_VALUE_TENSOR || info.rank < 0 || info.dtype == PL_DT_UNDEFINED || info.dtype == PL_DT_STRING) {
            *why = info.name;
            for (int k = 0; k < i; k++) pl_tensor_destroy(in[k]);
            free(in);
            return PL_ERR_UNSUPPORTED;
        }
        int64_t dims[PL_MAX_RANK];
        for (int d = 0; d < info.rank; d++) dims[d] = info.dims[d].value >= 0 ? info.dims[d].value : d == 0 ? batch : 1;
        pl_status st = pl_tensor_create(info.dtype, info.rank, dims, &in[i]);
        if (st != PL_OK) {
            for (int k = 0; k < i; k++) pl_tensor_destroy(in[k]);
            free(in);
            return st;
        }
    }
    *out = in;
    return PL_OK;
}

/* Runs one inference and reads the arena; false (with the reason in why) when it cannot. */
static bool measure_arena(pl_engine *e, const pl_model *m, int64_t batch, size_t *arena, size_t *unshared, char *why,
                          size_t why_size) {
    pl_tensor **in = NULL;
    const char *bad = NULL;
    pl_status st = make_inputs(m, batch, &in, &bad);
    if (st != PL_OK) {
        snprintf(why, why_size, bad ? "input '%s' has no declared tensor shape" : "%s", bad ? bad : "out of memory");
        return false;
    }
    int n_in = pl_model_input_count(m), n_out = pl_model_output_count(m);
    pl_tensor **out = calloc((size_t)n_out + 1, sizeof *out);
    pl_context *ctx = NULL;
    st = out ? pl_context_create(e, &ctx) : PL_ERR_NOMEM;
    if (st == PL_OK) st = pl_context_run(ctx, n_in, in, n_out, out);
    if (st == PL_OK) pl_context_memory(ctx, arena, unshared);
    else snprintf(why, why_size, "%s", out ? pl_last_error() : "out of memory");
    for (int i = 0; out && i < n_out; i++) pl_tensor_destroy(out[i]);
    for (int i = 0; i < n_in; i++) pl_tensor_destroy(in[i]);
    free(out);
    free(in);
    pl_context_destroy(ctx);
    return st == PL_OK;
}

/* Nodes with more than one candidate that was timed. */
static bool timed_several(const pl_engine_node *n) {
    int timed = 0;
    for (int c = 0; c < n->n_candidates; c++) timed += n->candidate_ns[c] != 0;
    return timed > 1;
}

typedef struct tally {
    const char *name[16];
    int count[16];
    int n;
} tally;

static void tally_tactics(const pl_engine *e, tally *t) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < pl_engine_node_count(e); i++) {
        pl_engine_node n;
        if (pl_engine_node_info(e, i, &n) != PL_OK) continue;
        int k = 0;
        while (k < t->n && strcmp(t->name[k], n.tactic)) k++;
        if (k == t->n && t->n < 16) t->name[t->n++] = n.tactic;
        if (k < t->n) t->count[k]++;
    }
}

static void print_text(const char *model_path, const char *plan_path, const pl_engine *e, double build_ns,
                       long long plan_bytes, bool have_arena, size_t arena, size_t unshared, const char *arena_why) {
    pl_engine_build_info bi;
    pl_engine_build_info_get(e, &bi);
    char threads[32];
    if (bi.threads > 0) snprintf(threads, sizeof threads, "%d", bi.threads);
    else snprintf(threads, sizeof threads, "OpenMP default");
    printf("model:   %s\n", model_path);
    printf("engine:  cpu, threads %s, tactics timed at batch %lld, %s\n", threads, (long long)bi.batch,
           bi.onednn ? bi.onednn_version : "oneDNN not used");
    printf("passes:\n");
    for (int i = 0; i < pl_engine_log_count(e); i++) {
        const char *l = pl_engine_log_line(e, i);
        if (l[0] != ' ' && strncmp(l, "tactics:", 8)) printf("  %s\n", l);
    }
    tally t;
    tally_tactics(e, &t);
    printf("tactics: %d node(s):", pl_engine_node_count(e));
    for (int k = 0; k < t.n; k++) printf("%s %d on %s", k ? "," : "", t.count[k], t.name[k]);
    printf("\n");
    int shown = 0;
    for (int i = 0; i < pl_engine_node_count(e); i++) {
        pl_engine_node n;
        if (pl_engine_node_info(e, i, &n) != PL_OK || !timed_several(&n)) continue;
        if (!shown++) {
            printf("candidate timings (us, measured at build, batch %lld, threads %s; * chosen, - failed):\n",
                   (long long)bi.batch, threads);
            printf("  %-16s %-40s %-14s %s\n", "op", "node", "chosen", "candidates");
        }
        size_t len = strlen(n.name); /* long names differ at the end: keep that */
        if (len > 40) printf("  %-16.16s ...%-37s %-14.14s", n.op, n.name + len - 37, n.tactic);
        else printf("  %-16.16s %-40s %-14.14s", n.op, n.name, n.tactic);
        for (int c = 0; c < n.n_candidates; c++) {
            if (n.candidate_ns[c] > 0)
                printf(" %s%s %.1f", strcmp(n.candidates[c], n.tactic) ? "" : "*", n.candidates[c], n.candidate_ns[c] / 1e3);
            else printf(" %s %s", n.candidates[c], n.candidate_ns[c] < 0 ? "-" : "untimed");
        }
        printf("\n");
    }
    if (!shown) printf("candidate timings: no node had more than one candidate timed\n");
    printf("build:   %.1f ms wall clock (passes, tactic timing)\n", build_ns / 1e6);
    printf("plan:    %s, %lld bytes\n", plan_path, plan_bytes);
    if (have_arena)
        printf("memory:  arena peak %zu bytes (%zu bytes without sharing), one inference at batch %lld\n", arena, unshared,
               (long long)bi.batch);
    else printf("memory:  arena not measured (%s)\n", arena_why);
}

static void print_json(const char *model_path, const char *plan_path, const pl_engine *e, double build_ns,
                       long long plan_bytes, bool have_arena, size_t arena, size_t unshared) {
    pl_engine_build_info bi;
    pl_engine_build_info_get(e, &bi);
    printf("{\"model\":");
    cli_json_string(stdout, model_path);
    printf(",\"plan\":");
    cli_json_string(stdout, plan_path);
    printf(",\"plan_bytes\":%lld,\"build_ns\":%.17g,\"threads\":%d,\"batch\":%lld,\"onednn\":", plan_bytes, build_ns,
           bi.threads, (long long)bi.batch);
    cli_json_string(stdout, bi.onednn ? bi.onednn_version : "not used");
    printf(",\"passes\":[");
    for (int i = 0, k = 0; i < pl_engine_log_count(e); i++) {
        const char *l = pl_engine_log_line(e, i);
        if (l[0] == ' ' || !strncmp(l, "tactics:", 8)) continue;
        printf("%s", k++ ? "," : "");
        cli_json_string(stdout, l);
    }
    tally t;
    tally_tactics(e, &t);
    printf("],\"tactics\":{");
    for (int k = 0; k < t.n; k++) {
        printf("%s", k ? "," : "");
        cli_json_string(stdout, t.name[k]);
        printf(":%d", t.count[k]);
    }
    printf("},\"nodes\":[");
    for (int i = 0; i < pl_engine_node_count(e); i++) {
        pl_engine_node n;
        if (pl_engine_node_info(e, i, &n) != PL_OK) continue;
        printf("%s{\"name\":", i ? "," : "");
        cli_json_string(stdout, n.name);
        printf(",\"op\":");
        cli_json_string(stdout, n.op);
        printf(",\"tactic\":");
        cli_json_string(stdout, n.tactic);
        printf(",\"candidates\":[");
        for (int c = 0; c < n.n_candidates; c++) {
            printf("%s{\"tactic\":", c ? "," : "");
            cli_json_string(stdout, n.candidates[c]);
            printf(",\"ns\":%.17g}", n.candidate_ns[c]);
        }
        printf("]}");
    }
    printf("]");
    if (have_arena) printf(",\"arena_bytes\":%zu,\"unshared_bytes\":%zu", arena, unshared);
    else printf(",\"arena_bytes\":null,\"unshared_bytes\":null");
    printf("}\n");
}

int cmd_build(int argc, char **argv) {
    const char *model_path = NULL, *plan_path = NULL;
    int threads = 0;
    long long batch = 1;
    bool json = false, quiet = false, no_onednn = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *end;
        if (cli_is_help(a)) {
            fputs(build_help, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            cli_print_version();
            return 0;
        } else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) plan_path = argv[++i];
        else if (!strcmp(a, "--threads") && i + 1 < argc) {
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 0 || t > 4096) return cli_usage_error("build", "--threads must be 0..4096");
            threads = (int)t;
        } else if (!strcmp(a, "--batch") && i + 1 < argc) {
            batch = strtoll(argv[++i], &end, 10);
            if (*end || batch < 1 || batch > 65536) return cli_usage_error("build", "--batch must be 1..65536");
        } else if (!strcmp(a, "--no-onednn")) no_onednn = true;
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (a[0] == '-' && a[1]) return cli_usage_error("build", "unknown or incomplete option '%s'", a);
        else if (!model_path) model_path = a;
        else return cli_usage_error("build", "unexpected argument '%s'", a);
    }
    if (!model_path) return cli_usage_error("build", "no MODEL given");
    if (!plan_path) return cli_usage_error("build", "-o PLAN is required");
    if (pl_path_is_plan(model_path))
        return cli_usage_error("build", "%s is already a plan; build from the ONNX model", model_path);

    bool progress = !quiet && !json && isatty(2);
    pl_model *model = NULL;
    pl_engine *engine = NULL;
    int rc = 0;
    pl_status st = pl_model_load(model_path, &model);
    if (st != PL_OK) return cli_fail("build", st);
    if (progress) fprintf(stderr, "building %s: graph passes, timing each node's tactics at batch %lld...", model_path, batch);
    pl_build_options bo = {.backend = "cpu", .threads = threads, .time_tactics = true, .batch = batch,
                           .no_onednn = no_onednn};
    double t0 = now_ns();
    st = pl_engine_build(model, &bo, &engine);
    double build_ns = now_ns() - t0;
    if (progress) fprintf(stderr, "\r\033[K");
    if (st == PL_OK) st = pl_engine_save_plan(engine, plan_path);
    if (st != PL_OK) {
        rc = cli_fail("build", st);
        goto done;
    }
    struct stat sb;
    long long plan_bytes = stat(plan_path, &sb) == 0 ? (long long)sb.st_size : -1;
    size_t arena = 0, unshared = 0;
    char why[512] = "";
    bool have_arena = measure_arena(engine, model, batch, &arena, &unshared, why, sizeof why);
    if (json) print_json(model_path, plan_path, engine, build_ns, plan_bytes, have_arena, arena, unshared);
    else if (!quiet) print_text(model_path, plan_path, engine, build_ns, plan_bytes, have_arena, arena, unshared, why);
done:
    pl_engine_destroy(engine);
    pl_model_destroy(model);
    return rc;
}
