/* cmd_info.c - `plaster info`: describe a model. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char *info_help =
    "usage: plaster info MODEL [--size] [--batch N] [--passes] [--verbose] [--json]\n"
    "\n"
    "Describes an ONNX model: graph inputs and outputs with types and shapes (symbolic dims by\n"
    "name), IR version, opset imports, producer, metadata, the op histogram (subgraphs\n"
    "included), parameter count and bytes (from initializers), and whether every op is\n"
    "supported by plaster's reference executor, listing those that are not.\n"
    "\n"
    "With --size it also runs the model once on zero inputs (symbolic dims: N for dim 0, 1\n"
    "elsewhere) and reports, per top-level layer: op, output shape, neurons (output units per\n"
    "sample), connections (weights), parameters, MACs, activation bytes and arithmetic\n"
    "intensity; and in total: MACs and FLOPs, what the parameters weigh at fp32/bf16/fp16/int8,\n"
    "and the peak activation memory. Convention: a multiply-add is one MAC, FLOPs = 2 x MACs.\n"
    "\n"
    "With --passes it builds the cpu backend's engine (first accepted tactic per node, no\n"
    "timing) and shows what its graph passes did: one summary line per pass (eliminate, fold,\n"
    "bn-fold, fuse, dce), the node count before and after, and the tactic chosen per op type\n"
    "with the post-ops fused into those nodes. --verbose adds the passes' detail lines (one per\n"
    "node removed, folded or fused) and every node of the optimized graph with its tactic.\n"
    "A model with an unsupported op gets no passes section (exit status 2 as below).\n"
    "\n"
    "options:\n"
    "  --size       measure the size of the model per layer (one reference run)\n"
    "  --batch N    batch size bound to symbolic dim 0 for --size (default 1)\n"
    "  --passes     build the cpu backend and report its passes and tactics\n"
    "  --verbose    with --passes: every pass detail line and every optimized node\n"
    "  --json       print the same as one JSON object (--passes: all log lines and nodes)\n"
    "\n"
    "exit status: 0 when the model loads and every op is supported, 2 when some op is not,\n"
    "1 on any other error.\n";

static void io_text(const pl_model *m, bool inputs) {
    int n = inputs ? pl_model_input_count(m) : pl_model_output_count(m);
    printf("%s (%d):\n", inputs ? "inputs" : "outputs", n);
    for (int i = 0; i < n; i++) {
        pl_io_info info;
        if (inputs) pl_model_input_info(m, i, &info);
        else pl_model_output_info(m, i, &info);
        char shape[512];
        const char *kind = info.kind == PL_VALUE_SEQUENCE ? "sequence of " : info.kind == PL_VALUE_OPTIONAL ? "optional " : "";
        printf("  %-24s %s%s %s\n", info.name, kind, pl_dtype_name(info.dtype), cli_shape_str(&info, shape, sizeof shape));
    }
}

static void io_json(const pl_model *m, bool inputs) {
    int n = inputs ? pl_model_input_count(m) : pl_model_output_count(m);
    printf("  \"%s\": [", inputs ? "inputs" : "outputs");
    for (int i = 0; i < n; i++) {
        pl_io_info info;
        if (inputs) pl_model_input_info(m, i, &info);
        else pl_model_output_info(m, i, &info);
        printf("%s{\"name\": ", i ? ", " : "");
        cli_json_string(stdout, info.name);
        printf(", \"kind\": \"%s\", \"dtype\": \"%s\", \"shape\": ",
               info.kind == PL_VALUE_SEQUENCE ? "sequence" : info.kind == PL_VALUE_OPTIONAL ? "optional" : "tensor",
               pl_dtype_name(info.dtype));
        if (info.rank < 0) printf("null");
        else {
            printf("[");
            for (int d = 0; d < info.rank; d++) {
                if (d) printf(", ");
                if (info.dims[d].symbol && info.dims[d].symbol[0]) cli_json_string(stdout, info.dims[d].symbol);
                else if (info.dims[d].value >= 0) printf("%lld", (long long)info.dims[d].value);
                else printf("null");
            }
            printf("]");
        }
        printf("}");
    }
    printf("],\n");
}

static void shape_of(const pl_layer_size *l, char *buf, size_t n) {
    size_t used = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < l->rank && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", d ? "," : "", (long long)l->dims[d]);
    if (used < n) snprintf(buf + used, n - used, "]");
}

static void size_text(const pl_size_report *r) {
    printf("\nsize (one reference run on zero inputs, batch %lld; 1 MAC = 1 multiply-add, FLOPs = 2 x MACs):\n",
           (long long)r->batch);
    printf("  %-4s %-28s %-20s %-20s %10s %12s %14s %12s %9s\n", "#", "layer", "op", "output", "neurons",
           "connections", "MACs", "act. bytes", "FLOP/B");
    for (int i = 0; i < r->n_layers; i++) {
        const pl_layer_size *l = &r->layers[i];
        char shape[96];
        shape_of(l, shape, sizeof shape);
        printf("  %-4d %-28.28s %-20.20s %-20.20s %10lld %12lld %14lld %12lld %9.2f\n", i, l->name, l->op, shape,
               (long long)l->neurons, (long long)l->connections, (long long)l->macs, (long long)l->activation_bytes,
               l->intensity);
    }
    printf("  total: %.4f GMACs (%.4f GFLOPs) in %lld layers with MACs of %d\n", (double)r->macs / 1e9,
           2.0 * (double)r->macs / 1e9, (long long)r->layers_with_macs, r->n_layers);
    printf("  parameters: %lld (%.3f M); bytes as stored %lld; at fp32 %lld, bf16 %lld, fp16 %lld, int8 %lld\n",
           (long long)r->params, (double)r->params / 1e6, (long long)r->param_bytes, (long long)r->bytes_fp32,
           (long long)r->bytes_bf16, (long long)r->bytes_fp16, (long long)r->bytes_int8);
    printf("  peak activation memory: %lld bytes (%.2f MiB; intermediates alive at once, each freed after its last reader)\n",
           (long long)r->peak_activation_bytes, (double)r->peak_activation_bytes / 1048576.0);
}

static void size_json(const pl_size_report *r) {
    printf(",\n  \"size\": {\"method\": \"one reference run on zero inputs; 1 MAC = 1 multiply-add, FLOPs = 2 x MACs\", \"batch\": %lld, "
           "\"macs\": %lld, \"flops\": %lld, \"params\": %lld, \"param_bytes\": %lld, \"bytes_at\": {\"fp32\": %lld, \"bf16\": %lld, "
           "\"fp16\": %lld, \"int8\": %lld}, \"peak_activation_bytes\": %lld, \"layers\": [",
           (long long)r->batch, (long long)r->macs, 2 * (long long)r->macs, (long long)r->params, (long long)r->param_bytes,
           (long long)r->bytes_fp32, (long long)r->bytes_bf16, (long long)r->bytes_fp16, (long long)r->bytes_int8,
           (long long)r->peak_activation_bytes);
    for (int i = 0; i < r->n_layers; i++) {
        const pl_layer_size *l = &r->layers[i];
        printf("%s\n    {\"name\": ", i ? "," : "");
        cli_json_string(stdout, l->name);
        printf(", \"op\": ");
        cli_json_string(stdout, l->op);
        printf(", \"dtype\": \"%s\", \"shape\": [", pl_dtype_name(l->dtype));
        for (int d = 0; d < l->rank; d++) printf("%s%lld", d ? ", " : "", (long long)l->dims[d]);
        printf("], \"neurons\": %lld, \"connections\": %lld, \"params\": %lld, \"macs\": %lld, \"activation_bytes\": %lld, "
               "\"input_bytes\": %lld, \"weight_bytes\": %lld, \"flops_per_byte\": %.4f}",
               (long long)l->neurons, (long long)l->connections, (long long)l->params, (long long)l->macs,
               (long long)l->activation_bytes, (long long)l->input_bytes, (long long)l->weight_bytes, l->intensity);
    }
    printf("]}");
}

/* One row of the per-op tactic table of --passes. */
typedef struct tactic_row {
    const char *op, *tactic;
    int count, fused; /* nodes, and how many of them carry post-ops */
} tactic_row;

