/* test_loadgen.c - the load generator: single-stream p50 against an outside wall-clock
 * measurement, offline throughput arithmetic, the server peak search, settings and errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "plaster.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef PL_SOURCE_DIR
#define PL_SOURCE_DIR "."
#endif

static const char *model_path = PL_SOURCE_DIR "/examples/models/fashion_cnn/model.onnx";

static pl_model *load(void) {
    pl_model *m = NULL;
    assert_int_equal(pl_model_load(model_path, &m), PL_OK);
    return m;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median wall time of n runs of pl_context_run, timed from outside. */
static double outside_median(pl_model *m, pl_tensor *in, int n) {
    pl_engine *e = NULL;
    pl_context *ctx = NULL;
    assert_int_equal(pl_engine_build(m, NULL, &e), PL_OK);
    assert_int_equal(pl_context_create(e, &ctx), PL_OK);
    double *t = calloc((size_t)n, sizeof *t);
    assert_non_null(t);
    for (int i = 0; i < 5 + n; i++) {
        pl_tensor *out[1] = {NULL};
        double a = now_ns();
        assert_int_equal(pl_context_run(ctx, 1, &in, 1, out), PL_OK);
        if (i >= 5) t[i - 5] = now_ns() - a;
        pl_tensor_destroy(out[0]);
    }
    qsort(t, (size_t)n, sizeof *t, cmp);
    double med = t[n / 2];
    free(t);
    pl_context_destroy(ctx);
    pl_engine_destroy(e);
    return med;
}

/* The one timing check the issue requires: bench's single-stream p50 and an outside median of
 * as many runs agree within 5%. This machine is shared and its speed drifts over seconds, so the
 * outside median is taken just before and just after the bench run and the p50 must lie within
 * 5% of the range they span; up to 5 attempts. A bench that measured something other than the
 * run (setup, copies, a different backend) lands outside both and still fails. */
static void test_single_stream_p50_matches_wall_clock(void **state) {
    (void)state;
    pl_model *m = load();
    int64_t dims[4] = {8, 1, 28, 28};
    pl_tensor *in = NULL;
    assert_int_equal(pl_tensor_create(PL_DT_FLOAT, 4, dims, &in), PL_OK);
    float *x = pl_tensor_data(in);
    for (int64_t i = 0; i < pl_tensor_numel(in); i++) x[i] = (float)(i % 7) / 7.0f;
    pl_bench_settings s;
    pl_bench_settings_default(&s, PL_SCENARIO_SINGLE_STREAM);
    assert_int_equal(s.min_queries, 64);
    s.min_duration_s = 0.2;
    s.warmup_ms = 100;
    s.threads = 1; /* the outside measurement runs with one thread too */
    s.backend = "reference"; /* as pl_engine_build(m, NULL) in outside_median */
    s.energy_meter = "estimate";
    s.n_inputs = 1;
    s.inputs = &in;
    int agreed = 0;
    for (int attempt = 0; attempt < 5 && !agreed; attempt++) {
        omp_set_num_threads(1);
        double before = outside_median(m, in, 64);
        pl_bench_result *r = NULL;
        assert_int_equal(pl_bench_run(m, &s, &r), PL_OK);
        assert_true(r->queries >= 64);
        assert_int_equal(r->n_latencies, r->queries);
        assert_int_equal(r->samples, r->queries * 8);
        assert_true(r->valid);
        assert_true(r->early_stop_estimate_ns >= r->p90_ns);
        omp_set_num_threads(1);
        double after = outside_median(m, in, (int)r->queries);
        double lo = fmin(before, after), hi = fmax(before, after);
        double p50 = r->p50_ns;
        double rel = p50 < lo ? (lo - p50) / lo : p50 > hi ? (p50 - hi) / hi : 0;
        printf("single-stream p50 %.3f ms, outside medians %.3f ms before and %.3f ms after (%lld runs): "
               "%.1f%% outside their range\n",
               p50 / 1e6, before / 1e6, after / 1e6, (long long)r->queries, rel * 100);
        agreed = rel <= 0.05;
        pl_bench_result_destroy(r);
    }
    assert_true(agreed);
    pl_tensor_destroy(in);
    pl_model_destroy(m);
}

static void test_single_stream_too_short_needs_queries(void **state) {
    (void)state;
    pl_model *m = load();
    pl_bench_settings s;
    pl_bench_settings_default(&s, PL_SCENARIO_SINGLE_STREAM);
    s.min_duration_s = 0;
    s.min_queries = 10;
    s.warmup_ms = 0;
    s.energy_meter = "estimate";
    s.profile = 1;
    pl_bench_result *r = NULL;
    assert_int_equal(pl_bench_run(m, &s, &r), PL_OK);
    assert_int_equal(r->queries, 10);
    assert_false(r->valid);
    assert_int_equal(r->queries_needed, 54);
    assert_non_null(strstr(r->reasons, "54 more queries"));
    /* profile: every top-level node, sorted by time, each called once per query */
    assert_int_equal(r->n_nodes, 10);
    for (int i = 0; i < r->n_nodes; i++) {
        assert_int_equal(r->nodes[i].calls, 10);
        if (i) assert_true(r->nodes[i - 1].total_ns >= r->nodes[i].total_ns);
    }
    assert_non_null(strstr(r->energy_meter, "estimate"));
    assert_true(r->energy_is_estimate);
    pl_bench_result_destroy(r);
    pl_model_destroy(m);
}

