/* cmd_conformance.c - `plaster conformance`: run ONNX backend-test case folders. */
#include "cli.h"

#include <dirent.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_GLOB "/usr/share/libonnx-testdata/data/*/*"

static const char *conformance_help =
    "usage: plaster conformance [CASE_DIR...] [--backend reference|cpu] [--threads N] [--rtol R]\n"
    "                           [--atol A] [--json] [--quiet] [--verbose]\n"
    "\n"
    "Runs ONNX backend-test case folders (model.onnx + test_data_set_*/input_*.pb, output_*.pb)\n"
    "on the reference executor (or the backend named) and compares every output with the expected one, as\n"
    "numpy.isclose(got, expected, rtol, atol) for floats and exactly otherwise. A folder holding\n"
    "case folders is expanded. Default: every case under " DEFAULT_GLOB "\n"
    "(Debian's libonnx-testdata).\n"
    "\n"
    "Skipped (out of scope, with the reason): the string ops RegexFullMatch, StringConcat and\n"
    "StringSplit (StringNormalizer runs), the ai.onnx.preview.training domain, and cases that\n"
    "ship no model or data. Random generators (RandomUniform/Normal[Like], Bernoulli, Multinomial) are\n"
    "checked for shape and type only.\n"
    "\n"
    "Prints one line per failure, a pass rate per folder, and last 'N passed, M failed, K skipped'.\n"
    "\n"
    "options:\n"
    "  --backend B   reference (default) or cpu (the optimized engine: graph passes, oneDNN)\n"
    "  --threads N   threads per inference (default: OpenMP's default)\n"
    "  --rtol R      relative tolerance (default 1e-3)\n"
    "  --atol A      absolute tolerance (default 1e-5)\n"
    "  --json        print results as JSON (every case with its status and reason)\n"
    "  --verbose     print a line for every case, passed ones too\n"
    "  --quiet       no progress line on a terminal\n"
    "\n"
    "exit status: 0 when no case failed, 1 otherwise.\n";

typedef enum { CASE_PASS, CASE_FAIL, CASE_SKIP } case_result;

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static const char *skip_reason(const pl_model *m) {
    static const char *string_ops[] = {"RegexFullMatch", "StringConcat", "StringSplit"};
    for (int i = 0; i < pl_model_op_count(m); i++) {
        const char *op;
        int64_t count;
        int ok;
        pl_model_op_get(m, i, &op, &count, &ok);
        if (!strncmp(op, "ai.onnx.preview.training::", 26)) return "ai.onnx.preview.training domain (out of scope)";
        for (size_t k = 0; k < sizeof string_ops / sizeof string_ops[0]; k++)
            if (!strcmp(op, string_ops[k])) return "string op (out of scope)";
    }
    return NULL;
}

static bool is_random(const pl_model *m) {
    static const char *random_ops[] = {"RandomUniform", "RandomNormal", "RandomUniformLike",
                                       "RandomNormalLike", "Bernoulli", "Multinomial"};
    for (int i = 0; i < pl_model_op_count(m); i++) {
        const char *op;
        int64_t count;
        int ok;
        pl_model_op_get(m, i, &op, &count, &ok);
        for (size_t k = 0; k < sizeof random_ops / sizeof random_ops[0]; k++)
            if (!strcmp(op, random_ops[k])) return true;
    }
    return false;
}

static int count_files(const char *dir, const char *prefix) {
    int n = 0;
    char p[4096];
    for (;;) {
        snprintf(p, sizeof p, "%s/%s_%d.pb", dir, prefix, n);
        if (!exists(p)) return n;
        n++;
    }
}

static int shape_type_match(const pl_tensor *e, const pl_tensor *g, char *why, size_t n) {
    if (pl_tensor_seq_length(e) >= 0 || pl_tensor_is_none(e)) return pl_tensor_compare(e, g, 1e-3, 1e-5, why, n);
    if (pl_tensor_dtype(e) != pl_tensor_dtype(g) || pl_tensor_rank(e) != pl_tensor_rank(g) ||
        memcmp(pl_tensor_dims(e), pl_tensor_dims(g), sizeof(int64_t) * (size_t)pl_tensor_rank(e))) {
        snprintf(why, n, "random op output: shape or type differs");
        return 0;
    }
    return 1;
}

