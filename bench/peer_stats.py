"""The statistics and the timed loop of `plaster bench --scenario single-stream`, ported to Python so
that the peers (ONNX Runtime, OpenVINO, PyTorch) are measured exactly as plaster measures itself.

Sources ported: pl_percentile_sorted and pl_latency_summarize (src/measure/stats.c), the warmup of
setup() and the loop of single_stream() (src/measure/loadgen.c, loadgen_run.c). Standard library
only: it runs under /usr/bin/python3 (Debian's torch) and under the peers' venv alike.
"""
import math
import time


def percentile_sorted(sorted_values, p):
    """Nearest rank, as pl_percentile_sorted: the ceil(p/100 * n)-th smallest (1-based), clamped."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    rank = math.ceil(p / 100.0 * float(n))
    idx = 0 if rank < 1.0 else int(rank) - 1
    if idx >= n:
        idx = n - 1
    return sorted_values[idx]


def summarize(samples_ns):
    """Latency summary with the keys (and units) of plaster bench's JSON, as pl_latency_summarize."""
    n = len(samples_ns)
    keys = ("min_ns", "max_ns", "mean_ns", "stddev_ns", "cv", "p50_ns", "p90_ns", "p95_ns", "p97_ns",
            "p99_ns", "p999_ns")
    if n == 0:
        return dict.fromkeys(keys, 0.0)
    s = sorted(float(x) for x in samples_ns)
    mean = sum(s) / n
    var = sum((x - mean) * (x - mean) for x in s)
    stddev = math.sqrt(var / (n - 1)) if n > 1 else 0.0
    out = {"min_ns": s[0], "max_ns": s[-1], "mean_ns": mean, "stddev_ns": stddev,
           "cv": stddev / mean if mean > 0 else 0.0}
    for key, p in (("p50_ns", 50), ("p90_ns", 90), ("p95_ns", 95), ("p97_ns", 97), ("p99_ns", 99),
                   ("p999_ns", 99.9)):
        out[key] = percentile_sorted(s, p)
    return out


def single_stream(infer, batch, duration_s, warmup_ms, min_queries, clock=time.perf_counter_ns):
    """Measures `infer()` (one query of `batch` samples) as plaster's single-stream scenario does:
    one untimed first run (reported as first_run_ns), an untimed warmup of at least 3 runs and at
    least warmup_ms, then queries back to back until both duration_s and min_queries are reached.
    Throughput is samples over the window from the first issue to the last completion."""
    t0 = clock()
    infer()
    first_run_ns = clock() - t0
    w0, n = clock(), 0
    while n < 3 or clock() - w0 < warmup_ms * 1e6:
        infer()
        n += 1
    latencies = []
    t0 = last = clock()
    while True:
        a = clock()
        infer()
        e = clock()
        latencies.append(e - a)
        last = e
        if e - t0 >= duration_s * 1e9 and len(latencies) >= min_queries:
            break
    duration_ns = float(last - t0)
    queries = len(latencies)
    r = {"scenario": "single-stream", "batch": batch, "queries": queries, "samples": queries * batch,
         "duration_ns": duration_ns, "warmup_runs": n, "first_run_ns": float(first_run_ns),
         "latency_clock": "time.perf_counter_ns (CLOCK_MONOTONIC on Linux)"}
    r.update(summarize(latencies))
    secs = duration_ns / 1e9
    r["samples_per_s"] = r["samples"] / secs if secs > 0 else 0.0
    r["qps"] = queries / secs if secs > 0 else 0.0
    return r