/* Offline: samples_per_s is completed samples over wall time, exactly. */
static void test_offline_throughput_arithmetic(void **state) {
    (void)state;
    pl_model *m = load();
    pl_bench_settings s;
    pl_bench_settings_default(&s, PL_SCENARIO_OFFLINE);
    s.min_duration_s = 0.3;
    s.warmup_ms = 50;
    s.batch = 2;
    s.streams = 2;
    s.energy_meter = "estimate";
    pl_bench_result *r = NULL;
    assert_int_equal(pl_bench_run(m, &s, &r), PL_OK);
    assert_int_equal(r->batch, 2);
    assert_int_equal(r->samples, r->n_latencies * 2);
    double secs = r->duration_ns / 1e9;
    assert_true(fabs(r->samples_per_s * secs - (double)r->samples) <= 1e-9 * (double)r->samples);
    assert_true(r->samples_per_s == (double)r->samples / secs);
    printf("offline: %.1f samples/s (%lld samples in %.3f s)\n", r->samples_per_s, (long long)r->samples, secs);
    pl_bench_result_destroy(r);
    pl_model_destroy(m);
}

/* Server --find-peak: the peak's own run is VALID and the 1.2 x check is INVALID. */
static void test_server_find_peak(void **state) {
    (void)state;
    pl_model *m = load();
    pl_bench_settings s;
    pl_bench_settings_default(&s, PL_SCENARIO_SERVER);
    assert_int_equal(s.min_queries, 459);
    s.min_duration_s = 0.5;
    s.warmup_ms = 50;
    s.sla_ms = 50; /* well above one inference, also under the sanitizers */
    s.find_peak = 1;
    s.threads = 1;
    s.energy_meter = "estimate";
    /* the peak search is only as steady as the machine: two attempts, one must hold */
    int held = 0;
    for (int attempt = 0; attempt < 2 && !held; attempt++) {
        pl_bench_result *r = NULL;
        assert_int_equal(pl_bench_run(m, &s, &r), PL_OK);
        printf("server peak %.1f QPS (check at %.1f: %s), %d points\n", r->peak_qps, r->verify_qps,
               r->verify_valid ? "VALID" : "INVALID", r->n_points);
        assert_true(r->valid);
        assert_true(r->peak_qps > 0);
        assert_true(r->p99_ns <= s.sla_ms * 1e6);
        assert_true(r->n_points >= 3);
        for (int i = 0; i < r->n_points; i++)
            if (r->points[i].valid) assert_true(r->points[i].target_qps <= r->peak_qps);
        const pl_server_point *last = &r->points[r->n_points - 1];
        held = !r->verify_valid && !last->valid && fabs(r->verify_qps - 1.2 * r->peak_qps) < 1e-6 * r->peak_qps &&
               fabs(last->target_qps - r->verify_qps) < 1e-9 * r->verify_qps;
        pl_bench_result_destroy(r);
    }
    assert_true(held);
    pl_model_destroy(m);
}

static void test_settings_and_errors(void **state) {
    (void)state;
    pl_model *m = load();
    pl_bench_settings s;
    pl_bench_settings_default(&s, PL_SCENARIO_MULTI_STREAM);
    assert_int_equal(s.min_queries, 662);
    assert_int_equal(s.samples_per_query, 8);
    assert_true(s.min_duration_s == 10 && s.warmup_ms == 500 && s.batch == 1 && s.streams == 1);
    assert_string_equal(pl_scenario_name(PL_SCENARIO_OFFLINE), "offline");
    pl_bench_result *r = (pl_bench_result *)1;
    pl_bench_settings_default(&s, PL_SCENARIO_SERVER);
    assert_int_equal(pl_bench_run(m, &s, &r), PL_ERR_INVALID);
    assert_null(r);
    assert_non_null(strstr(pl_last_error(), "target QPS"));
    pl_bench_settings_default(&s, PL_SCENARIO_SINGLE_STREAM);
    s.min_duration_s = -1;
    assert_int_equal(pl_bench_run(m, &s, &r), PL_ERR_INVALID);
    assert_non_null(strstr(pl_last_error(), "duration"));
    pl_bench_settings_default(&s, PL_SCENARIO_MULTI_STREAM);
    s.min_duration_s = 0;
    s.min_queries = 5;
    s.warmup_ms = 0;
    s.streams = 2;
    s.samples_per_query = 3;
    s.energy_meter = "estimate";
    assert_int_equal(pl_bench_run(m, &s, &r), PL_OK);
    assert_int_equal(r->queries, 5);
    assert_int_equal(r->samples, 15);
    assert_false(r->valid); /* 662 queries needed for early stopping */
    assert_int_equal(r->queries_needed, 657);
    pl_bench_result_destroy(r);
    pl_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings_and_errors),
        cmocka_unit_test(test_single_stream_too_short_needs_queries),
        cmocka_unit_test(test_offline_throughput_arithmetic),
        cmocka_unit_test(test_single_stream_p50_matches_wall_clock),
        cmocka_unit_test(test_server_find_peak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
