/* cmd_info.c - `plaster info`: describe a model. */
#include "cli.h"

#include <string.h>

static const char *info_help =
    "usage: plaster info MODEL [--json]\n"
    "\n"
    "Describes an ONNX model: graph inputs and outputs with types and shapes (symbolic dims by\n"
    "name), IR version, opset imports, producer, metadata, the op histogram (subgraphs\n"
    "included), parameter count and bytes (from initializers), and whether every op is\n"
    "supported by plaster's reference executor, listing those that are not.\n"
    "\n"
    "options:\n"
    "  --json    print the same as one JSON object\n"
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

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(info_help, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--version")) {
            cli_print_version();
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = true;
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
    int unsupported = 0;
    for (int i = 0; i < pl_model_op_count(m); i++) {
        const char *op;
        int64_t count;
        int ok;
        pl_model_op_get(m, i, &op, &count, &ok);
        unsupported += !ok;
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
        printf("],\n  \"all_ops_supported\": %s\n}\n", unsupported ? "false" : "true");
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
    pl_model_destroy(m);
    return unsupported ? 2 : 0;
}
