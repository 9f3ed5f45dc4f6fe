/* loadgen_run.c - the timed runs of the four scenarios: a queue of inferences served by one
 * pthread per stream, Poisson arrivals for the server, the energy meter sampled every 100 ms
 * inside the timed window, and the progress bar. */
#include "loadgen.h"

#include "stats.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct task {
    int64_t query;
} task;

typedef struct runq {
    pl_lg *b;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    task *tasks;
    int64_t cap, n_issued, n_taken;
    int stop;
    int64_t *remaining; /* per query: inferences still to complete */
    double *qdone;      /* per query: completion time */
    int64_t qcap, queries_done;
    pl_status err;
    char errmsg[1024];
    pl_lg_event *ev;
    int64_t n_ev, ev_cap;
    double t0;
} runq;

typedef struct worker {
    runq *q;
    int stream;
    pthread_t th;
} worker;

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *n = realloc(*p, (size_t)c * elem);
    if (!n) return -1;
    *p = n;
    *cap = c;
    return 0;
}

/* Appends one event; caller holds the lock (or runs alone). */
static int add_event(runq *q, int64_t query, int stream, double a, double e) {
    if (grow((void **)&q->ev, &q->ev_cap, q->n_ev + 1, sizeof *q->ev)) return -1;
    q->ev[q->n_ev++] = (pl_lg_event){query, stream, a - q->t0, e - q->t0};
    return 0;
}

static int ensure_queries(runq *q, int64_t n) {
    int64_t c1 = q->qcap, c2 = q->qcap;
    if (grow((void **)&q->remaining, &c1, n, sizeof *q->remaining)) return -1;
    if (grow((void **)&q->qdone, &c2, n, sizeof *q->qdone)) return -1;
    q->qcap = c1 < c2 ? c1 : c2;
    return 0;
}

static void record_error(runq *q, pl_status st, const char *msg) {
    if (q->err != PL_OK) return;
    q->err = st;
    snprintf(q->errmsg, sizeof q->errmsg, "%s", msg);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    runq *q = w->q;
    if (q->b->s->threads > 0) omp_set_num_threads(q->b->s->threads);
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->n_taken == q->n_issued && !q->stop) pthread_cond_wait(&q->work, &q->mu);
        if (q->n_taken == q->n_issued) break;
        task t = q->tasks[q->n_taken++];
        pthread_mutex_unlock(&q->mu);
        double a = pl_lg_now_ns();
        pl_status st = pl_lg_infer(q->b, w->stream);
        double e = pl_lg_now_ns();
        pthread_mutex_lock(&q->mu);
        if (st != PL_OK) record_error(q, st, pl_last_error());
        if (add_event(q, t.query, w->stream, a, e)) record_error(q, PL_ERR_NOMEM, "out of memory");
        if (--q->remaining[t.query] == 0) {
            q->qdone[t.query] = e;
            q->queries_done++;
            pthread_cond_broadcast(&q->done);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Issues `n` inferences of query `query` (lock held). */
static int issue(runq *q, int64_t query, int64_t n) {
    if (ensure_queries(q, query + 1)) return -1;
    if (grow((void **)&q->tasks, &q->cap, q->n_issued + n, sizeof *q->tasks)) return -1;
    q->remaining[query] = n;
    q->qdone[query] = 0;
    for (int64_t i = 0; i < n; i++) q->tasks[q->n_issued++] = (task){query};
    pthread_cond_broadcast(&q->work);
    return 0;
}

static pl_status start_workers(runq *q, worker *ws, int n) {
    for (int i = 0; i < n; i++) {
        ws[i].q = q;
        ws[i].stream = i;
        if (pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) != 0) {
            pthread_mutex_lock(&q->mu);
            q->stop = 1;
            pthread_cond_broadcast(&q->work);
            pthread_mutex_unlock(&q->mu);
            for (int k = 0; k < i; k++) pthread_join(ws[k].th, NULL);
            return pl_err(PL_ERR_INTERNAL, "bench: cannot start stream thread %d", i);
        }
    }
    return PL_OK;
}

static void stop_workers(runq *q, worker *ws, int n) {
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->work);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < n; i++) pthread_join(ws[i].th, NULL);
}

/* Waits (lock held) until `n` queries completed, waking every 200 ms for the progress bar. */
static void wait_queries(runq *q, int64_t n, void (*tick)(runq *, void *), void *arg) {
    while (q->queries_done < n) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&q->done, &q->mu, &ts);
        if (tick) tick(q, arg);
    }
}

/* ---- progress ---- */

static double last_draw;

static void progress(pl_lg *b, double frac, int64_t queries) {
    if (!b->s->progress || !isatty(2)) return;
    double now = pl_lg_now_ns();
    if (frac < 1 && now - last_draw < 200e6) return;
    last_draw = now;
    if (frac > 1) frac = 1;
    char bar[31];
    int full = (int)(frac * 30);
    for (int i = 0; i < 30; i++) bar[i] = i < full ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r%s [%s] %3.0f%% %lld queries%s", pl_scenario_name(b->s->scenario), bar, frac * 100,
            (long long)queries, frac >= 1 ? "\n" : "");
}

