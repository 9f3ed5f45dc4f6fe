/* loadgen.c - the load generator: MLPerf LoadGen's four scenarios over execution contexts that
 * share one engine, one context per stream, each stream served by its own pthread.
 *
 * Times are CLOCK_MONOTONIC nanoseconds. A query's latency runs from its issue (server: its
 * scheduled Poisson arrival, so queueing counts) to the completion of its last inference. */
#include "loadgen.h"

#include "../engine/engine.h"
#include "stats.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double pl_lg_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

void pl_bench_settings_default(pl_bench_settings *s, pl_scenario scenario) {
    memset(s, 0, sizeof *s);
    s->scenario = scenario;
    s->min_duration_s = 10.0;
    s->warmup_ms = 500.0;
    s->batch = 1;
    s->streams = 1;
    s->samples_per_query = 8;
    s->sla_ms = 100.0;
    s->seed = 1;
    switch (scenario) {
    case PL_SCENARIO_SINGLE_STREAM: s->min_queries = pl_early_stopping_min_run(0.90, 0, 0.99); break;
    case PL_SCENARIO_MULTI_STREAM: s->min_queries = pl_early_stopping_min_run(0.99, 0, 0.99); break;
    case PL_SCENARIO_SERVER: s->min_queries = pl_early_stopping_min_queries(0, 0.99, 0, 0.99); break;
    case PL_SCENARIO_OFFLINE: s->min_queries = 1; break;
    }
}

const char *pl_scenario_name(pl_scenario scenario) {
    switch (scenario) {
    case PL_SCENARIO_SINGLE_STREAM: return "single-stream";
    case PL_SCENARIO_MULTI_STREAM: return "multi-stream";
    case PL_SCENARIO_SERVER: return "server";
    case PL_SCENARIO_OFFLINE: return "offline";
    }
    return "unknown";
}

void pl_bench_result_destroy(pl_bench_result *r) {
    if (!r) return;
    pl_lg_result *box = (pl_lg_result *)r;
    free(r->nodes);
    free(r->points);
    free(r->latencies_ns);
    free(box->events);
    free(box);
}

/* ---- inputs ---- */

static pl_status fill_random(pl_tensor *t, pl_rng *rng) {
    int64_t n = pl_tensor_numel(t);
    void *d = pl_tensor_data(t);
    switch (pl_tensor_dtype(t)) {
    case PL_DT_FLOAT:
        for (int64_t i = 0; i < n; i++) ((float *)d)[i] = (float)pl_rng_uniform(rng);
        break;
    case PL_DT_DOUBLE:
        for (int64_t i = 0; i < n; i++) ((double *)d)[i] = pl_rng_uniform(rng);
        break;
    case PL_DT_INT64:
        for (int64_t i = 0; i < n; i++) ((int64_t *)d)[i] = (int64_t)(pl_rng_next(rng) & 1);
        break;
    case PL_DT_INT32:
        for (int64_t i = 0; i < n; i++) ((int32_t *)d)[i] = (int32_t)(pl_rng_next(rng) & 1);
        break;
    case PL_DT_UINT8:
    case PL_DT_INT8:
    case PL_DT_BOOL:
        for (int64_t i = 0; i < n; i++) ((uint8_t *)d)[i] = (uint8_t)(pl_rng_next(rng) & 1);
        break;
    default: break; /* other types stay zero-filled: a valid value of every type */
    }
    return PL_OK;
}

/* Creates one sample's inputs from the model's declared types: symbolic or unknown dim 0 is
 * bound to `batch`, other unknown dims to 1; values seeded-random (integers 0 or 1). */
