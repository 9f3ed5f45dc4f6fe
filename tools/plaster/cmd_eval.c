/* cmd_eval.c - `plaster eval`: accuracy of a classifier on a labelled dataset. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *eval_help =
    "usage: plaster eval MODEL|PLAN --dataset D [--limit N] [--batch N] [--threads N] [--backend B]\n"
    "                   [--resize N] [--crop N] [--mean a,b,c] [--std a,b,c] [--layout NCHW|NHWC] [--json] [--quiet]\n"
    "\n"
    "Measures the accuracy of a classifier: runs MODEL on every sample of D and compares the\n"
    "argmax of its first output ([N, classes] logits or probabilities) with the sample's label.\n"
    "Reports top-1 and top-5 accuracy with Wilson score 95% intervals, and (--json) the confusion\n"
    "matrix (row = true label) and per-class accuracy.\n"
    "\n"
    "datasets (D):\n"
    "  fashion-mnist       Debian's dataset-fashion-mnist test set (t10k-*-ubyte.gz, 10,000 images)\n"
    "  PATH/x-images-idx3-ubyte[.gz]  an IDX images file; its labels file (x-labels-idx1-ubyte) beside it\n"
    "  FOLDER/CLASS/*.jpg|png  one sub-folder per class (sorted names = class indices 0, 1, ...)\n"
    "  FOLDER/inputs.npy + labels.npy (or x.npy + y.npy)\n"
    "  FOLDER/test_data_set_*/input_0.pb + output_0.pb  (label = argmax of output_0)\n"
    "\n"
    "preprocessing: 8-bit pixels (IDX, uint8 .npy, images) are scaled to [0,1], then normalised\n"
    "(x-mean)/std: --mean/--std first, else the model's metadata normalize_mean/normalize_std, else\n"
    "(images with 3 channels only) ImageNet's mean/std, else not at all. float .npy and .pb inputs\n"
    "are used as they are. Images are decoded to RGB (gray for 1-channel models), their shorter side\n"
    "resized (bilinear) to --resize, then centre-cropped to --crop. The output says what ran.\n"
    "\n"
    "options:\n"
    "  --dataset D        the dataset (required)\n"
    "  --limit N          evaluate the first N samples only (default: all)\n"
    "  --batch N          samples per inference, bound to a symbolic batch dim (default 1)\n"
    "  --threads N        threads per inference (default: the library's)\n"
    "  --backend B        cpu (default: graph passes, oneDNN, blocked layouts) or reference;\n"
    "                     MODEL may be a plan from `plaster build` (its cpu engine is used)\n"
    "  --resize N         shorter side before cropping (default crop*256/224 for RGB, else crop)\n"
    "  --crop N           centre crop (default: the model input's height)\n"
    "  --mean a[,b,c]     per-channel mean after scaling to [0,1]\n"
    "  --std a[,b,c]      per-channel std (give both --mean and --std)\n"
    "  --layout L         NCHW or NHWC (default: from the input shape)\n"
    "  --json             print a JSON report (with confusion matrix and per-class accuracy)\n"
    "  --quiet            no progress bar\n"
    "\n"
    "exit status: 0 success, 1 error (missing or bad dataset, model output not [N, classes]),\n"
    "2 unsupported op or input type.\n";

static bool parse_count(const char *s, int64_t min, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < min) return false;
    *out = v;
    return true;
}

/* "a,b,c" into v (1..4 values); the count, or 0 when malformed. */
static int parse_floats(const char *s, float *v) {
    int n = 0;
    for (const char *p = s; *p;) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || n == 4) return 0;
        v[n++] = (float)x;
        if (*end == ',') end++;
        else if (*end) return 0;
        p = end;
    }
    return n;
}

static void print_json(const char *model_path, const pl_eval_result *r) {
    printf("{\"model\": ");
    cli_json_string(stdout, model_path);
    printf(", \"dataset\": ");
    cli_json_string(stdout, r->dataset);
    printf(", \"samples\": %lld, \"batch\": %lld, \"classes\": %d,\n", (long long)r->samples, (long long)r->batch,
           r->n_classes);
    printf(" \"top1\": %.6f, \"top1_correct\": %lld, \"top1_ci95\": [%.6f, %.6f],\n", r->top1,
           (long long)r->top1_correct, r->top1_lo, r->top1_hi);
    printf(" \"top5\": %.6f, \"top5_correct\": %lld, \"top5_ci95\": [%.6f, %.6f],\n", r->top5,
           (long long)r->top5_correct, r->top5_lo, r->top5_hi);
    printf(" \"ci_method\": \"Wilson score interval, 95%%\", \"accuracy_unit\": \"fraction of samples\",\n");
    printf(" \"time_s\": %.6f, \"samples_per_s\": %.3f,\n", r->seconds, r->seconds > 0 ? (double)r->samples / r->seconds : 0);
    printf(" \"per_class\": [");
    for (int c = 0; c < r->n_classes; c++) {
        int64_t total = 0, *row = r->confusion + (int64_t)c * r->n_classes;
        for (int j = 0; j < r->n_classes; j++) total += row[j];
        printf("%s{\"class\": %d, \"samples\": %lld, \"correct\": %lld, \"accuracy\": ", c ? ", " : "", c,
               (long long)total, (long long)row[c]);
        if (total) printf("%.6f}", (double)row[c] / (double)total);
        else printf("null}");
    }
    printf("],\n \"confusion\": {\"rows\": \"true label\", \"columns\": \"predicted\", \"counts\": [");
    for (int c = 0; c < r->n_classes; c++) {
        printf("%s[", c ? ",\n   " : "\n   ");
        for (int j = 0; j < r->n_classes; j++)
            printf("%s%lld", j ? "," : "", (long long)r->confusion[(int64_t)c * r->n_classes + j]);
        printf("]");
    }
    printf("]}}\n");
}

