/* stats.c - latency statistics, early stopping, seeded random numbers. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double pl_percentile_sorted(const double *sorted, size_t n, double p) {
    if (n == 0) return 0.0;
    double rank = ceil(p / 100.0 * (double)n);
    size_t idx = rank < 1.0 ? 0 : (size_t)rank - 1;
    if (idx >= n) idx = n - 1;
    return sorted[idx];
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int pl_latency_summarize(const double *samples, size_t n, pl_latency_summary *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return 0;
    double *s = malloc(n * sizeof *s);
    if (!s) return -1;
    memcpy(s, samples, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += s[i];
    double mean = sum / (double)n, var = 0;
    for (size_t i = 0; i < n; i++) var += (s[i] - mean) * (s[i] - mean);
    out->count = (int64_t)n;
    out->min_ns = s[0];
    out->max_ns = s[n - 1];
    out->mean_ns = mean;
    out->stddev_ns = n > 1 ? sqrt(var / (double)(n - 1)) : 0.0;
    out->cv = mean > 0 ? out->stddev_ns / mean : 0.0;
    out->p50_ns = pl_percentile_sorted(s, n, 50);
    out->p90_ns = pl_percentile_sorted(s, n, 90);
    out->p95_ns = pl_percentile_sorted(s, n, 95);
    out->p97_ns = pl_percentile_sorted(s, n, 97);
    out->p99_ns = pl_percentile_sorted(s, n, 99);
    out->p999_ns = pl_percentile_sorted(s, n, 99.9);
    free(s);
    return 0;
}

/* ---- early stopping (the binomial test of MLPerf LoadGen) ---- */

static double lbeta(double x, double y) { return lgamma(x) + lgamma(y) - lgamma(x + y); }

/* 2F1(1, b; c; x) by its series; converges for c > 0 and b <= 0 (a polynomial then). */
static double hyp2f1_a1(double b, double c, double x) {
    double term = 1.0, result = 1.0;
    for (int64_t i = 0; fabs(term) > 1.0 / 8589934592.0 && i < 10000000; i++) {
        term *= (b + (double)i) * x / (c + (double)i);
        result += term;
    }
    return result;
}

/* Regularized incomplete beta I_x(a, b) for integer a, b >= 1. */
static double beta_regularized(double x, int64_t a, int64_t b) {
    return exp((double)a * log(x) + (double)(b - 1) * log(1 - x) - lbeta((double)a, (double)b)) /
           (double)a * hyp2f1_a1((double)(1 - b), (double)(1 + a), x / (x - 1));
}

/* Chance of t or fewer over-latency queries among h + t when each is under with prob q. */
static double odds(int64_t h, int64_t t, double q) { return beta_regularized(q, h, 1 + t); }

int64_t pl_early_stopping_min_queries(int64_t t, double p, double tolerance, double confidence) {
    double q = p - tolerance;
    if (t < 0 || q <= 0 || q >= 1 || confidence <= 0 || confidence >= 1) return -1;
    /* odds falls as h grows: find the least h with odds <= 1 - confidence */
    int64_t lo = (int64_t)ceil(log(1 - confidence) / log(q)), hi = lo;
    if (lo < 1) lo = hi = 1;
    while (odds(hi, t, q) > 1 - confidence) {
        lo = hi;
        if (hi > INT64_MAX / 4) return -1;
        hi *= 2;
    }
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (odds(mid, t, q) <= 1 - confidence) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

int64_t pl_early_stopping_min_run(double p, double tolerance, double confidence) {
    int64_t h = pl_early_stopping_min_queries(1, p, tolerance, confidence);
    return h < 0 ? -1 : h + 1;
}

/* ---- xoshiro256** ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void pl_rng_seed(pl_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t pl_rng_next(pl_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pl_rng_uniform(pl_rng *r) { return (double)(pl_rng_next(r) >> 11) * 0x1.0p-53; }

double pl_rng_exponential(pl_rng *r, double rate) {
    return -log1p(-pl_rng_uniform(r)) / rate;
}
