/* loadgen.h - internals of the load generator shared by loadgen.c (settings, setup, results,
 * peak search) and loadgen_run.c (the timed scenario runs: streams, arrivals, energy window). */
#ifndef PL_LOADGEN_H
#define PL_LOADGEN_H

#include "../core/core.h"
#include "energy.h"

typedef struct pl_lg_stream {
    int index;
    pl_context *ctx;
    int n_nodes;
    double *node_ns; /* per top-level node, this stream's profile */
    int64_t *node_calls;
    const char **node_op; /* the fused op that ran in the node's place (static), or NULL */
    /* this stream's output tensors, kept from query to query and bound to the next one
     * (pl_context_run_into: the bench's inputs keep their shapes, so a query allocates nothing
     * for its outputs); NULL where an output is not a plain tensor */
    int n_kept;
    pl_tensor **kept;
} pl_lg_stream;

typedef struct pl_lg_event {
    int64_t query;
    int stream;
    double start_ns, end_ns; /* from the first issue of the run */
} pl_lg_event;

/* The result as handed out: pl_bench_result first, so the public pointer is the box. */
typedef struct pl_lg_result {
    pl_bench_result r;
    pl_lg_event *events; /* one per inference, for --trace */
    int64_t n_events;
} pl_lg_result;

typedef struct pl_lg {
    const pl_model *model;
    const pl_bench_settings *s;
    pl_engine *engine;
    pl_model *plan_model; /* the model of s->plan_path's plan (the engine borrows it), or NULL */
    int64_t batch;
    int n_in, n_out;
    pl_tensor *const *inputs;
    pl_tensor **owned_inputs;
    int n_streams;
    pl_lg_stream *streams;
    double load_ns, build_ns, first_run_ns, est_ns, fastest_ns; /* est: warmup mean */
    int saved_omp_threads;
    pl_energy_meter *meter; /* NULL when none could be opened */
    char meter_desc[512];
    int meter_estimate;
    double idle_w;
    int n_points, cap_points;
    pl_server_point *points;
} pl_lg;

double pl_lg_now_ns(void);
/* One inference of the bench inputs on `stream`'s context; outputs discarded. */
pl_status pl_lg_infer(pl_lg *b, int stream);
/* Zeroes the per-node profile and turns the hooks on or off. */
void pl_lg_profile_arm(pl_lg *b, int on);
/* One timed run of the settings' scenario (server at `target_qps`), result newly allocated. */
pl_status pl_lg_run_scenario(pl_lg *b, double target_qps, pl_lg_result **out);
/* Fills statistics, validity, energy and profile of a run whose latencies are recorded. */
pl_status pl_lg_finish(pl_lg *b, pl_lg_result *box, double target_qps);

#endif