static pl_status make_inputs(pl_lg *b) {
    const pl_model *m = b->model;
    b->n_in = pl_model_input_count(m);
    b->owned_inputs = calloc((size_t)b->n_in + 1, sizeof *b->owned_inputs);
    if (!b->owned_inputs) return pl_err(PL_ERR_NOMEM, "out of memory");
    pl_rng rng;
    pl_rng_seed(&rng, b->s->seed ^ 0x5eedull);
    for (int i = 0; i < b->n_in; i++) {
        pl_io_info info;
        PL_TRY(pl_model_input_info(m, i, &info));
        if (info.kind != PL_VALUE_TENSOR || info.dtype == PL_DT_UNDEFINED)
            return pl_err(PL_ERR_UNSUPPORTED, "bench: input %d '%s' is not a typed tensor; give its values with --input-dir",
                          i, info.name);
        int rank = info.rank < 0 ? 1 : info.rank;
        int64_t dims[PL_MAX_RANK];
        for (int d = 0; d < rank; d++) {
            int64_t v = info.rank < 0 ? -1 : info.dims[d].value;
            dims[d] = v >= 0 ? v : d == 0 ? b->batch : 1;
        }
        if (i == 0 && rank > 0 && info.rank >= 0 && info.dims[0].value >= 0) b->batch = dims[0];
        PL_TRY(pl_tensor_create(info.dtype, rank, dims, &b->owned_inputs[i]));
        PL_TRY(fill_random(b->owned_inputs[i], &rng));
    }
    b->inputs = b->owned_inputs;
    return PL_OK;
}

/* ---- one inference on one stream ---- */

/* The ops the cpu backend's passes make of several nodes (docs/ENGINE.md, section 2), as
 * static strings: a profile names the node that ran, and outlives the engine that ran it. */
static const char *fused_op(const char *op) {
    static const char *const ops[] = {"SqueezeExcitation", "LayerNormalization"};
    for (size_t i = 0; op && i < sizeof ops / sizeof *ops; i++)
        if (!strcmp(op, ops[i])) return ops[i];
    return NULL;
}

static void profile_hook(void *user, int node_index, const pl_node *node,
                         const pl_tensor *const *inputs, pl_tensor *const *outputs, double ns) {
    pl_lg_stream *st = user;
    if (node_index < 0 || node_index >= st->n_nodes) return;
    st->node_ns[node_index] += ns;
    st->node_calls[node_index]++;
    if (node) st->node_op[node_index] = fused_op(node->op_type);
}

pl_status pl_lg_infer(pl_lg *b, int stream) {
    pl_lg_stream *s = &b->streams[stream];
    pl_tensor *outs[64] = {NULL};
    int n_out = b->n_out < 64 ? b->n_out : 64;
    if (!s->kept) {
        s->kept = calloc(n_out ? (size_t)n_out : 1, sizeof *s->kept);
        if (!s->kept) return pl_err(PL_ERR_NOMEM, "out of memory");
        s->n_kept = n_out;
    }
    for (int i = 0; i < n_out; i++) outs[i] = s->kept[i];
    pl_status st = pl_context_run_into(s->ctx, b->n_in, b->inputs, n_out, outs);
    for (int i = 0; i < n_out; i++) {
        if (st == PL_OK && outs[i] && outs[i]->kind == PL_KIND_TENSOR) {
            s->kept[i] = outs[i]; /* bound again next query */
            continue;
        }
        if (outs[i] != s->kept[i]) pl_tensor_destroy(outs[i]);
        pl_tensor_destroy(s->kept[i]);
        s->kept[i] = NULL;
    }
    return st;
}

/* ---- setup and teardown ---- */

static void lg_free(pl_lg *b) {
    if (b->streams)
        for (int i = 0; i < b->n_streams; i++) {
            pl_context_destroy(b->streams[i].ctx);
            for (int k = 0; b->streams[i].kept && k < b->streams[i].n_kept; k++) pl_tensor_destroy(b->streams[i].kept[k]);
            free(b->streams[i].kept);
            free(b->streams[i].node_ns);
            free(b->streams[i].node_calls);
            free(b->streams[i].node_op);
        }
    free(b->streams);
    if (b->owned_inputs)
        for (int i = 0; i < b->n_in; i++) pl_tensor_destroy(b->owned_inputs[i]);
    free(b->owned_inputs);
    pl_engine_destroy(b->engine);
    pl_model_destroy(b->plan_model);
    if (b->meter) pl_energy_meter_close(b->meter);
    free(b->points);
}