/* Runs one data set; returns CASE_PASS or CASE_FAIL with the reason. */
static case_result run_set(const pl_model *m, pl_context *ctx, const char *set, bool random, double rtol,
                           double atol, char *why, size_t why_size) {
    int n_in = pl_model_input_count(m), n_out = pl_model_output_count(m);
    int have_in = count_files(set, "input"), have_out = count_files(set, "output");
    if (have_in != n_in) {
        snprintf(why, why_size, "%s holds %d inputs, the model takes %d", set, have_in, n_in);
        return CASE_FAIL;
    }
    if (have_out > n_out) {
        snprintf(why, why_size, "%s holds %d outputs, the model has %d", set, have_out, n_out);
        return CASE_FAIL;
    }
    pl_tensor **in = calloc((size_t)n_in + 1, sizeof *in);
    pl_tensor **out = calloc((size_t)n_out + 1, sizeof *out);
    pl_tensor *expected = NULL;
    case_result r = CASE_PASS;
    char p[4096];
    if (!in || !out) {
        snprintf(why, why_size, "out of memory");
        r = CASE_FAIL;
    }
    for (int i = 0; r == CASE_PASS && i < n_in; i++) {
        pl_io_info info;
        pl_model_input_info(m, i, &info);
        snprintf(p, sizeof p, "%s/input_%d.pb", set, i);
        if (pl_value_load_pb(p, info.kind, &in[i]) != PL_OK) {
            snprintf(why, why_size, "%s", pl_last_error());
            r = CASE_FAIL;
        }
    }
    if (r == CASE_PASS && pl_context_run(ctx, n_in, in, n_out, out) != PL_OK) {
        snprintf(why, why_size, "%s", pl_last_error());
        r = CASE_FAIL;
    }
    for (int i = 0; r == CASE_PASS && i < have_out; i++) {
        pl_io_info info;
        pl_model_output_info(m, i, &info);
        snprintf(p, sizeof p, "%s/output_%d.pb", set, i);
        if (pl_value_load_pb(p, info.kind, &expected) != PL_OK) {
            snprintf(why, why_size, "%s", pl_last_error());
            r = CASE_FAIL;
            break;
        }
        char inner[512];
        int ok = random ? shape_type_match(expected, out[i], inner, sizeof inner)
                        : pl_tensor_compare(expected, out[i], rtol, atol, inner, sizeof inner);
        if (!ok) {
            snprintf(why, why_size, "output %d '%s': %s", i, info.name, inner);
            r = CASE_FAIL;
        }
        pl_tensor_destroy(expected);
        expected = NULL;
    }
    for (int i = 0; in && i < n_in; i++) pl_tensor_destroy(in[i]);
    for (int i = 0; out && i < n_out; i++) pl_tensor_destroy(out[i]);
    free(in);
    free(out);
    return r;
}

static case_result run_case(const char *dir, const char *backend, int threads, double rtol, double atol,
                            char *why, size_t why_size) {
    char p[4096];
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    if (!exists(p)) {
        snprintf(why, why_size, "no model.onnx (download-only case)");
        return CASE_SKIP;
    }
    pl_model *m = NULL;
    pl_engine *e = NULL;
    pl_context *ctx = NULL;
    pl_status st = pl_model_load(p, &m);
    if (st != PL_OK) {
        snprintf(why, why_size, "%s", pl_last_error());
        return CASE_FAIL;
    }
    const char *skip = skip_reason(m);
    if (skip) {
        snprintf(why, why_size, "%s", skip);
        pl_model_destroy(m);
        return CASE_SKIP;
    }
    case_result r = CASE_PASS;
    pl_build_options opt = {.backend = backend, .threads = threads};
    if (pl_engine_build(m, &opt, &e) != PL_OK || pl_context_create(e, &ctx) != PL_OK) {
        snprintf(why, why_size, "%s", pl_last_error());
        r = CASE_FAIL;
    }
    int sets = 0;
    for (int s = 0; r == CASE_PASS; s++) {
        snprintf(p, sizeof p, "%s/test_data_set_%d", dir, s);
        if (!is_dir(p)) break;
        sets++;
        r = run_set(m, ctx, p, is_random(m), rtol, atol, why, why_size);
    }
    if (r == CASE_PASS && sets == 0) {
        snprintf(why, why_size, "no test_data_set_0 folder");
        r = CASE_SKIP;
    }
    pl_context_destroy(ctx);
    pl_engine_destroy(e);
    pl_model_destroy(m);
    return r;
}

static int add_case(char ***cases, int *n, int *cap, const char *path) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        char **nc = realloc(*cases, (size_t)*cap * sizeof *nc);
        if (!nc) return -1;
        *cases = nc;
    }
    (*cases)[(*n)++] = strdup(path);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A case folder is taken as is; a folder of case folders is expanded one level. */
static int collect(const char *path, char ***cases, int *n, int *cap) {
    char p[4096];
    snprintf(p, sizeof p, "%s/model.onnx", path);
    snprintf(p, sizeof p, "%s/model.onnx", path);
    if (exists(p) || !is_dir(path)) return add_case(cases, n, cap, path);
    snprintf(p, sizeof p, "%s/data.json", path);
    if (exists(p)) return add_case(cases, n, cap, path);
    DIR *d = opendir(path);
    if (!d) return add_case(cases, n, cap, path);
    int first = *n;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", path, ent->d_name);
        if (is_dir(p) && add_case(cases, n, cap, p)) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    qsort(*cases + first, (size_t)(*n - first), sizeof **cases, cmp_str);
    return 0;
}

/* "node" for ".../data/node/test_abs". */
static void folder_of(const char *c, char *out, size_t n) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", c);
    size_t len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/') tmp[--len] = 0;
    char *slash = strrchr(tmp, '/');
    if (!slash) {
        snprintf(out, n, ".");
        return;
    }
    *slash = 0;
    slash = strrchr(tmp, '/');
    snprintf(out, n, "%s", slash ? slash + 1 : tmp);
}