/* Groups the engine's nodes by (op, tactic); returns the row count (rows malloc'ed in *out). */
static int tactic_rows(const pl_engine *e, tactic_row **out) {
    int n = pl_engine_node_count(e), nr = 0;
    tactic_row *rows = calloc(n ? (size_t)n : 1, sizeof *rows);
    for (int i = 0; rows && i < n; i++) {
        const char *op, *tactic;
        int n_post;
        if (pl_engine_node_get(e, i, &op, NULL, &tactic, &n_post) != PL_OK) continue;
        int k = 0;
        while (k < nr && (strcmp(rows[k].op, op) || strcmp(rows[k].tactic, tactic))) k++;
        if (k == nr) rows[nr++] = (tactic_row){.op = op, .tactic = tactic};
        rows[k].count++;
        rows[k].fused += n_post > 0;
    }
    *out = rows;
    return rows ? nr : 0;
}

static void passes_text(const pl_engine *e, int64_t nodes_before, bool verbose) {
    printf("\npasses (cpu backend, tactics not timed):\n");
    for (int i = 0; i < pl_engine_log_count(e); i++) {
        const char *l = pl_engine_log_line(e, i);
        if (verbose || l[0] != ' ') printf("  %s\n", l);
    }
    printf("  nodes: %lld before, %d after\n", (long long)nodes_before, pl_engine_node_count(e));
    tactic_row *rows;
    int nr = tactic_rows(e, &rows);
    printf("  %-24s %-20s %6s %s\n", "op", "tactic", "nodes", "with post-ops");
    for (int k = 0; k < nr; k++)
        printf("  %-24s %-20s %6d %d\n", rows[k].op, rows[k].tactic, rows[k].count, rows[k].fused);
    free(rows);
    if (!verbose) return;
    printf("  optimized graph:\n");
    for (int i = 0; i < pl_engine_node_count(e); i++) {
        const char *op, *name, *tactic;
        int n_post;
        pl_engine_node_get(e, i, &op, &name, &tactic, &n_post);
        printf("  %-5d %-20s %-28s %-16s", i, op, name, tactic);
        for (int k = 0; k < n_post; k++) printf(" +%s", pl_engine_node_post(e, i, k));
        printf("\n");
    }
}

