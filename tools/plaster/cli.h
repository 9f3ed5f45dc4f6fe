/* cli.h - shared pieces of the plaster command-line tool (built only on plaster.h). */
#ifndef PL_CLI_H
#define PL_CLI_H

#include "plaster.h"

#include <stdbool.h>
#include <stdio.h>

/* Print "plaster CMD: message" to stderr and return the exit code for `status`
 * (2 for unsupported, 1 otherwise). */
int cli_fail(const char *cmd, pl_status status);
/* Print "plaster CMD: message" for a usage error and return 1. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The backend of run, bench, report and eval when no --backend is given: the optimized engine.
 * (conformance defaults to the reference executor, the correctness yardstick.) */
#define CLI_DEFAULT_BACKEND "cpu"

/* When `path` is a plan (by its magic bytes): *is_plan = true and *backend becomes "cpu"; a
 * --backend other than cpu given with a plan is a usage error (returns 1). An unknown backend is
 * a usage error; a NULL one becomes CLI_DEFAULT_BACKEND. Returns 0 otherwise. */
int cli_plan_backend(const char *cmd, const char *path, const char **backend, bool *is_plan);
/* Loads MODEL, an ONNX file or a plan, and its engine (a plan's own cpu engine; else built for
 * `backend`, NULL: CLI_DEFAULT_BACKEND). Returns 0, or the exit code after printing the error. */
int cli_open(const char *cmd, const char *path, const char *backend, int threads, pl_model **model,
             pl_engine **engine);
/* True when `arg` is "--help" or "-h". */
bool cli_is_help(const char *arg);
void cli_print_version(void);
/* "[1,3,N,224]" for an io info. */
const char *cli_shape_str(const pl_io_info *info, char *buf, size_t size);
/* Shell-quoted JSON string escape into out. */
void cli_json_string(FILE *f, const char *s);

int cmd_run(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_machine(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
