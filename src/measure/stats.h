/* stats.h - latency statistics, LoadGen-style early stopping and seeded arrival processes.
 * Percentiles use the nearest-rank definition: the p-th percentile of n sorted samples is the
 * sample at 1-based rank ceil(p/100 * n) (so p99 of 100 samples is the 99th smallest). */
#ifndef PL_STATS_H
#define PL_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct pl_latency_summary {
    int64_t count;
    double min_ns, max_ns, mean_ns, stddev_ns; /* stddev: sample (n-1) */
    double p50_ns, p90_ns, p95_ns, p97_ns, p99_ns, p999_ns;
    double cv; /* stddev / mean */
} pl_latency_summary;

/* Nearest-rank percentile of `sorted` (ascending, n > 0); p in [0, 100]. */
double pl_percentile_sorted(const double *sorted, size_t n, double p);
/* Sorts a copy of `samples` and fills the summary; zero count gives an all-zero summary.
 * Returns 0, or -1 when memory runs out. */
int pl_latency_summarize(const double *samples, size_t n, pl_latency_summary *out);

/* LoadGen's early-stopping bound: the fewest queries h under the target latency such that,
 * with t over-latency queries seen, the chance that the true percentile `p` (0.90 for p90)
 * is met is at least `confidence` (LoadGen: 0.99) with tolerance `tolerance` (LoadGen: 0).
 * A run with t over-latency queries is valid when it holds at least that many under. */
int64_t pl_early_stopping_min_queries(int64_t t, double p, double tolerance, double confidence);

/* The fewest queries a single-stream or multi-stream run must process before early stopping
 * can estimate percentile p at all (LoadGen: h(t=1) + 1, 64 for p90 and 662 for p99). */
int64_t pl_early_stopping_min_run(double p, double tolerance, double confidence);

/* xoshiro256** seeded through splitmix64: the generator behind every seeded draw. */
typedef struct pl_rng {
    uint64_t s[4];
} pl_rng;
void pl_rng_seed(pl_rng *r, uint64_t seed);
uint64_t pl_rng_next(pl_rng *r);
/* Uniform in [0, 1). */
double pl_rng_uniform(pl_rng *r);
/* Exponential with the given rate (mean 1/rate): Poisson-process inter-arrival times. */
double pl_rng_exponential(pl_rng *r, double rate);

#endif