/* ---- energy window ---- */

typedef struct energy_win {
    pl_energy_meter *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, running;
    pthread_t th;
    double j0;
} energy_win;

static void *sampler_main(void *arg) {
    energy_win *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (!w->stop) pl_energy_meter_sample(w->m);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void energy_start(energy_win *w, pl_energy_meter *m) {
    memset(w, 0, sizeof *w);
    w->m = m;
    if (!m) return;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pl_energy_meter_sample(m);
    w->j0 = pl_energy_meter_joules(m);
    w->running = pthread_create(&w->th, NULL, sampler_main, w) == 0;
}

static double energy_stop(energy_win *w) {
    if (!w->m) return 0;
    if (w->running) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
    }
    pl_energy_meter_sample(w->m);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return pl_energy_meter_joules(w->m) - w->j0;
}

/* Sleeps to 100 us before `t` (monotonic ns), then spins: arrivals land within microseconds. */
static void sleep_until_ns(double t) {
    for (;;) {
        double left = t - pl_lg_now_ns();
        if (left <= 0) return;
        if (left > 200e3) {
            double target = t - 100e3;
            struct timespec ts = {(time_t)(target / 1e9), (long)fmod(target, 1e9)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
    }
}

/* ---- scenarios ---- */

static int push_latency(pl_bench_result *r, int64_t *cap, double ns) {
    if (grow((void **)&r->latencies_ns, cap, r->n_latencies + 1, sizeof *r->latencies_ns)) return -1;
    r->latencies_ns[r->n_latencies++] = ns;
    return 0;
}

static double frac_of(pl_lg *b, double elapsed_ns, int64_t queries) {
    double fd = b->s->min_duration_s > 0 ? elapsed_ns / (b->s->min_duration_s * 1e9) : 1;
    double fq = b->s->min_queries > 0 ? (double)queries / (double)b->s->min_queries : 1;
    return fd < fq ? fd : fq;
}

static pl_status single_stream(pl_lg *b, runq *q, pl_bench_result *r) {
    int64_t cap = 0;
    double last = q->t0;
    for (int64_t n = 0;; n++) {
        double a = pl_lg_now_ns();
        PL_TRY(pl_lg_infer(b, 0));
        double e = pl_lg_now_ns();
        if (push_latency(r, &cap, e - a) || add_event(q, n, 0, a, e)) return pl_err(PL_ERR_NOMEM, "out of memory");
        last = e;
        if (e - q->t0 >= b->s->min_duration_s * 1e9 && n + 1 >= b->s->min_queries) break;
        progress(b, frac_of(b, e - q->t0, n + 1), n + 1);
    }
    progress(b, 1, r->n_latencies);
    r->queries = r->n_latencies;
    r->samples = r->queries * b->batch;
    r->duration_ns = last - q->t0;
    return PL_OK;
}

static pl_status multi_stream(pl_lg *b, runq *q, pl_bench_result *r) {
    int64_t cap = 0, spq = b->s->samples_per_query;
    double last = q->t0;
    pthread_mutex_lock(&q->mu);
    for (int64_t n = 0;; n++) {
        double a = pl_lg_now_ns();
        if (issue(q, n, spq)) {
            pthread_mutex_unlock(&q->mu);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        wait_queries(q, n + 1, NULL, NULL);
        double e = q->qdone[n];
        if (push_latency(r, &cap, e - a)) {
            pthread_mutex_unlock(&q->mu);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        last = e;
        if (q->err != PL_OK) break;
        if (e - q->t0 >= b->s->min_duration_s * 1e9 && n + 1 >= b->s->min_queries) break;
        progress(b, frac_of(b, e - q->t0, n + 1), n + 1);
    }
    pthread_mutex_unlock(&q->mu);
    progress(b, 1, r->n_latencies);
    r->queries = r->n_latencies;
    r->samples = r->queries * spq * b->batch;
    r->duration_ns = last - q->t0;
    return PL_OK;
}

static void server_tick(runq *q, void *arg) {
    int64_t n = *(int64_t *)arg;
    progress(q->b, n ? (double)q->queries_done / (double)n : 1, q->queries_done);
}

static pl_status server(pl_lg *b, runq *q, pl_bench_result *r, double qps) {
    /* the schedule: Poisson arrivals from the seed, first at 0, until both the minimum
     * duration and the minimum query count are covered */
    pl_rng rng;
    pl_rng_seed(&rng, b->s->seed);
    int64_t cap = 0, n = 0;
    double *sched = NULL, t = 0;
    while (n == 0 || sched[n - 1] < b->s->min_duration_s * 1e9 || n < b->s->min_queries) {
        if (grow((void **)&sched, &cap, n + 1, sizeof *sched)) {
            free(sched);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        sched[n++] = t;
        t += pl_rng_exponential(&rng, qps) * 1e9;
    }
    q->t0 = pl_lg_now_ns() + 1e6;
    pthread_mutex_lock(&q->mu);
    if (ensure_queries(q, n)) {
        pthread_mutex_unlock(&q->mu);
        free(sched);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_unlock(&q->mu);
    for (int64_t i = 0; i < n; i++) {
        sleep_until_ns(q->t0 + sched[i]);
        pthread_mutex_lock(&q->mu);
        int bad = issue(q, i, 1);
        pthread_mutex_unlock(&q->mu);
        if (bad) {
            free(sched);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        progress(b, (double)i / (double)n, i);
    }
    pthread_mutex_lock(&q->mu);
    wait_queries(q, n, server_tick, &n);
    pthread_mutex_unlock(&q->mu);
    progress(b, 1, n);
    int64_t lcap = 0;
    double last = q->t0;
    for (int64_t i = 0; i < n; i++) {
        double done = q->qdone[i];
        if (push_latency(r, &lcap, done - (q->t0 + sched[i]))) {
            free(sched);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        if (done > last) last = done;
    }
    free(sched);
    r->queries = n;
    r->samples = n * b->batch;
    r->duration_ns = last - q->t0;
    return PL_OK;
}

static void offline_tick(runq *q, void *arg) {
    int64_t n = *(int64_t *)arg;
    progress(q->b, n ? (double)q->n_taken / (double)n : 1, q->n_taken);
}

static pl_status offline(pl_lg *b, runq *q, pl_bench_result *r) {
    /* enough inferences to fill the minimum duration at the fastest warmup rate, scaled by the
     * parallelism the streams can get (at most the CPU count), plus 10% */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double par = b->n_streams < cpus ? b->n_streams : (double)(cpus > 0 ? cpus : 1);
    double want = 1.1 * b->s->min_duration_s * 1e9 * par / (b->fastest_ns > 0 ? b->fastest_ns : 1e6);
    int64_t n = want > 1e9 ? (int64_t)1e9 : (int64_t)ceil(want);
    if (n < b->n_streams) n = b->n_streams;
    if (n < b->s->min_queries) n = b->s->min_queries;
    pthread_mutex_lock(&q->mu);
    q->t0 = pl_lg_now_ns();
    if (issue(q, 0, n)) {
        pthread_mutex_unlock(&q->mu);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    wait_queries(q, 1, offline_tick, &n);
    double last = q->qdone[0];
    pthread_mutex_unlock(&q->mu);
    progress(b, 1, n);
    /* latencies: each inference's service time, in issue order */
    r->latencies_ns = malloc((size_t)q->n_ev * sizeof *r->latencies_ns + 1);
    if (!r->latencies_ns) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < q->n_ev; i++) r->latencies_ns[i] = q->ev[i].end_ns - q->ev[i].start_ns;
    r->n_latencies = q->n_ev;
    r->queries = 1;
    r->samples = n * b->batch;
    r->duration_ns = last - q->t0;
    return PL_OK;
}

pl_status pl_lg_run_scenario(pl_lg *b, double target_qps, pl_lg_result **out) {
    *out = NULL;
    pl_lg_result *box = calloc(1, sizeof *box);
    if (!box) return pl_err(PL_ERR_NOMEM, "out of memory");
    pl_bench_result *r = &box->r;
    r->scenario = b->s->scenario;
    runq q;
    memset(&q, 0, sizeof q);
    q.b = b;
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.work, NULL);
    pthread_cond_init(&q.done, NULL);
    worker *ws = calloc((size_t)b->n_streams, sizeof *ws);
    pl_status st = ws ? PL_OK : pl_err(PL_ERR_NOMEM, "out of memory");
    bool threaded = b->s->scenario != PL_SCENARIO_SINGLE_STREAM;
    if (st == PL_OK && threaded) st = start_workers(&q, ws, b->n_streams);
    bool started = st == PL_OK && threaded;
    energy_win ew;
    if (st == PL_OK) {
        pl_lg_profile_arm(b, b->s->profile);
        last_draw = 0;
        energy_start(&ew, b->meter);
        q.t0 = pl_lg_now_ns();
        switch (b->s->scenario) {
        case PL_SCENARIO_SINGLE_STREAM: st = single_stream(b, &q, r); break;
        case PL_SCENARIO_MULTI_STREAM: st = multi_stream(b, &q, r); break;
        case PL_SCENARIO_SERVER: st = server(b, &q, r, target_qps); break;
        case PL_SCENARIO_OFFLINE: st = offline(b, &q, r); break;
        }
        r->energy_j = energy_stop(&ew);
    }
    if (started) stop_workers(&q, ws, b->n_streams);
    if (st == PL_OK && q.err != PL_OK) st = pl_err(q.err, "%s", q.errmsg);
    if (st == PL_OK) st = pl_lg_finish(b, box, target_qps);
    pl_lg_profile_arm(b, 0);
    box->events = q.ev;
    box->n_events = q.n_ev;
    free(q.tasks);
    free(q.remaining);
    free(q.qdone);
    free(ws);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.work);
    pthread_cond_destroy(&q.done);
    if (st != PL_OK) {
        pl_bench_result_destroy(r);
        return st;
    }
    *out = box;
    return PL_OK;
}