static void passes_json(const pl_engine *e, int64_t nodes_before) {
    printf(",\n  \"passes\": {\"backend\": \"cpu\", \"tactics_timed\": false, \"nodes_before\": %lld, \"nodes_after\": %d, \"log\": [",
           (long long)nodes_before, pl_engine_node_count(e));
    for (int i = 0; i < pl_engine_log_count(e); i++) {
        printf("%s\n    ", i ? "," : "");
        cli_json_string(stdout, pl_engine_log_line(e, i));
    }
    printf("],\n    \"tactics\": [");
    tactic_row *rows;
    int nr = tactic_rows(e, &rows);
    for (int k = 0; k < nr; k++) {
        printf("%s{\"op\": ", k ? ", " : "");
        cli_json_string(stdout, rows[k].op);
        printf(", \"tactic\": ");
        cli_json_string(stdout, rows[k].tactic);
        printf(", \"nodes\": %d, \"with_post_ops\": %d}", rows[k].count, rows[k].fused);
    }
    free(rows);
    printf("],\n    \"nodes\": [");
    for (int i = 0; i < pl_engine_node_count(e); i++) {
        const char *op, *name, *tactic;
        int n_post;
        pl_engine_node_get(e, i, &op, &name, &tactic, &n_post);
        printf("%s\n      {\"op\": ", i ? "," : "");
        cli_json_string(stdout, op);
        printf(", \"name\": ");
        cli_json_string(stdout, name);
        printf(", \"tactic\": ");
        cli_json_string(stdout, tactic);
        printf(", \"post_ops\": [");
        for (int k = 0; k < n_post; k++) {
            printf("%s", k ? ", " : "");
            cli_json_string(stdout, pl_engine_node_post(e, i, k));
        }
        printf("]}");
    }
    printf("]}");
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool json = false, size = false, passes = false, verbose = false;
    long long batch = 1;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(info_help, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            cli_print_version();
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--size")) size = true;
        else if (!strcmp(argv[i], "--passes")) passes = true;
        else if (!strcmp(argv[i], "--verbose")) verbose = true;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            char *end;
            batch = strtoll(argv[++i], &end, 10);
            if (*end || batch < 1 || batch > 1000000) return cli_usage_error("info", "--batch must be 1..1000000");
        }
        else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("info", "unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage_error("info", "unexpected argument '%s'", argv[i]);
    }
    if (!path) return cli_usage_error("info", "no MODEL given");
    pl_model *m = NULL;
    pl_status st = pl_model_load(path, &m);
    if (st != PL_OK) return cli_fail("info", st);
    pl_model_summary s;
    pl_model_summary_get(m, &s);
    pl_size_report *sz = NULL;
    if (size) {
        st = pl_model_size(m, batch, &sz);
        if (st != PL_OK) {
            pl_model_destroy(m);
            return cli_fail("info", st);
        }
    }
    int unsupported = 0;
    for (int i = 0; i < pl_model_op_count(m); i++) {
        const char *op;
        int64_t count;
        int ok;
        pl_model_op_get(m, i, &op, &count, &ok);
        unsupported += !ok;
    }
    pl_engine *engine = NULL;
    if (passes && !unsupported) {
        pl_build_options bo = {.backend = "cpu"};
        st = pl_engine_build(m, &bo, &engine);
        if (st != PL_OK) {
            pl_size_report_destroy(sz);
            pl_model_destroy(m);
            return cli_fail("info", st);
        }
    }
    if (json) {
        printf("{\n  \"model\": ");
        cli_json_string(stdout, path);
        printf(",\n  \"ir_version\": %lld,\n  \"producer\": ", (long long)s.ir_version);
        cli_json_string(stdout, s.producer);
        printf(",\n  \"graph_name\": ");
        cli_json_string(stdout, s.graph_name);
        printf(",\n  \"opset_imports\": {");
        for (int i = 0; i < pl_model_opset_count(m); i++) {
            const char *d;
            int64_t v;
            pl_model_opset_get(m, i, &d, &v);
            printf("%s", i ? ", " : "");
            cli_json_string(stdout, d[0] ? d : "ai.onnx");
            printf(": %lld", (long long)v);
        }
        printf("},\n  \"metadata\": {");
        for (int i = 0; i < pl_model_metadata_count(m); i++) {
            const char *k, *v;
            pl_model_metadata_get(m, i, &k, &v);
            printf("%s", i ? ", " : "");
            cli_json_string(stdout, k);
            printf(": ");
            cli_json_string(stdout, v);
        }
        printf("},\n");
        io_json(m, true);
        io_json(m, false);
        printf("  \"nodes\": %lld,\n  \"parameters\": {\"count\": %lld, \"bytes\": %lld, \"initializers\": %lld, \"method\": \"sum over initializers\"},\n",
               (long long)s.node_count, (long long)s.parameter_count, (long long)s.parameter_bytes,
               (long long)s.initializer_count);
        printf("  \"ops\": [");
        for (int i = 0; i < pl_model_op_count(m); i++) {
            const char *op;
            int64_t count;
            int ok;
            pl_model_op_get(m, i, &op, &count, &ok);
            printf("%s{\"op\": ", i ? ", " : "");
            cli_json_string(stdout, op);
            printf(", \"count\": %lld, \"supported\": %s}", (long long)count, ok ? "true" : "false");
        }
        printf("],\n  \"all_ops_supported\": %s", unsupported ? "false" : "true");
        if (sz) size_json(sz);
        if (engine) passes_json(engine, s.node_count);
        printf("\n}\n");
    } else {
        printf("model:      %s\n", path);
        printf("producer:   %s\n", s.producer[0] ? s.producer : "(not recorded)");
        printf("ir_version: %lld\n", (long long)s.ir_version);
        printf("opsets:    ");
        for (int i = 0; i < pl_model_opset_count(m); i++) {
            const char *d;
            int64_t v;
            pl_model_opset_get(m, i, &d, &v);
            printf(" %s %lld", d[0] ? d : "ai.onnx", (long long)v);
        }
        printf("\n");
        for (int i = 0; i < pl_model_metadata_count(m); i++) {
            const char *k, *v;
            pl_model_metadata_get(m, i, &k, &v);
            printf("metadata:   %s = %s\n", k, v);
        }
        io_text(m, true);
        io_text(m, false);
        printf("nodes:      %lld (top-level graph)\n", (long long)s.node_count);
        printf("parameters: %lld elements, %lld bytes in %lld initializers\n", (long long)s.parameter_count,
               (long long)s.parameter_bytes, (long long)s.initializer_count);
        printf("ops (count, whole model):\n");
        for (int i = 0; i < pl_model_op_count(m); i++) {
            const char *op;
            int64_t count;
            int ok;
            pl_model_op_get(m, i, &op, &count, &ok);
            printf("  %-28s %6lld%s\n", op, (long long)count, ok ? "" : "   UNSUPPORTED");
        }
        if (unsupported) printf("support:    %d op type(s) not supported (marked above)\n", unsupported);
        else printf("support:    every op is supported\n");
        if (sz) size_text(sz);
        if (engine) passes_text(engine, s.node_count, verbose);
    }
    if (unsupported) {
        fprintf(stderr, "plaster info: %s: %d op type(s) not supported:", path, unsupported);
        for (int i = 0; i < pl_model_op_count(m); i++) {
            const char *op;
            int64_t count;
            int ok;
            pl_model_op_get(m, i, &op, &count, &ok);
            if (!ok) fprintf(stderr, " %s", op);
        }
        fprintf(stderr, "\n");
    }
    pl_engine_destroy(engine);
    pl_size_report_destroy(sz);
    pl_model_destroy(m);
    return unsupported ? 2 : 0;
}
