/* cmd_run.c - `plaster run`: run a model on input files and write its outputs. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *run_help =
    "usage: plaster run MODEL|PLAN --input-dir DIR --output-dir OUT [--backend B] [--format pb|npy] [--json]\n"
    "\n"
    "Runs MODEL (ONNX) on the chosen backend (default: cpu, the optimized engine), or a PLAN made by\n"
    "`plaster build` on the cpu engine it holds (no tactic timing; --threads overrides its threads). Reads DIR/input_<i>.pb (ONNX TensorProto,\n"
    "or SequenceProto/OptionalProto for such inputs), or DIR/input_<i>.npy with --format npy,\n"
    "bound to the model's graph inputs in order (initializers excluded), and writes\n"
    "OUT/output_<i>.pb (or .npy) for each graph output in order. OUT is created if missing.\n"
    "\n"
    "options:\n"
    "  --input-dir DIR    folder holding input_0, input_1, ... (required when the model has inputs)\n"
    "  --output-dir OUT   folder to write output_0, output_1, ... into (required)\n"
    "  --format pb|npy    file format of inputs and outputs (default pb)\n"
    "  --backend B        cpu (default: graph passes, oneDNN, blocked layouts) or reference\n"
    "  --threads N        threads per inference (default: OpenMP's default)\n"
    "  --json             print a JSON summary of the outputs (name, type, shape, file, time)\n"
    "  --quiet            print nothing on success\n"
    "\n"
    "exit status: 0 success, 1 error (bad model, missing or mismatched input), 2 unsupported op.\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

int cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *in_dir = NULL, *out_dir = NULL, *format = "pb", *backend = NULL;
    int threads = 0;
    bool json = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(run_help, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            cli_print_version();
            return 0;
        } else if (!strcmp(a, "--input-dir") && i + 1 < argc) in_dir = argv[++i];
        else if (!strcmp(a, "--output-dir") && i + 1 < argc) out_dir = argv[++i];
        else if (!strcmp(a, "--format") && i + 1 < argc) format = argv[++i];
        else if (!strcmp(a, "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(a, "--threads") && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 0 || t > 4096) return cli_usage_error("run", "--threads must be 0..4096");
            threads = (int)t;
        }
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (a[0] == '-' && a[1]) return cli_usage_error("run", "unknown or incomplete option '%s'", a);
        else if (!model_path) model_path = a;
        else return cli_usage_error("run", "unexpected argument '%s'", a);
    }
    if (!model_path) return cli_usage_error("run", "no MODEL given");
    if (!out_dir) return cli_usage_error("run", "--output-dir is required");
    bool npy = !strcmp(format, "npy");
    if (!npy && strcmp(format, "pb")) return cli_usage_error("run", "--format must be pb or npy, not '%s'", format);
    const char *ext = npy ? "npy" : "pb";

    pl_model *model = NULL;
    pl_engine *engine = NULL;
    pl_context *ctx = NULL;
    pl_tensor **inputs = NULL, **outputs = NULL;
    int n_in = 0, n_out = 0, rc = 0;
    pl_status st = PL_OK;
    rc = cli_open("run", model_path, backend, threads, &model, &engine);
    if (rc) goto done;
    st = pl_context_create(engine, &ctx);
    if (st != PL_OK) {
        rc = cli_fail("run", st);
        goto done;
    }
    n_in = pl_model_input_count(model);
    n_out = pl_model_output_count(model);
    inputs = calloc((size_t)n_in + 1, sizeof *inputs);
    outputs = calloc((size_t)n_out + 1, sizeof *outputs);
    if (!inputs || !outputs) {
        fprintf(stderr, "plaster run: out of memory\n");
        rc = 1;
        goto done;
    }
    if (n_in > 0 && !in_dir) {
        rc = cli_usage_error("run", "the model takes %d inputs: --input-dir is required", n_in);
        goto done;
    }
    char path[4096];
    for (int i = 0; i < n_in; i++) {
        snprintf(path, sizeof path, "%s/input_%d.%s", in_dir, i, ext);
        pl_io_info info;
        pl_model_input_info(model, i, &info);
        if (!file_exists(path)) {
            fprintf(stderr, "plaster run: %s: missing; the model takes %d inputs (input %d is '%s')\n",
                    path, n_in, i, info.name);
            rc = 1;
            goto done;
        }
        st = npy ? pl_tensor_load_npy(path, &inputs[i]) : pl_value_load_pb(path, info.kind, &inputs[i]);
        if (st != PL_OK) {
            rc = cli_fail("run", st);
            goto done;
        }
    }
    if (in_dir) {
        snprintf(path, sizeof path, "%s/input_%d.%s", in_dir, n_in, ext);
        if (file_exists(path)) {
            fprintf(stderr, "plaster run: %s: the model takes %d inputs, but the folder holds more\n", path, n_in);
            rc = 1;
            goto done;
        }
    }
    double t0 = now_ms();
    st = pl_context_run(ctx, n_in, inputs, n_out, outputs);
    double elapsed = now_ms() - t0;
    if (st != PL_OK) {
        rc = cli_fail("run", st);
        goto done;
    }
    if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "plaster run: %s: cannot create the output folder: %s\n", out_dir, strerror(errno));
        rc = 1;
        goto done;
    }
    if (json) printf("{\"model\": "), cli_json_string(stdout, model_path), printf(", \"run_ms\": %.3f, \"outputs\": [", elapsed);
    for (int i = 0; i < n_out; i++) {
        pl_io_info info;
        pl_model_output_info(model, i, &info);
        snprintf(path, sizeof path, "%s/output_%d.%s", out_dir, i, ext);
        st = npy ? pl_tensor_save_npy(outputs[i], path) : pl_value_save_pb(outputs[i], info.kind, info.name, path);
        if (st != PL_OK) {
            if (json) printf("]}\n");
            rc = cli_fail("run", st);
            goto done;
        }
        if (json) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_string(stdout, info.name);
            printf(", \"file\": ");
            cli_json_string(stdout, path);
            int seq = pl_tensor_seq_length(outputs[i]);
            if (seq >= 0) {
                printf(", \"kind\": \"sequence\", \"length\": %d}", seq);
            } else if (pl_tensor_is_none(outputs[i])) {
                printf(", \"kind\": \"optional\", \"empty\": true}");
            } else {
                printf(", \"dtype\": \"%s\", \"shape\": [", pl_dtype_name(pl_tensor_dtype(outputs[i])));
                for (int d = 0; d < pl_tensor_rank(outputs[i]); d++)
                    printf("%s%lld", d ? ", " : "", (long long)pl_tensor_dims(outputs[i])[d]);
                printf("]}");
            }
        } else if (!quiet) {
            printf("wrote %s (%s)\n", path, info.name);
        }
    }
    if (json) printf("]}\n");
    else if (!quiet)
        printf("ran in %.3f ms (wall clock, one run, %s)\n", elapsed,
               pl_path_is_plan(model_path) ? "cpu engine of the plan" : backend && !strcmp(backend, "reference") ? "reference executor" : "cpu backend");
done:
    for (int i = 0; inputs && i < n_in; i++) pl_tensor_destroy(inputs[i]);
    for (int i = 0; outputs && i < n_out; i++) pl_tensor_destroy(outputs[i]);
    free(inputs);
    free(outputs);
    pl_context_destroy(ctx);
    pl_engine_destroy(engine);
    pl_model_destroy(model);
    return rc;
}