static void print_text(const char *model_path, const pl_eval_result *r) {
    printf("model:    %s\n", model_path);
    printf("dataset:  %s\n", r->dataset);
    printf("samples:  %lld (batch %lld, %d classes)\n", (long long)r->samples, (long long)r->batch, r->n_classes);
    printf("top-1:    %.2f %% (%lld correct), 95%% CI [%.2f %%, %.2f %%] (Wilson score interval)\n",
           100 * r->top1, (long long)r->top1_correct, 100 * r->top1_lo, 100 * r->top1_hi);
    printf("top-5:    %.2f %% (%lld correct), 95%% CI [%.2f %%, %.2f %%] (Wilson score interval)\n",
           100 * r->top5, (long long)r->top5_correct, 100 * r->top5_lo, 100 * r->top5_hi);
    printf("time:     %.3f s wall clock, reading and inference (%.1f samples/s)\n", r->seconds,
           r->seconds > 0 ? (double)r->samples / r->seconds : 0);
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL;
    pl_eval_settings s;
    pl_eval_settings_default(&s);
    bool json = false, quiet = false;
    float mean[4], std[4];
    int n_mean = 0, n_std = 0;
    int64_t v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (cli_is_help(a)) {
            fputs(eval_help, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            cli_print_version();
            return 0;
        } else if (!strcmp(a, "--dataset") && has_value) s.dataset = argv[++i];
        else if (!strcmp(a, "--layout") && has_value) s.layout = argv[++i];
        else if (!strcmp(a, "--backend") && has_value) s.backend = argv[++i];
        else if ((!strcmp(a, "--limit") || !strcmp(a, "--batch") || !strcmp(a, "--threads") ||
                  !strcmp(a, "--resize") || !strcmp(a, "--crop")) && has_value) {
            int64_t min = !strcmp(a, "--limit") || !strcmp(a, "--threads") ? 0 : 1;
            if (!parse_count(argv[++i], min, &v) || v > (1LL << 40))
                return cli_usage_error("eval", "%s needs a whole number >= %lld, not '%s'", a, (long long)min, argv[i]);
            if (!strcmp(a, "--limit")) s.limit = v;
            else if (!strcmp(a, "--batch")) s.batch = v;
            else if (!strcmp(a, "--threads")) s.threads = (int)v;
            else if (!strcmp(a, "--resize")) s.resize = v;
            else s.crop = v;
        } else if (!strcmp(a, "--mean") && has_value) {
            if (!(n_mean = parse_floats(argv[++i], mean)))
                return cli_usage_error("eval", "--mean needs 1 to 4 comma-separated numbers, not '%s'", argv[i]);
        } else if (!strcmp(a, "--std") && has_value) {
            if (!(n_std = parse_floats(argv[++i], std)))
                return cli_usage_error("eval", "--std needs 1 to 4 comma-separated numbers, not '%s'", argv[i]);
        } else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (a[0] == '-' && a[1]) return cli_usage_error("eval", "unknown or incomplete option '%s'", a);
        else if (!model_path) model_path = a;
        else return cli_usage_error("eval", "unexpected argument '%s'", a);
    }
    if (!model_path) return cli_usage_error("eval", "no MODEL given");
    if (!s.dataset) return cli_usage_error("eval", "--dataset is required");
    if (n_mean != n_std)
        return cli_usage_error("eval", "--mean and --std must give as many values (%d and %d)", n_mean, n_std);
    if (s.layout && strcmp(s.layout, "NCHW") && strcmp(s.layout, "NHWC"))
        return cli_usage_error("eval", "--layout must be NCHW or NHWC, not '%s'", s.layout);
    s.mean = n_mean ? mean : NULL;
    s.std = n_std ? std : NULL;
    s.n_channels_norm = n_mean;
    s.progress = !quiet && !json;

    bool is_plan;
    int rc = cli_plan_backend("eval", model_path, &s.backend, &is_plan);
    if (rc) return rc;
    pl_model *model = NULL;
    pl_engine *engine = NULL;
    pl_eval_result *r = NULL;
    pl_build_options bo = {.backend = s.backend, .threads = s.threads};
    pl_status st = is_plan ? pl_plan_load(model_path, &bo, &model, &engine) : pl_model_load(model_path, &model);
    s.engine = engine;
    if (st == PL_OK) st = pl_eval_run(model, &s, &r);
    if (st != PL_OK) rc = cli_fail("eval", st);
    else if (json) print_json(model_path, r);
    else print_text(model_path, r);
    pl_eval_result_destroy(r);
    pl_engine_destroy(engine);
    pl_model_destroy(model);
    return rc;
}