static pl_status check_settings(const pl_bench_settings *s) {
    if (!(s->min_duration_s >= 0) || !isfinite(s->min_duration_s))
        return pl_err(PL_ERR_INVALID, "bench: duration must be a non-negative number of seconds, got %g", s->min_duration_s);
    if (s->min_queries < 0) return pl_err(PL_ERR_INVALID, "bench: min queries must be >= 0, got %lld", (long long)s->min_queries);
    if (!(s->warmup_ms >= 0)) return pl_err(PL_ERR_INVALID, "bench: warmup must be >= 0 ms, got %g", s->warmup_ms);
    if (s->batch < 1) return pl_err(PL_ERR_INVALID, "bench: batch must be >= 1, got %lld", (long long)s->batch);
    if (s->threads < 0) return pl_err(PL_ERR_INVALID, "bench: threads must be >= 0, got %d", s->threads);
    if (s->streams < 1 || s->streams > 1024) return pl_err(PL_ERR_INVALID, "bench: streams must be in 1..1024, got %d", s->streams);
    if (s->samples_per_query < 1) return pl_err(PL_ERR_INVALID, "bench: samples per query must be >= 1, got %lld", (long long)s->samples_per_query);
    if (s->scenario == PL_SCENARIO_SERVER) {
        if (!(s->sla_ms > 0)) return pl_err(PL_ERR_INVALID, "bench: server SLA must be > 0 ms, got %g", s->sla_ms);
        if (!s->find_peak && !(s->target_qps > 0) )
            return pl_err(PL_ERR_INVALID, "bench: the server scenario needs a target QPS > 0 (or find-peak)");
    }
    if ((int)s->scenario < 0 || (int)s->scenario > 3) return pl_err(PL_ERR_INVALID, "bench: unknown scenario %d", (int)s->scenario);
    return PL_OK;
}

