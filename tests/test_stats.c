/* test_stats.c - percentiles, early stopping and the seeded generators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "measure/stats.h"

#include <math.h>

static void test_percentiles_by_hand(void **state) {
    (void)state;
    /* 1..100: nearest rank puts p50 at 50, p90 at 90, p99 at 99, p99.9 at 100 */
    double v[100];
    for (int i = 0; i < 100; i++) v[i] = (double)(100 - i); /* unsorted on purpose */
    pl_latency_summary s;
    assert_int_equal(pl_latency_summarize(v, 100, &s), 0);
    assert_true(s.p50_ns == 50 && s.p90_ns == 90 && s.p95_ns == 95 && s.p97_ns == 97);
    assert_true(s.p99_ns == 99 && s.p999_ns == 100 && s.min_ns == 1 && s.max_ns == 100);
    assert_true(fabs(s.mean_ns - 50.5) < 1e-12);
    assert_true(fabs(s.stddev_ns - 29.011491975882016) < 1e-9); /* numpy std(ddof=1) */
    /* five samples {10,20,30,40,50}: p50 = rank 3 = 30, p90 = rank 5 = 50, p10 = rank 1 */
    const double f[5] = {30, 10, 50, 20, 40};
    pl_latency_summarize(f, 5, &s);
    assert_true(s.p50_ns == 30 && s.p90_ns == 50);
    const double sorted[5] = {10, 20, 30, 40, 50};
    assert_true(pl_percentile_sorted(sorted, 5, 10) == 10);
    assert_true(pl_percentile_sorted(sorted, 5, 0) == 10);
    assert_true(pl_percentile_sorted(sorted, 5, 100) == 50);
    assert_int_equal(pl_latency_summarize(f, 0, &s), 0);
    assert_int_equal(s.count, 0);
}

static void test_early_stopping_minimums(void **state) {
    (void)state;
    /* LoadGen: a run needs at least 64 queries for p90 and 662 for p99 */
    assert_int_equal(pl_early_stopping_min_run(0.90, 0.0, 0.99), 64);
    assert_int_equal(pl_early_stopping_min_run(0.99, 0.0, 0.99), 662);
    /* with no over-latency query at all: 0.9^44 < 0.01 <= 0.9^43 */
    assert_int_equal(pl_early_stopping_min_queries(0, 0.90, 0.0, 0.99), 44);
    assert_int_equal(pl_early_stopping_min_queries(0, 0.99, 0.0, 0.99), 459);
    /* more over-latency queries need more good ones */
    int64_t a = pl_early_stopping_min_queries(1, 0.90, 0.0, 0.99);
    int64_t b = pl_early_stopping_min_queries(10, 0.90, 0.0, 0.99);
    assert_true(a > 44 && b > a);
    assert_int_equal(pl_early_stopping_min_queries(0, 1.5, 0.0, 0.99), -1);
}

static void test_poisson_mean_variance(void **state) {
    (void)state;
    pl_rng r;
    pl_rng_seed(&r, 42);
    const double rate = 250.0; /* queries per second */
    const int n = 200000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; i++) {
        double x = pl_rng_exponential(&r, rate);
        assert_true(x >= 0);
        sum += x;
        sum2 += x * x;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    assert_true(fabs(mean - 1 / rate) < 0.01 / rate);               /* within 1% */
    assert_true(fabs(var - 1 / (rate * rate)) < 0.03 / (rate * rate)); /* within 3% */
    /* the same seed gives the same sequence */
    pl_rng a, b;
    pl_rng_seed(&a, 7);
    pl_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++) assert_true(pl_rng_next(&a) == pl_rng_next(&b));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentiles_by_hand),
        cmocka_unit_test(test_early_stopping_minimums),
        cmocka_unit_test(test_poisson_mean_variance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
