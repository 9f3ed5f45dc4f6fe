/* main.c - the plaster CLI: dispatches to one file per subcommand. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

#ifndef PL_GIT_REV
#define PL_GIT_REV "unknown"
#endif

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"run", cmd_run, "run a model on input files and write its outputs"},
    {"build", cmd_build, "build a model's cpu engine with tactic timing and save it as a plan"},
    {"info", cmd_info, "describe a model: inputs, outputs, opsets, ops, parameters"},
    {"conformance", cmd_conformance, "run ONNX backend-test case folders and compare outputs"},
    {"eval", cmd_eval, "accuracy on a labelled dataset: top-1/top-5 with 95% intervals, confusion"},
    {"bench", cmd_bench, "measure latency, throughput and energy under MLPerf LoadGen scenarios"},
    {"report", cmd_report, "measure a model and write the PLASTER report (JSON, Markdown, HTML)"},
    {"machine", cmd_machine, "describe this machine and measure its FP32, INT8 and memory peaks"},
};

int cli_fail(const char *cmd, pl_status status) {
    fprintf(stderr, "plaster %s: %s\n", cmd, pl_last_error());
    return status == PL_ERR_UNSUPPORTED ? 2 : 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "plaster %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'plaster %s --help')\n", cmd);
    va_end(ap);
    return 1;
}

int cli_plan_backend(const char *cmd, const char *path, const char **backend, bool *is_plan) {
    *is_plan = pl_path_is_plan(path);
    if (*backend && strcmp(*backend, "cpu") && strcmp(*backend, "reference"))
        return cli_usage_error(cmd, "unknown backend '%s' (known: cpu, reference)", *backend);
    if (!*is_plan) {
        if (!*backend) *backend = CLI_DEFAULT_BACKEND;
        return 0;
    }
    if (*backend && strcmp(*backend, "cpu"))
        return cli_usage_error(cmd, "%s is a plan, which holds a cpu engine: --backend %s cannot run it", path, *backend);
    *backend = "cpu";
    return 0;
}

int cli_open(const char *cmd, const char *path, const char *backend, int threads, pl_model **model,
             pl_engine **engine) {
    *model = NULL;
    *engine = NULL;
    bool is_plan;
    int rc = cli_plan_backend(cmd, path, &backend, &is_plan);
    if (rc) return rc;
    pl_build_options bo = {.backend = backend, .threads = threads};
    pl_status st = is_plan ? pl_plan_load(path, &bo, model, engine) : pl_model_load(path, model);
    if (st == PL_OK && !is_plan) st = pl_engine_build(*model, &bo, engine);
    if (st != PL_OK) {
        rc = cli_fail(cmd, st);
        pl_engine_destroy(*engine);
        pl_model_destroy(*model);
        *engine = NULL;
        *model = NULL;
    }
    return rc;
}

bool cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

void cli_print_version(void) { printf("plaster %s (git %s)\n", PL_VERSION_STRING, PL_GIT_REV); }

const char *cli_shape_str(const pl_io_info *info, char *buf, size_t size) {
    if (info->rank < 0) {
        snprintf(buf, size, "?");
        return buf;
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < info->rank && used < size; d++) {
        const char *sep = d ? "," : "";
        if (info->dims[d].symbol && info->dims[d].symbol[0])
            used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, info->dims[d].symbol);
        else if (info->dims[d].value >= 0)
            used += (size_t)snprintf(buf + used, size - used, "%s%lld", sep, (long long)info->dims[d].value);
        else
            used += (size_t)snprintf(buf + used, size - used, "%s?", sep);
    }
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

void cli_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void usage(FILE *f) {
    fprintf(f, "usage: plaster COMMAND [ARGS]\n\n"
               "plaster imports ONNX models, runs them on an optimized CPU engine (checked against an exact\n"
               "reference executor), and measures them.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'plaster COMMAND --help' describes a command. Exit status: 0 success, 1 error,\n"
               "2 unsupported op or type.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        cli_print_version();
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "plaster: unknown command '%s' (see 'plaster --help')\n", argv[1]);
    return 1;
}