static pl_status open_meter(pl_lg *b) {
    pl_energy_options eo = {.force = b->s->energy_meter, .external = b->s->energy_external};
    if (!eo.force && eo.external) eo.force = "external";
    pl_status st = pl_energy_meter_open(&eo, &b->meter);
    if (st != PL_OK) {
        if (eo.force) return st; /* a meter asked for by name must work */
        snprintf(b->meter_desc, sizeof b->meter_desc, "none (%s)", pl_last_error());
        pl_err_clear();
        return PL_OK;
    }
    const char *kind = pl_meter_kind_name(pl_energy_meter_kind(b->meter));
    const char *desc = pl_energy_meter_describe(b->meter);
    if (!strncmp(desc, kind, strlen(kind))) snprintf(b->meter_desc, sizeof b->meter_desc, "%s", desc);
    else snprintf(b->meter_desc, sizeof b->meter_desc, "%s: %s", kind, desc);
    b->meter_estimate = pl_energy_meter_kind(b->meter) == PL_METER_ESTIMATE;
    /* idle baseline: ~0.6 s with nothing running */
    double t0 = pl_lg_now_ns();
    PL_TRY(pl_energy_meter_sample(b->meter));
    double j0 = pl_energy_meter_joules(b->meter);
    for (int i = 0; i < 6; i++) {
        usleep(100000);
        PL_TRY(pl_energy_meter_sample(b->meter));
    }
    double dt = (pl_lg_now_ns() - t0) / 1e9;
    b->idle_w = dt > 0 ? (pl_energy_meter_joules(b->meter) - j0) / dt : 0;
    return PL_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static pl_status setup(pl_lg *b, const pl_model *model, const pl_bench_settings *s) {
    b->model = model;
    b->s = s;
    b->batch = s->batch;
    b->n_out = pl_model_output_count(model);
    b->saved_omp_threads = omp_get_max_threads();
    if (s->threads > 0) omp_set_num_threads(s->threads);
    if (s->model_path && !s->plan_path) {
        double t0 = pl_lg_now_ns();
        pl_model *again = NULL;
        PL_TRY(pl_model_load(s->model_path, &again));
        b->load_ns = pl_lg_now_ns() - t0;
        pl_model_destroy(again);
    }
    pl_build_options bo = {.backend = s->backend, .threads = s->threads, .batch = s->batch};
    double t0 = pl_lg_now_ns();
    if (s->plan_path) { /* the plan's engine: its load is the whole cold start before the first run */
        PL_TRY(pl_plan_load(s->plan_path, &bo, &b->plan_model, &b->engine));
        b->load_ns = pl_lg_now_ns() - t0;
        b->build_ns = 0;
    } else {
        PL_TRY(pl_engine_build(model, &bo, &b->engine));
        b->build_ns = pl_lg_now_ns() - t0;
    }
    if (s->n_inputs > 0) {
        b->n_in = s->n_inputs;
        b->inputs = s->inputs;
        if (s->n_inputs > 0 && pl_tensor_rank(s->inputs[0]) > 0) b->batch = pl_tensor_dims(s->inputs[0])[0];
    } else {
        PL_TRY(make_inputs(b));
    }
    b->n_streams = s->streams;
    b->streams = calloc((size_t)b->n_streams, sizeof *b->streams);
    if (!b->streams) return pl_err(PL_ERR_NOMEM, "out of memory");
    int n_nodes = model->graph->n_nodes;
    for (int i = 0; i < b->n_streams; i++) {
        pl_lg_stream *st = &b->streams[i];
        st->index = i;
        st->n_nodes = n_nodes;
        st->node_ns = calloc((size_t)n_nodes + 1, sizeof *st->node_ns);
        st->node_calls = calloc((size_t)n_nodes + 1, sizeof *st->node_calls);
        st->node_op = calloc((size_t)n_nodes + 1, sizeof *st->node_op);
        if (!st->node_ns || !st->node_calls || !st->node_op) return pl_err(PL_ERR_NOMEM, "out of memory");
        PL_TRY(pl_context_create(b->engine, &st->ctx));
    }
    t0 = pl_lg_now_ns();
    PL_TRY(pl_lg_infer(b, 0));
    b->first_run_ns = pl_lg_now_ns() - t0;
    /* warmup, untimed: at least 3 runs per stream (a cpu context records its arena at its first
     * run of a shape and may time whole against split batches at its second; docs/ENGINE.md);
     * the median of the runs is the per-inference estimate, so those one-off runs do not
     * inflate it */
    double w0 = pl_lg_now_ns(), fastest = INFINITY;
    int64_t n = 0, cap = 0;
    double *times = NULL;
    while (n < 3 * (int64_t)b->n_streams || pl_lg_now_ns() - w0 < s->warmup_ms * 1e6) {
        double a = pl_lg_now_ns();
        pl_status st = pl_lg_infer(b, (int)(n % b->n_streams));
        double t = pl_lg_now_ns() - a;
        if (st == PL_OK && n >= cap) {
            cap = cap ? 2 * cap : 64;
            double *grown = realloc(times, (size_t)cap * sizeof *times);
            if (!grown) st = pl_err(PL_ERR_NOMEM, "out of memory");
            else times = grown;
        }
        if (st != PL_OK) {
            free(times);
            return st;
        }
        times[n++] = t;
        if (t < fastest) fastest = t;
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    b->est_ns = times[n / 2];
    free(times);
    b->fastest_ns = fastest;
    return open_meter(b);
}

/* ---- the result ---- */

static void add_reason(pl_bench_result *r, const char *fmt, double a, double b2) {
    size_t used = strlen(r->reasons);
    if (used >= sizeof r->reasons - 1) return;
    snprintf(r->reasons + used, sizeof r->reasons - used, fmt, a, b2);
}

/* LoadGen's early-stopping percentile estimate over n sorted latencies: the largest number t of
 * queries allowed over the estimate such that h(t) + t <= n; the estimate is sorted[n - t]. */
static void early_stopping(pl_bench_result *r, const double *sorted, int64_t n, double p) {
    int64_t min_run = pl_early_stopping_min_run(p, 0, 0.99);
    if (n < min_run) {
        r->queries_needed = min_run - n;
        r->early_stop_estimate_ns = 0;
        return;
    }
    int64_t t = 1;
    for (int64_t i = 2; i <= n; i++) {
        int64_t h = pl_early_stopping_min_queries(i, p, 0, 0.99);
        if (h < 0 || h + i > n) break;
        t = i;
    }
    r->early_stop_estimate_ns = sorted[n - t];
    r->queries_needed = 0;
}


pl_status pl_lg_finish(pl_lg *b, pl_lg_result *box, double target_qps) {
    pl_bench_result *r = &box->r;
    const pl_bench_settings *s = b->s;
    pl_latency_summary sum;
    if (pl_latency_summarize(r->latencies_ns, (size_t)r->n_latencies, &sum) != 0)
        return pl_err(PL_ERR_NOMEM, "out of memory");
    r->min_ns = sum.min_ns;
    r->max_ns = sum.max_ns;
    r->mean_ns = sum.mean_ns;
    r->stddev_ns = sum.stddev_ns;
    r->cv = sum.cv;
    r->p50_ns = sum.p50_ns;
    r->p90_ns = sum.p90_ns;
    r->p95_ns = sum.p95_ns;
    r->p97_ns = sum.p97_ns;
    r->p99_ns = sum.p99_ns;
    r->p999_ns = sum.p999_ns;
    double secs = r->duration_ns / 1e9;
    r->samples_per_s = secs > 0 ? (double)r->samples / secs : 0;
    r->qps = secs > 0 ? (double)r->queries / secs : 0;
    r->load_ns = b->load_ns;
    r->build_ns = b->build_ns;
    r->first_run_ns = b->first_run_ns;
    r->batch_split = b->n_streams > 0 ? pl_context_batch_split(b->streams[0].ctx) : 0;
    r->fixed_nodes = b->n_streams > 0 ? pl_context_fixed_nodes(b->streams[0].ctx) : 0;
    r->batch = b->batch;
    r->est_inference_ns = b->est_ns;
    r->valid = 1;
    r->reasons[0] = 0;
    if (r->duration_ns < s->min_duration_s * 1e9) {
        r->valid = 0;
        add_reason(r, "min duration not met: ran %.3f s < %.3f s; run longer (--duration)\n", secs, s->min_duration_s);
    }
    if (r->queries < s->min_queries) {
        r->valid = 0;
        add_reason(r, "min queries not met: %.0f < %.0f; raise --duration or --min-queries\n",
                   (double)r->queries, (double)s->min_queries);
    }
    int64_t n = r->n_latencies;
    double *sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    if (!sorted) return pl_err(PL_ERR_NOMEM, "out of memory");
    memcpy(sorted, r->latencies_ns, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    if (s->scenario == PL_SCENARIO_SINGLE_STREAM || s->scenario == PL_SCENARIO_MULTI_STREAM) {
        double p = s->scenario == PL_SCENARIO_SINGLE_STREAM ? 0.90 : 0.99;
        early_stopping(r, sorted, n, p);
        if (r->queries_needed > 0) {
            r->valid = 0;
            add_reason(r, "early stopping not met: %.0f more queries needed to estimate p%.0f; run longer\n",
                       (double)r->queries_needed, p * 100);
        }
    } else if (s->scenario == PL_SCENARIO_SERVER) {
        double sla_ns = s->sla_ms * 1e6;
        int64_t over = 0;
        for (int64_t i = 0; i < n; i++) over += sorted[i] > sla_ns;
        int64_t h_need = pl_early_stopping_min_queries(over, 0.99, 0, 0.99);
        int64_t under = n - over;
        r->queries_needed = h_need > under ? h_need - under : 0;
        if (r->p99_ns > sla_ns) {
            r->valid = 0;
            add_reason(r, "p99 latency %.3f ms exceeds the SLA of %.3f ms; lower --target-qps\n", r->p99_ns / 1e6, s->sla_ms);
        }
        if (r->queries_needed > 0) {
            r->valid = 0;
            add_reason(r, "early stopping not met: %.0f queries over the SLA need %.0f more under it; run longer or lower --target-qps\n",
                       (double)over, (double)r->queries_needed);
        }
        (void)target_qps;
    }
    free(sorted);
    /* energy */
    snprintf(r->energy_meter, sizeof r->energy_meter, "%s", b->meter_desc);
    r->energy_is_estimate = b->meter_estimate;
    if (b->meter && secs > 0) {
        r->idle_w = b->idle_w;
        r->avg_w = r->energy_j / secs;
        if (r->samples > 0) {
            r->j_per_sample = r->energy_j / (double)r->samples;
            r->j_per_sample_net = (r->energy_j - b->idle_w * secs) / (double)r->samples;
        }
        r->samples_per_j = r->energy_j > 0 ? (double)r->samples / r->energy_j : 0;
        r->mj_per_query = r->queries > 0 ? r->energy_j * 1e3 / (double)r->queries : 0;
    }
    /* profile */
    if (s->profile) {
        int nn = b->model->graph->n_nodes;
        r->nodes = calloc((size_t)nn + 1, sizeof *r->nodes);
        if (!r->nodes) return pl_err(PL_ERR_NOMEM, "out of memory");
        r->n_nodes = nn;
        for (int i = 0; i < nn; i++) {
            const pl_node *node = &b->model->graph->nodes[i];
            r->nodes[i].name = node->name ? node->name : "";
            r->nodes[i].op = node->op_type;
            for (int k = 0; k < b->n_streams; k++) {
                r->nodes[i].total_ns += b->streams[k].node_ns[i];
                r->nodes[i].calls += b->streams[k].node_calls[i];
                if (b->streams[k].node_op[i]) r->nodes[i].op = b->streams[k].node_op[i];
            }
        }
        for (int i = 1; i < nn; i++) { /* insertion sort, most time first */
            pl_node_time t = r->nodes[i];
            int j = i - 1;
            while (j >= 0 && r->nodes[j].total_ns < t.total_ns) {
                r->nodes[j + 1] = r->nodes[j];
                j--;
            }
            r->nodes[j + 1] = t;
        }
    }
    return PL_OK;
}

void pl_lg_profile_arm(pl_lg *b, int on) {
    for (int k = 0; k < b->n_streams; k++) {
        pl_lg_stream *st = &b->streams[k];
        memset(st->node_ns, 0, (size_t)st->n_nodes * sizeof *st->node_ns);
        memset(st->node_calls, 0, (size_t)st->n_nodes * sizeof *st->node_calls);
        st->ctx->hook = on ? profile_hook : NULL;
        st->ctx->hook_user = on ? st : NULL;
    }
}

/* ---- trace ---- */

static pl_status write_trace(const pl_lg_result *box, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) return pl_err(PL_ERR_IO, "%s: cannot open for writing the trace", path);
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"scenario\":\"%s\",\"clock\":\"CLOCK_MONOTONIC\"},\"traceEvents\":[",
            pl_scenario_name(box->r.scenario));
    for (int64_t i = 0; i < box->n_events; i++) {
        const pl_lg_event *e = &box->events[i];
        fprintf(f, "%s\n{\"name\":\"query %lld\",\"cat\":\"inference\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,"
                   "\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"query\":%lld}}",
                i ? "," : "", (long long)e->query, e->stream, e->start_ns / 1e3, (e->end_ns - e->start_ns) / 1e3,
                (long long)e->query);
    }
    fprintf(f, "\n]}\n");
    if (fclose(f) != 0) return pl_err(PL_ERR_IO, "%s: write failed", path);
    return PL_OK;
}

/* ---- the server peak search ---- */

static pl_status add_point(pl_lg *b, const pl_bench_result *r, double qps) {
    if (b->n_points == b->cap_points) {
        int cap = b->cap_points ? b->cap_points * 2 : 16;
        pl_server_point *p = realloc(b->points, (size_t)cap * sizeof *p);
        if (!p) return pl_err(PL_ERR_NOMEM, "out of memory");
        b->points = p;
        b->cap_points = cap;
    }
    b->points[b->n_points++] = (pl_server_point){qps, r->qps, r->p99_ns, r->valid};
    return PL_OK;
}

/* Runs the server at `qps`; records the point; keeps the result in *best when it is the
 * highest valid so far (else frees it). */
static pl_status server_point(pl_lg *b, double qps, pl_lg_result **best, double *best_qps, int *valid) {
    pl_lg_result *r = NULL;
    PL_TRY(pl_lg_run_scenario(b, qps, &r));
    pl_status st = add_point(b, &r->r, qps);
    *valid = r->r.valid;
    if (st == PL_OK && r->r.valid && qps > *best_qps) {
        pl_bench_result_destroy(*best ? &(*best)->r : NULL);
        *best = r;
        *best_qps = qps;
    } else {
        pl_bench_result_destroy(&r->r);
    }
    return st;
}

static pl_status find_peak(pl_lg *b, pl_lg_result **out) {
    pl_lg_result *best = NULL;
    double best_qps = 0, lo = 0, hi = 0;
    double start = b->est_ns > 0 ? 1e9 / b->est_ns : 100;
    int valid = 0;
    pl_status st = PL_OK;
    double q = start;
    if (b->fastest_ns > b->s->sla_ms * 1e6)
        return pl_err(PL_ERR_INVALID, "bench: the SLA of %g ms is below the fastest single inference (%.3f ms): no QPS can meet it",
                      b->s->sla_ms, b->fastest_ns / 1e6);
    /* doubling up from the single-stream estimate (halving down when it is already too high) */
    if ((st = server_point(b, q, &best, &best_qps, &valid)) != PL_OK) goto fail;
    if (valid) {
        lo = q;
        for (int i = 0; i < 12; i++) {
            q *= 2;
            if ((st = server_point(b, q, &best, &best_qps, &valid)) != PL_OK) goto fail;
            if (!valid) break;
            lo = q;
        }
        hi = valid ? 0 : q;
    } else {
        hi = q;
        for (int i = 0; i < 5 && !valid; i++) { /* down to 1/32 of the estimate, no further */
            q /= 2;
            if ((st = server_point(b, q, &best, &best_qps, &valid)) != PL_OK) goto fail;
            if (valid) lo = q;
            else hi = q;
        }
    }
    if (!best) {
        st = pl_err(PL_ERR_INVALID, "bench: no target QPS down to %.3g met the SLA of %g ms", q, b->s->sla_ms);
        goto fail;
    }
    for (int i = 0; i < 4 && hi > 0; i++) { /* bisection between last valid and first invalid */
        double mid = (lo + hi) / 2;
        if ((st = server_point(b, mid, &best, &best_qps, &valid)) != PL_OK) goto fail;
        if (valid) lo = mid;
        else hi = mid;
    }
    /* the check: 1.2 x peak must be INVALID; when it is not, it becomes the peak (at most 3 times) */
    for (int i = 0; i < 3; i++) {
        double check = best_qps * 1.2;
        if ((st = server_point(b, check, &best, &best_qps, &valid)) != PL_OK) goto fail;
        if (!valid) {
            best->r.verify_qps = check;
            best->r.verify_valid = 0;
            break;
        }
        best->r.verify_qps = check * 1.2; /* not run: the next check, or the one left undone */
        best->r.verify_valid = 1;
    }
    best->r.peak_qps = best_qps;
    *out = best;
    return PL_OK;
fail:
    pl_bench_result_destroy(best ? &best->r : NULL);
    return st;
}

pl_status pl_bench_run(const pl_model *model, const pl_bench_settings *settings, pl_bench_result **out) {
    *out = NULL;
    pl_err_clear();
    PL_TRY(check_settings(settings));
    pl_lg b;
    memset(&b, 0, sizeof b);
    pl_lg_result *res = NULL;
    pl_status st = setup(&b, model, settings);
    if (st == PL_OK) {
        if (settings->scenario == PL_SCENARIO_SERVER && settings->find_peak) st = find_peak(&b, &res);
        else st = pl_lg_run_scenario(&b, settings->target_qps, &res);
    }
    if (st == PL_OK && settings->find_peak && settings->scenario == PL_SCENARIO_SERVER) {
        res->r.points = b.points;
        res->r.n_points = b.n_points;
        b.points = NULL;
    }
    if (st == PL_OK && settings->trace_path) st = write_trace(res, settings->trace_path);
    omp_set_num_threads(b.saved_omp_threads);
    lg_free(&b);
    if (st != PL_OK) {
        pl_bench_result_destroy(res ? &res->r : NULL);
        return st;
    }
    *out = &res->r;
    return PL_OK;
}