static const char *base_of(const char *c) {
    const char *s = strrchr(c, '/');
    return s && s[1] ? s + 1 : c;
}

int cmd_conformance(int argc, char **argv) {
    double rtol = 1e-3, atol = 1e-5;
    const char *backend = "reference";
    int threads = 0;
    bool any_path = false;
    bool json = false, quiet = false, verbose = false;
    char **cases = NULL;
    int n = 0, cap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(conformance_help, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            cli_print_version();
            return 0;
        } else if (!strcmp(a, "--rtol") && i + 1 < argc) rtol = atof(argv[++i]);
        else if (!strcmp(a, "--atol") && i + 1 < argc) atol = atof(argv[++i]);
        else if (!strcmp(a, "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(a, "--threads") && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 0 || t > 4096) return cli_usage_error("conformance", "--threads must be 0..4096");
            threads = (int)t;
        } else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--verbose")) verbose = true;
        else if (a[0] == '-' && a[1]) return cli_usage_error("conformance", "unknown or incomplete option '%s'", a);
        else if ((any_path = true) && collect(a, &cases, &n, &cap)) return cli_usage_error("conformance", "out of memory");
    }
    if (strcmp(backend, "reference") && strcmp(backend, "cpu"))
        return cli_usage_error("conformance", "unknown backend '%s' (known: reference, cpu)", backend);
    if (n == 0 && any_path) return cli_usage_error("conformance", "no case folders found");
    if (n == 0) {
        glob_t g;
        if (glob(DEFAULT_GLOB, GLOB_ONLYDIR, NULL, &g) != 0) {
            fprintf(stderr, "plaster conformance: no cases under %s (install Debian's libonnx-testdata)\n", DEFAULT_GLOB);
            return 1;
        }
        for (size_t i = 0; i < g.gl_pathc; i++) add_case(&cases, &n, &cap, g.gl_pathv[i]);
        globfree(&g);
    }
    bool tty = !quiet && !json && isatty(2);
    int passed = 0, failed = 0, skipped = 0;
    /* per folder tallies */
    char folders[32][128];
    int fp[32] = {0}, ff[32] = {0}, fs[32] = {0}, nf = 0;
    if (json) printf("{\"cases\": [\n");
    for (int i = 0; i < n; i++) {
        if (tty) fprintf(stderr, "\r\033[K[%d/%d] %s", i + 1, n, base_of(cases[i]));
        char why[2048] = "";
        case_result r = run_case(cases[i], backend, threads, rtol, atol, why, sizeof why);
        char folder[128];
        folder_of(cases[i], folder, sizeof folder);
        int k = 0;
        while (k < nf && strcmp(folders[k], folder)) k++;
        if (k == nf && nf < 32) snprintf(folders[nf++], sizeof folders[0], "%s", folder);
        if (r == CASE_PASS) passed++, fp[k < 32 ? k : 31]++;
        else if (r == CASE_FAIL) failed++, ff[k < 32 ? k : 31]++;
        else skipped++, fs[k < 32 ? k : 31]++;
        const char *label = r == CASE_PASS ? "PASS" : r == CASE_FAIL ? "FAIL" : "SKIP";
        if (json) {
            printf("  %s{\"case\": ", i ? "," : "");
            cli_json_string(stdout, cases[i]);
            printf(", \"folder\": ");
            cli_json_string(stdout, folder);
            printf(", \"status\": \"%s\", \"reason\": ", r == CASE_PASS ? "pass" : r == CASE_FAIL ? "fail" : "skip");
            cli_json_string(stdout, why);
            printf("}\n");
        } else if (r == CASE_FAIL || verbose) {
            if (tty) fprintf(stderr, "\r\033[K");
            printf("%s %s/%s%s%s\n", label, folder, base_of(cases[i]), why[0] ? ": " : "", why);
            fflush(stdout);
        }
        free(cases[i]);
    }
    free(cases);
    if (tty) fprintf(stderr, "\r\033[K");
    if (json) {
        printf("], \"folders\": {");
        for (int k = 0; k < nf; k++) {
            printf("%s", k ? ", " : "");
            cli_json_string(stdout, folders[k]);
            printf(": {\"passed\": %d, \"failed\": %d, \"skipped\": %d}", fp[k], ff[k], fs[k]);
        }
        printf("}, \"backend\": ");
        cli_json_string(stdout, backend);
        printf(", \"passed\": %d, \"failed\": %d, \"skipped\": %d, \"rtol\": %g, \"atol\": %g}\n", passed,
               failed, skipped, rtol, atol);
    } else {
        for (int k = 0; k < nf; k++) {
            int run = fp[k] + ff[k];
            printf("%-20s %4d/%-4d passed (%.1f%%), %d skipped\n", folders[k], fp[k], run,
                   run ? 100.0 * fp[k] / run : 0.0, fs[k]);
        }
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    }
    return failed ? 1 : 0;
}
