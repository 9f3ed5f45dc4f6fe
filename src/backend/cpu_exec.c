/* cpu_exec.c - runs an x-graph: each node on its tactic, values kept in oneDNN's blocked
 * layouts between nodes that read them, reordered to plain row-major only where a plain reader
 * needs them; memory planned per input-shape signature in one arena per context.
 *
 * Arena planning: the first run of a context with a new input-shape signature allocates with
 * malloc and records each value's size and lifetime (the node steps that define and last read
 * it); after it, the offsets are packed greedily by size (largest first, each at the lowest
 * offset not overlapping a value live at the same time, as TensorFlow Lite's planner does)
 * into one arena that later runs of that signature use with no allocation for values. Graph
 * outputs are allocated for the caller and never planned. */
#include "cpu.h"
#include "fixed.h"
#include "split.h"
#ifdef PL_HAVE_DNNL
#include "dnnl/dnnl_util.h"
#endif

#include <omp.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_PLANS 4
#define PL_MAX_SPLIT_WORKERS 256
#define MAX_SIG 64

typedef struct xslot {
    pl_tensor *t;     /* logical value (shape); its data is in the layout mds[v] when blocked */
    bool owned;       /* owned by the run (data freed with it when t->owns_data) */
    bool embedded;    /* t is the context's header for this value (not malloc'ed) */
    bool blocked;
    bool plain_embedded;
    bool moved;       /* its memory became a later node's output (in-place); t still points there */
    pl_tensor *plain; /* plain copy of a blocked value, owned */
    int uses;
} xslot;

typedef struct arena_plan {
    int sig_len;
    int64_t sig[MAX_SIG];
    size_t *offset, *size; /* per key (2 per value: the value, its plain copy); size 0: none */
    size_t total;          /* arena bytes */
    size_t unplanned;      /* sum of the planned sizes (what per-value allocation would hold) */
    void *mem;             /* NULL while the signature runs split (allocated if it stops) */
    int64_t batch;         /* axis-0 size of the inputs */
    int64_t split_chunk;   /* > 0: runs as slices of this many samples, one thread each */
    bool split_tune;       /* separable: the next eligible run times whole against split */
    int n_fixed;           /* values */
    pl_tensor **fixed;     /* per value: its content in every run of the signature (fixed.c), owned */
    bool *skip;            /* per node: its outputs are all in `fixed`, it does not run */
    int n_skip;
} arena_plan;

typedef struct ctx_state {
    /* per value, kept between runs so that a run allocates nothing for its bookkeeping */
    int nv;
    xslot *slots;
    pl_tensor **vals;
    pl_tensor *hdrs; /* 2 per value: the value, its plain copy */
#ifdef PL_HAVE_DNNL
    dnnl_memory_desc_t *mds;
#endif
    int n_plans;
    arena_plan plans[MAX_PLANS];
    void *scratch[4];
    size_t scratch_cap[4];
#ifdef PL_HAVE_DNNL
    dnnl_stream_t stream;
    void *dnnl_mem; /* oneDNN memory objects kept per (primitive, argument): dnnl_util.c */
#endif
    /* batch splitting: one sub-context per worker thread, with its input views and outputs */
    int n_sub, sub_in, sub_out;
    void **sub;
    pl_tensor *sub_views;   /* n_sub * sub_in headers */
    pl_tensor **sub_vin;    /* n_sub * sub_in */
    pl_tensor **sub_vout;   /* n_sub * sub_out */
    int64_t last_chunk;     /* samples per slice of the last run; 0: it ran whole */
    /* per graph output: memory for a bound output computed in a oneDNN layout (reordered into
     * the caller's tensor at the end), kept between runs */
    int n_obuf;
    void **obuf;
    size_t *ocap;
    int last_skipped;       /* nodes the last run took from its plan's fixed values */
} ctx_state;

struct pl_xrun {
    pl_cpu_engine *ce;
    ctx_state *cs;
    const pl_xgraph *xg;
    xslot *slots;
    pl_tensor **vals;  /* plain views per value for reference control flow (frame.vals) */
    pl_frame frame;
    int step;
    bool post_done;    /* the tactic applied the node's post-ops itself */
    bool timing;       /* time every candidate tactic of each node (engine build) */
    arena_plan *plan;  /* NULL: recording */
    size_t *rec_size;  /* recording: per key */
    int *rec_def, *rec_last;
    int *rec_alias;    /* recording: the key whose memory this key took over in place, or -1 */
    signed char *vb;   /* recording: per value, its batch class (split.h) */
    signed char *fx;   /* recording: per value, PL_FX_* (fixed.h) */
    pl_tensor **rec_fixed; /* recording: copies of the FIXED values worth keeping */
    size_t rec_fixed_bytes;
};

double pl_cpu_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Set on a thread while it runs batch slices (run_split): each slice's graph runs on that
 * thread alone, with OpenMP's thread count 1 there. */
static _Thread_local bool tl_slice;

bool pl_cpu_in_slice(void) { return tl_slice; }

/* The caller's output tensors of the top-level run in progress on this thread
 * (pl_cpu_run_into; NULL entries: unbound), never seen by batch slices. */
static _Thread_local pl_tensor *const *tl_bind;
static _Thread_local int tl_n_bind;

/* The tensor bound to graph output value v (its first listing), or NULL; *oi its index. */
static pl_tensor *bound_for(const pl_xgraph *xg, int v, int *oi) {
    if (!tl_bind || tl_slice) return NULL;
    for (int i = 0; i < tl_n_bind; i++)
        if (xg->g->outputs[i] == v) {
            if (oi) *oi = i;
            return tl_bind[i];
        }
    return NULL;
}

static pl_tensor *bound_at(int i) { return tl_bind && !tl_slice && i < tl_n_bind ? tl_bind[i] : NULL; }

/* Outputs back to what the caller gave: unbound ones destroyed and NULL, bound ones the
 * caller's tensors (content unspecified after a failure). */
static void drop_outputs(pl_tensor **outputs, int n) {
    for (int i = 0; i < n; i++) {
        if (outputs[i] != bound_at(i)) pl_tensor_destroy(outputs[i]);
        outputs[i] = bound_at(i);
    }
}

int pl_xrun_threads(const pl_xrun *r) {
    if (tl_slice) return 1;
    return r->ce->threads > 0 ? r->ce->threads : omp_get_max_threads();
}

const pl_xgraph *pl_xrun_graph(const pl_xrun *r) { return r->xg; }

static int nkeys(const pl_xrun *r) { return 2 * r->xg->n_values; }

/* Memory for key k of `bytes`: the arena slot when planned and large enough, else malloc
 * (recorded when recording). *arena tells which. */
static void *value_mem(pl_xrun *r, int k, size_t bytes, bool *arena) {
    *arena = false;
    if (r->plan && k >= 0 && r->plan->size[k] >= bytes && r->plan->size[k] > 0) {
        *arena = true;
        return (char *)r->plan->mem + r->plan->offset[k];
    }
    if (!r->plan && r->rec_size && k >= 0) {
        r->rec_size[k] = bytes;
        r->rec_def[k] = r->step;
        r->rec_last[k] = r->step;
    }
    return malloc(bytes ? bytes : 1);
}

static void note_release(pl_xrun *r, int k) {
    if (!r->plan && r->rec_last && k >= 0) r->rec_last[k] = r->step;
}

static bool is_out(const pl_xrun *r, int v) { return pl_xgraph_is_output(r->xg, v); }

static void free_value(pl_tensor *t, bool embedded) {
    if (!embedded) {
        pl_tensor_destroy(t);
        return;
    }
    if (t->owns_data) free(t->data);
    t->data = NULL;
    t->owns_data = false;
}

static void slot_clear(pl_xrun *r, int v) {
    xslot *s = &r->slots[v];
    if (s->plain) {
        free_value(s->plain, s->plain_embedded);
        note_release(r, v + r->xg->n_values);
    }
    if (s->owned) {
        free_value(s->t, s->embedded);
        note_release(r, v);
    }
    s->t = s->plain = NULL;
    s->owned = s->embedded = s->blocked = s->plain_embedded = s->moved = false;
    s->uses = 0;
    r->vals[v] = NULL;
}

/* Memory for graph output value ov bound to a caller's tensor: the tensor's own when the
 * value is plain and of its type and shape, else (a oneDNN layout) the context's kept buffer
 * for that output; NULL when unbound or neither fits. */
static void *bound_mem(pl_xrun *r, int ov, bool plain, pl_dtype dt, int rank, const int64_t *dims, size_t bytes) {
    int oi = -1;
    pl_tensor *b = ov >= 0 ? bound_for(r->xg, ov, &oi) : NULL;
    if (!b) return NULL;
    if (plain) {
        bool same = b->kind == PL_KIND_TENSOR && b->dtype == dt && b->rank == rank && b->data &&
                    (!rank || !memcmp(b->dims, dims, (size_t)rank * sizeof *dims)) && bytes <= b->nbytes;
        return same ? b->data : NULL;
    }
    ctx_state *cs = r->cs;
    if (oi >= cs->n_obuf) {
        int n = r->xg->g->n_outputs;
        void **ob = calloc((size_t)n, sizeof *ob);
        size_t *oc = calloc((size_t)n, sizeof *oc);
        if (!ob || !oc) {
            free(ob);
            free(oc);
            return NULL;
        }
        for (int i = 0; i < cs->n_obuf; i++) {
            ob[i] = cs->obuf[i];
            oc[i] = cs->ocap[i];
        }
        free(cs->obuf);
        free(cs->ocap);
        cs->obuf = ob;
        cs->ocap = oc;
        cs->n_obuf = n;
    }
    if (cs->ocap[oi] < bytes) {
        free(cs->obuf[oi]);
        cs->obuf[oi] = aligned_alloc(64, (bytes + 63) / 64 * 64);
        cs->ocap[oi] = cs->obuf[oi] ? bytes : 0;
    }
    return cs->obuf[oi];
}

/* A header over planned or malloc'ed memory for key k (k < 0: not planned, e.g. outputs; a
 * malloc'ed header the caller may keep). Keys of values use the context's own headers. A
 * graph output ov (k < 0) bound to a caller's tensor takes its memory (bound_mem; `plain`:
 * the value is in plain layout). */
static pl_status new_value(pl_xrun *r, int k, int ov, bool plain, pl_dtype dt, int rank, const int64_t *dims,
                           size_t bytes, pl_tensor **out, bool *embedded) {
    *embedded = false;
    pl_tensor *t;
    if (k < 0) {
        PL_TRY(pl_tensor_view(dt, rank, dims, NULL, &t));
        if (bytes < t->nbytes) bytes = t->nbytes;
        void *bm = bound_mem(r, ov, plain, dt, rank, dims, bytes);
        if (bm) {
            t->data = bm;
            t->owns_data = false;
            *out = t;
            return PL_OK;
        }
    } else {
        int nv = r->xg->n_values;
        t = &r->cs->hdrs[k];
        /* the value is being recomputed (tactic timing, a widening post-op): drop the old */
        if (k < nv && r->slots[k].t == t) slot_clear(r, k);
        int64_t numel;
        size_t es = pl_dtype_size(dt);
        int64_t nb;
        if (rank < 0 || rank > PL_MAX_RANK || !pl_dims_numel(rank, dims, &numel) || !es ||
            !pl_mul_size(numel, (int64_t)es, &nb))
            return pl_err(PL_ERR_INVALID, "a %s value of rank %d has invalid dims", pl_dtype_name(dt), rank);
        memset(t, 0, sizeof *t);
        t->kind = PL_KIND_TENSOR;
        t->dtype = dt;
        t->rank = rank;
        if (rank) memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
        t->numel = numel;
        t->nbytes = (size_t)nb;
        *embedded = true;
    }
    if (bytes < t->nbytes) bytes = t->nbytes;
    bool arena;
    void *mem = value_mem(r, k, bytes, &arena);
    if (!mem) {
        if (!*embedded) pl_tensor_destroy(t);
        *out = NULL;
        return pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes for a value", bytes);
    }
    t->data = mem;
    t->owns_data = !arena;
    *out = t;
    return PL_OK;
}

static void release(pl_xrun *r, int v) {
    if (v < 0) return;
    xslot *s = &r->slots[v];
    if (--s->uses == 0) slot_clear(r, v);
}

const pl_tensor *pl_xrun_logical(const pl_xrun *r, int v) { return v >= 0 ? r->slots[v].t : NULL; }

pl_status pl_xrun_value(pl_xrun *r, int v, const pl_tensor **t) {
    *t = NULL;
    xslot *s = &r->slots[v];
    if (!s->t) return pl_err(PL_ERR_INTERNAL, "value '%s' has no data", v < r->xg->g->n_values ? r->xg->g->values[v].name : "(pass)");
    if (!s->blocked) {
        *t = s->t;
        return PL_OK;
    }
    if (!s->plain) {
#ifdef PL_HAVE_DNNL
        pl_tensor *p;
        bool emb;
        int k = is_out(r, v) ? -1 : v + r->xg->n_values;
        PL_TRY(new_value(r, k, k < 0 ? v : -1, true, s->t->dtype, s->t->rank, s->t->dims, 0, &p, &emb));
        dnnl_memory_desc_t pmd;
        pl_status st = pl_dnnl_plain_md(p->dtype, p->rank, p->dims, &pmd);
        if (st == PL_OK) st = pl_dnnl_reorder(r, &r->cs->mds[v], s->t->data, &pmd, p->data);
        if (st != PL_OK) {
            free_value(p, emb);
            return st;
        }
        s->plain = p;
        s->plain_embedded = emb;
        r->vals[v] = p;
#else
        return pl_err(PL_ERR_INTERNAL, "blocked value without oneDNN");
#endif
    }
    *t = s->plain;
    return PL_OK;
}

pl_status pl_xrun_in(pl_xrun *r, const pl_xnode *xn, int i, const pl_tensor **t) {
    *t = NULL;
    if (i < 0 || i >= xn->n_in || xn->in[i] < 0) return PL_OK;
    return pl_xrun_value(r, xn->in[i], t);
}

static pl_status set_output(pl_xrun *r, int v, pl_tensor *t, bool blocked, bool embedded) {
    xslot *s = &r->slots[v];
    if (s->t) slot_clear(r, v);
    s->t = t;
    s->owned = true;
    s->embedded = embedded;
    s->blocked = blocked;
    s->uses = pl_xgraph_readers(r->xg, v);
    r->vals[v] = blocked ? NULL : t;
    return PL_OK;
}

pl_status pl_xrun_out(pl_xrun *r, const pl_xnode *xn, int i, pl_dtype dt, int rank,
                      const int64_t *dims, pl_tensor **t) {
    *t = NULL;
    int v = xn->out[i];
    pl_tensor *n;
    bool emb;
    if (v < 0) return pl_err(PL_ERR_INTERNAL, "output %d of node '%s' is omitted", i, xn->node->name);
    PL_TRY(new_value(r, is_out(r, v) ? -1 : v, is_out(r, v) ? v : -1, true, dt, rank, dims, 0, &n, &emb));
    set_output(r, v, n, false, emb);
    *t = n;
    return PL_OK;
}

/* Value v, computed in place over value `from` (this node being its last reader, the run
 * owning its memory): v takes over from's tensor, with shape (rank, dims), and the plan keeps
 * from's memory alive until v's end. Returns v's tensor. */
static pl_tensor *take_over(pl_xrun *r, int v, int from, int rank, const int64_t *dims, bool blocked) {
    xslot *s = &r->slots[from];
    pl_tensor *t = s->t;
    bool emb = s->embedded;
    s->owned = false;
    s->moved = true;
    t->rank = rank;
    for (int d = 0; d < PL_MAX_RANK; d++) t->dims[d] = d < rank ? dims[d] : 0;
    set_output(r, v, t, blocked, emb);
    if (!r->plan && r->rec_alias) {
        r->rec_alias[v] = from;
        r->rec_def[v] = r->rec_last[v] = r->step;
    }
    return t;
}

#ifdef PL_HAVE_DNNL
pl_status pl_xrun_dnnl_in(pl_xrun *r, const pl_xnode *xn, int i, dnnl_memory_desc_t *md,
                          void **data, const pl_tensor **logical) {
    int v = xn->in[i];
    xslot *s = &r->slots[v];
    if (!s->t) return pl_err(PL_ERR_INTERNAL, "input %d of node '%s' has no data", i, xn->node->name);
    if (logical) *logical = s->t;
    if (s->blocked) {
        *md = r->cs->mds[v];
        *data = s->t->data;
        return PL_OK;
    }
    *data = s->t->data;
    return pl_dnnl_plain_md(s->t->dtype, s->t->rank, s->t->dims, md);
}

pl_status pl_xrun_dnnl_out(pl_xrun *r, const pl_xnode *xn, int i, const dnnl_memory_desc_t *md,
                           pl_dtype dt, int rank, const int64_t *dims, void **data) {
    int v = xn->out[i];
    if (v < 0) return pl_err(PL_ERR_INTERNAL, "output %d of node '%s' is omitted", i, xn->node->name);
    bool plain = pl_dnnl_md_is_plain(md);
    pl_tensor *n;
    bool emb;
    PL_TRY(new_value(r, is_out(r, v) ? -1 : v, is_out(r, v) ? v : -1, plain, dt, rank, dims,
                     dnnl_memory_desc_get_size(md), &n, &emb));
    set_output(r, v, n, !plain, emb);
    r->cs->mds[v] = *md;
    *data = n->data;
    return PL_OK;
}

pl_status pl_xrun_dnnl_value(pl_xrun *r, int v, dnnl_memory_desc_t *md, void **data,
                             const pl_tensor **logical) {
    xslot *s = &r->slots[v];
    if (!s->t) return pl_err(PL_ERR_INTERNAL, "value '%s' has no data", v < r->xg->g->n_values ? r->xg->g->values[v].name : "(pass)");
    if (logical) *logical = s->t;
    *data = s->t->data;
    if (s->blocked) {
        *md = r->cs->mds[v];
        return PL_OK;
    }
    return pl_dnnl_plain_md(s->t->dtype, s->t->rank, s->t->dims, md);
}

pl_status pl_xrun_dnnl_out_reuse(pl_xrun *r, const pl_xnode *xn, int i, const dnnl_memory_desc_t *md,
                                 pl_dtype dt, int rank, const int64_t *dims, int reuse, void **data) {
    int v = xn->out[i];
    /* not while timing tactics: each candidate runs the node again on the same residual */
    if (reuse >= 0 && v >= 0 && reuse != v && !is_out(r, v) && !r->timing) {
        xslot *s = &r->slots[reuse];
        bool ok = s->t && s->owned && !s->moved && s->uses == 1 && s->t->dtype == dt && s->t->kind == PL_KIND_TENSOR;
        dnnl_memory_desc_t rmd;
        if (ok) {
            if (s->blocked) rmd = r->cs->mds[reuse];
            else ok = pl_dnnl_plain_md(s->t->dtype, s->t->rank, s->t->dims, &rmd) == PL_OK;
        }
        if (ok && dnnl_memory_desc_equal(&rmd, md)) {
            pl_tensor *t = take_over(r, v, reuse, rank, dims, !pl_dnnl_md_is_plain(md));
            r->cs->mds[v] = *md;
            *data = t->data;
            return PL_OK;
        }
    }
    return pl_xrun_dnnl_out(r, xn, i, md, dt, rank, dims, data);
}

dnnl_stream_t pl_xrun_stream(pl_xrun *r) { return r->cs->stream; }

void **pl_xrun_dnnl_memcache(pl_xrun *r) { return &r->cs->dnnl_mem; }
#endif

void *pl_xrun_scratch(pl_xrun *r, int slot, size_t bytes) {
    if (slot < 0 || slot >= 4) return NULL;
    if (bytes > r->cs->scratch_cap[slot] || !r->cs->scratch[slot]) {
        free(r->cs->scratch[slot]);
        r->cs->scratch[slot] = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
        r->cs->scratch_cap[slot] = r->cs->scratch[slot] ? bytes : 0;
    }
    return r->cs->scratch[slot];
}

/* ---- the reference tactic: the node's reference kernel, then its post-ops ---- */

static bool ref_accepts(const pl_xgraph *xg, const pl_xnode *xn) { return xn->node->schema != NULL; }

/* Reshape, Flatten, Squeeze, Unsqueeze: the same data under another shape. */
static bool is_view_op(const pl_xnode *xn) {
    static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", NULL};
    return !xn->node->domain[0] && xn->n_out == 1 && xn->out[0] >= 0 && !xn->n_post && pl_op_listed(xn->op, ops);
}

/* Sets output 0 of a view op to input 0's data x under shape (rank, dims): input 0's memory
 * itself when this node is its last reader and owns it (plain, not a graph output, not while
 * tactics are timed, as pl_xrun_dnnl_out_reuse does for oneDNN), else a copy in the run's
 * memory. */
static pl_status view_out(pl_xrun *r, const pl_xnode *xn, const pl_tensor *x, int rank, const int64_t *dims) {
    int v = xn->out[0], xv = xn->in[0];
    xslot *s = &r->slots[xv];
    if (!is_out(r, v) && !r->timing && s->t == x && s->owned && !s->moved && !s->blocked && s->uses == 1 &&
        x->kind == PL_KIND_TENSOR && pl_xgraph_readers(r->xg, v) > 0) {
        take_over(r, v, xv, rank, dims, false);
        return PL_OK;
    }
    pl_tensor *t;
    PL_TRY(pl_xrun_out(r, xn, 0, x->dtype, rank, dims, &t));
    if (x->nbytes) memcpy(t->data, x->data, x->nbytes);
    return PL_OK;
}

static pl_status ref_run(pl_xrun *r, pl_xnode *xn) {
    const pl_node *node = xn->node;
    const pl_op_schema *s = node->schema;
    if (!s)
        return pl_err(PL_ERR_UNSUPPORTED, "op %s (opset %lld) is not supported", node->op_type,
                      (long long)node->opset);
    PL_TRY(pl_op_check_arity(s, xn->n_in, xn->in, xn->n_out));
    const pl_tensor *stack_in[16];
    pl_tensor *stack_out[16];
    void *stack_mem[16];
    size_t stack_cap[16];
    bool big = xn->n_in > 16 || xn->n_out > 16;
    const pl_tensor **in = big ? calloc((size_t)xn->n_in + 1, sizeof *in) : stack_in;
    pl_tensor **out = big ? calloc((size_t)xn->n_out + 1, sizeof *out) : stack_out;
    void **mem = big ? calloc((size_t)xn->n_out + 1, sizeof *mem) : stack_mem;
    size_t *cap = big ? calloc((size_t)xn->n_out + 1, sizeof *cap) : stack_cap;
    pl_status st = PL_OK;
    if (!in || !out || !mem || !cap) st = pl_err(PL_ERR_NOMEM, "out of memory");
    for (int i = 0; st == PL_OK && i < xn->n_in; i++) st = pl_xrun_in(r, xn, i, &in[i]);
    /* subgraphs read outer values through the frame: make them plain */
    for (int o = 0; st == PL_OK && o < xn->n_outer; o++) {
        const pl_tensor *t;
        if (r->slots[xn->outer[o]].t) st = pl_xrun_value(r, xn->outer[o], &t);
    }
    for (int i = 0; st == PL_OK && i < xn->n_out; i++) {
        out[i] = NULL;
        int v = xn->out[i];
        mem[i] = NULL;
        cap[i] = 0;
        if (r->plan && v >= 0 && !is_out(r, v) && r->plan->size[v]) {
            mem[i] = (char *)r->plan->mem + r->plan->offset[v];
            cap[i] = r->plan->size[v];
        }
    }
    pl_kernel_ctx ctx = {.node = node,
                         .opset = node->opset,
                         .n_in = xn->n_in,
                         .in = in,
                         .n_out = xn->n_out,
                         .out = out,
                         .frame = &r->frame,
                         .out_mem = mem,
                         .out_cap = cap};
    int view_rank = -1;
    int64_t view_dims[PL_MAX_RANK];
    bool view = is_view_op(xn);
    if (view) {
        ctx.view_rank = &view_rank;
        ctx.view_dims = view_dims;
    }
    if (st == PL_OK) st = s->run(&ctx);
    bool viewed = st == PL_OK && view && view_rank >= 0; /* output 0 set by view_out */
    if (viewed) st = view_out(r, xn, in[0], view_rank, view_dims);
    for (int i = viewed ? 1 : 0; st == PL_OK && i < xn->n_out; i++)
        if (xn->out[i] >= 0 && !out[i]) st = pl_err(PL_ERR_INTERNAL, "output %d was not produced by the kernel", i);
    for (int i = viewed ? 1 : 0; i < xn->n_out && out; i++) {
        int v = xn->out[i];
        if (st != PL_OK || v < 0 || pl_xgraph_readers(r->xg, v) == 0) {
            pl_tensor_destroy(out[i]);
            continue;
        }
        pl_tensor *t = out[i];
        if (!r->plan && !is_out(r, v) && t->kind == PL_KIND_TENSOR && r->rec_size) {
            r->rec_size[v] = t->nbytes;
            r->rec_def[v] = r->rec_last[v] = r->step;
        }
        /* memory from the arena is borrowed by the header: never freed with it */
        set_output(r, v, t, false, false);
    }
    if (big) {
        free(in);
        free(out);
        free(mem);
        free(cap);
    }
    return st;
}

const pl_tactic pl_tactic_reference = {.name = "reference", .accepts = ref_accepts, .run = ref_run};

/* ---- post-ops on a plain output ---- */

static float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }

/* out (op) value v for a fused Add/Mul, numpy broadcasting by the reference Add/Mul kernel; when
 * v is the larger operand the result (of its shape) replaces *outp (freshly allocated). */
static pl_status apply_binary(pl_xrun *r, const pl_xnode *xn, pl_post_kind kind, int v, pl_tensor **outp) {
    pl_tensor *out = *outp;
    const pl_tensor *b;
    PL_TRY(pl_xrun_value(r, v, &b));
    if (b->dtype != out->dtype || out->dtype != PL_DT_FLOAT)
        return pl_err(PL_ERR_INTERNAL, "fused %s needs float tensors", pl_post_name(kind));
    float *o = out->data;
    const float *bd = b->data;
    /* same shape: in place (same count alone is not enough: [4,1] + [1,4] is [4,4]) */
    if (b->rank == out->rank && !memcmp(b->dims, out->dims, (size_t)out->rank * sizeof *out->dims)) {
        if (kind == PL_POST_MUL)
            for (int64_t i = 0; i < out->numel; i++) o[i] *= bd[i];
        else
            for (int64_t i = 0; i < out->numel; i++) o[i] += bd[i];
        return PL_OK;
    }
    const pl_op_schema *op = pl_op_find("", kind == PL_POST_MUL ? "Mul" : "Add");
    const pl_tensor *in[2] = {out, b};
    pl_tensor *res = NULL;
    pl_kernel_ctx ctx = {.node = xn->node, .opset = 14, .n_in = 2, .in = in, .n_out = 1, .out = &res};
    PL_TRY(op->run(&ctx));
    if (res->rank == out->rank && !memcmp(res->dims, out->dims, (size_t)out->rank * sizeof *out->dims)) {
        memcpy(out->data, res->data, out->nbytes); /* keep the output's own (arena) memory */
        pl_tensor_destroy(res);
    } else {
        *outp = res;
    }
    return PL_OK;
}

void pl_xrun_post_done(pl_xrun *r) { r->post_done = true; }

/* The element-wise post-op po (an activation, not SUM/ADD/MUL) over n floats in place. */
pl_status pl_post_apply_f32(const pl_post *po, float *o, int64_t n) {
    float a = po->alpha, b = po->beta;
    switch (po->kind) {
    case PL_POST_RELU:
        for (int64_t i = 0; i < n; i++) o[i] = o[i] < 0 ? o[i] * a : o[i];
        break;
    case PL_POST_CLIP:
        for (int64_t i = 0; i < n; i++) o[i] = o[i] < a ? a : o[i] > b ? b : o[i];
        break;
    case PL_POST_SIGMOID:
        for (int64_t i = 0; i < n; i++) o[i] = 1.0f / (1.0f + expf(-o[i]));
        break;
    case PL_POST_TANH:
        for (int64_t i = 0; i < n; i++) o[i] = tanhf(o[i]);
        break;
    case PL_POST_SILU:
        for (int64_t i = 0; i < n; i++) o[i] = o[i] / (1.0f + expf(-o[i]));
        break;
    case PL_POST_HARDSWISH:
        for (int64_t i = 0; i < n; i++) {
            float t = o[i] / 6.0f + 0.5f;
            o[i] *= t < 0 ? 0 : t > 1 ? 1 : t;
        }
        break;
    case PL_POST_HARDSIGMOID:
        for (int64_t i = 0; i < n; i++) {
            float t = a * o[i] + b;
            o[i] = t < 0 ? 0 : t > 1 ? 1 : t;
        }
        break;
    case PL_POST_GELU:
        for (int64_t i = 0; i < n; i++) o[i] = gelu(o[i]);
        break;
    case PL_POST_ELU:
        for (int64_t i = 0; i < n; i++) o[i] = o[i] < 0 ? a * (expf(o[i]) - 1.0f) : o[i];
        break;
    default:
        return pl_err(PL_ERR_INTERNAL, "unknown post-op %d", (int)po->kind);
    }
    return PL_OK;
}

/* Applies the post-ops to *outp; a broadcasting Add/Mul may replace it by a larger tensor
 * (then *outp is new and owned by the caller, the old one still the caller's too). */
static pl_status apply_post(pl_xrun *r, const pl_xnode *xn, pl_tensor **outp) {
    pl_tensor *orig = *outp;
    for (int p = 0; p < xn->n_post; p++) {
        const pl_post *po = &xn->post[p];
        pl_tensor *out = *outp;
        if (po->kind == PL_POST_SUM || po->kind == PL_POST_ADD || po->kind == PL_POST_MUL) {
            PL_TRY(apply_binary(r, xn, po->kind, po->arg, outp));
            if (*outp != out && out != orig) pl_tensor_destroy(out); /* an earlier replacement */
            continue;
        }
        if (out->dtype != PL_DT_FLOAT)
            return pl_err(PL_ERR_INTERNAL, "fused %s needs a float output", pl_post_name(po->kind));
        PL_TRY(pl_post_apply_f32(po, out->data, out->numel));
    }
    return PL_OK;
}

/* The node's post-ops on its output value, in plain layout, after a tactic that did not fuse
 * them. */
static pl_status post_plain(pl_xrun *r, const pl_xnode *xn) {
    int v = xn->out[0];
    if (v < 0) return PL_OK;
    xslot *s = &r->slots[v];
    const pl_tensor *pt;
    PL_TRY(pl_xrun_value(r, v, &pt));
    if (s->blocked) { /* keep only the plain copy */
        pl_tensor *p = s->plain;
        s->plain = NULL;
        free_value(s->t, s->embedded);
        note_release(r, v);
        s->t = p;
        s->embedded = s->plain_embedded;
        s->plain_embedded = false;
        s->blocked = false;
        r->vals[v] = p;
    }
    pl_tensor *t = s->t;
    pl_status st = apply_post(r, xn, &t);
    if (t != s->t) { /* replaced by a broadcast result (freshly allocated) */
        if (st == PL_OK) {
            int uses = s->uses;
            set_output(r, v, t, false, false);
            s->uses = uses;
        } else {
            pl_tensor_destroy(t);
        }
    }
    return st;
}

/* ---- arena planning ---- */

static void plan_free(arena_plan *p) {
    for (int v = 0; p->fixed && v < p->n_fixed; v++) pl_tensor_destroy(p->fixed[v]);
    free(p->fixed);
    free(p->skip);
    free(p->offset);
    free(p->size);
    free(p->mem);
    memset(p, 0, sizeof *p);
}

typedef struct plan_item {
    int key;
    size_t size;
    int def, last;
} plan_item;

static int by_size_desc(const void *a, const void *b) {
    const plan_item *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->key - y->key;
}

/* Greedy by size: each value, largest first, at the lowest 64-byte aligned offset that does
 * not overlap any already placed value whose lifetime intersects its own. */
static pl_status plan_make(pl_xrun *r, arena_plan *p) {
    int nk = nkeys(r);
    p->offset = calloc((size_t)nk, sizeof *p->offset);
    p->size = calloc((size_t)nk, sizeof *p->size);
    plan_item *items = calloc((size_t)nk, sizeof *items);
    if (!p->offset || !p->size || !items) {
        free(items);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    /* a value computed in place over another keeps that one's memory alive until its own end */
    for (int k = 0; k < nk; k++) {
        if (r->rec_alias[k] < 0) continue;
        int root = r->rec_alias[k], guard = 0;
        while (r->rec_alias[root] >= 0 && guard++ < nk) root = r->rec_alias[root];
        if (r->rec_last[k] > r->rec_last[root]) r->rec_last[root] = r->rec_last[k];
        r->rec_size[k] = 0;
    }
    for (int k = 0; k < nk; k++) /* chains: a root's extension reaches every alias's root */
        if (r->rec_alias[k] >= 0) {
            int root = r->rec_alias[k], guard = 0;
            while (r->rec_alias[root] >= 0 && guard++ < nk) root = r->rec_alias[root];
            if (r->rec_last[k] > r->rec_last[root]) r->rec_last[root] = r->rec_last[k];
        }
    int n = 0;
    for (int k = 0; k < nk; k++)
        if (r->rec_size[k]) items[n++] = (plan_item){k, (r->rec_size[k] + 63) / 64 * 64, r->rec_def[k], r->rec_last[k]};
    qsort(items, (size_t)n, sizeof *items, by_size_desc);
    size_t total = 0, sum = 0;
    for (int i = 0; i < n; i++) {
        size_t off = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int j = 0; j < i; j++) {
                if (items[j].last < items[i].def || items[i].last < items[j].def) continue;
                size_t jo = p->offset[items[j].key];
                if (off < jo + items[j].size && jo < off + items[i].size) {
                    off = jo + items[j].size;
                    moved = true;
                }
            }
        }
        p->offset[items[i].key] = off;
        p->size[items[i].key] = items[i].size;
        if (off + items[i].size > total) total = off + items[i].size;
        sum += items[i].size;
    }
    free(items);
    p->total = total;
    p->unplanned = sum;
    p->mem = total ? aligned_alloc(64, total) : NULL;
    if (total && !p->mem) return pl_err(PL_ERR_NOMEM, "cannot allocate a %zu-byte arena", total);
    return PL_OK;
}

void pl_cpu_ctx_state_free(void *state) {
    ctx_state *cs = state;
    if (!cs) return;
    for (int i = 0; i < cs->n_plans; i++) plan_free(&cs->plans[i]);
    free(cs->slots);
    free(cs->vals);
    free(cs->hdrs);
#ifdef PL_HAVE_DNNL
    free(cs->mds);
#endif
    for (int i = 0; i < 4; i++) free(cs->scratch[i]);
    for (int i = 0; i < cs->n_obuf; i++) free(cs->obuf[i]);
    free(cs->obuf);
    free(cs->ocap);
#ifdef PL_HAVE_DNNL
    pl_dnnl_memcache_free(cs->dnnl_mem);
    if (cs->stream) dnnl_stream_destroy(cs->stream);
#endif
    for (int i = 0; i < cs->n_sub; i++) pl_cpu_ctx_state_free(cs->sub[i]);
    free(cs->sub);
    free(cs->sub_views);
    free(cs->sub_vin);
    free(cs->sub_vout);
    free(cs);
}

size_t pl_cpu_ctx_arena_bytes(void *state, size_t *unplanned) {
    ctx_state *cs = state;
    size_t best = 0, best_un = 0;
    for (int i = 0; cs && i < cs->n_plans; i++)
        if (cs->plans[i].mem && cs->plans[i].total >= best) {
            best = cs->plans[i].total;
            best_un = cs->plans[i].unplanned;
        }
    /* split signatures hold their sub-contexts' arenas instead of their own */
    for (int i = 0; cs && i < cs->n_sub; i++) {
        size_t un = 0;
        best += pl_cpu_ctx_arena_bytes(cs->sub[i], &un);
        best_un += un;
    }
    if (unplanned) *unplanned = best_un;
    return best;
}

int64_t pl_cpu_ctx_split_chunk(const void *state) { return state ? ((const ctx_state *)state)->last_chunk : 0; }

int pl_cpu_ctx_fixed_nodes(const void *state) {
    const ctx_state *cs = state;
    if (!cs) return 0;
    if (cs->last_chunk > 0 && cs->n_sub > 0) return pl_cpu_ctx_fixed_nodes(cs->sub[0]);
    return cs->last_skipped;
}

/* ---- the run ---- */

static int signature(const pl_xgraph *xg, int n_inputs, pl_tensor *const *inputs, int64_t *sig) {
    int n = 0;
    for (int i = 0; i < n_inputs; i++) {
        const pl_tensor *t = inputs[i];
        if (xg->consts[xg->g->inputs[i]] == t) continue;
        if (n + 2 + (t ? t->rank : 0) > MAX_SIG) return -1;
        sig[n++] = t ? (int64_t)t->kind * 1000 + t->dtype : -1;
        sig[n++] = t ? t->rank : -1;
        for (int d = 0; t && d < t->rank; d++) sig[n++] = t->dims[d];
    }
    return n;
}

/* Times each candidate tactic of xn on the current inputs and keeps the best in xn->tactic;
 * the times go to xn->tactic_ns. The candidates run interleaved (a warmup of each, then up to
 * five rounds, or 50 ms of rounds, running each once per round) and each keeps its minimum, so
 * that a burst of load on a shared machine hits all of them alike. Candidates come best-first
 * by expectation: a later one replaces an earlier one only when at least 10% faster, and the
 * reference tactic, whose plain layout costs its neighbours reorders the timing does not see,
 * only when at least 2x faster. Each candidate's outputs are discarded; the caller runs the
 * chosen one for real. */
static pl_status run_candidate(pl_xrun *r, pl_xnode *xn, const pl_tactic *t, double *ns) {
    const pl_tactic *saved = xn->tactic;
    xn->tactic = t;
    double t0 = pl_cpu_now_ns();
    r->post_done = false;
    pl_status st = t->run(r, xn);
    if (st == PL_OK && xn->n_post && !r->post_done) st = post_plain(r, xn);
    *ns = pl_cpu_now_ns() - t0;
    xn->tactic = saved;
    return st;
}

static pl_status time_tactics(pl_xrun *r, pl_xnode *xn) {
    const pl_tactic *cand[8];
    int nc = pl_tactics_for(r->xg, xn, cand, 8);
    if (nc < 2) return PL_OK;
    bool ok[8];
    double spent = 0, ns;
    for (int c = 0; c < nc; c++) {
        ok[c] = run_candidate(r, xn, cand[c], &ns) == PL_OK; /* warmup: primitives, weights */
        if (!ok[c]) pl_err_clear();
        xn->tactic_ns[c] = ok[c] ? 1e300 : -1;
    }
    for (int round = 0; round < 5 && (round < 2 || spent < 50e6); round++)
        for (int c = 0; c < nc; c++) {
            if (!ok[c]) continue;
            if (run_candidate(r, xn, cand[c], &ns) != PL_OK) {
                pl_err_clear();
                ok[c] = false;
                xn->tactic_ns[c] = -1;
                continue;
            }
            spent += ns;
            if (ns < xn->tactic_ns[c]) xn->tactic_ns[c] = ns;
        }
    int best = -1;
    for (int c = 0; c < nc; c++) {
        if (!ok[c]) continue;
        double margin = cand[c] == &pl_tactic_reference ? 2.0 : 1.1;
        if (best < 0 || xn->tactic_ns[c] * margin < xn->tactic_ns[best]) best = c;
    }
    if (best >= 0) xn->tactic = cand[best];
    return PL_OK;
}

/* ---- batch splitting ---- */

static const pl_tensor *vb_shape(void *user, int v) { return pl_xrun_logical(user, v); }

/* Batch classes of the run's inputs: a user input is a sample value when it is a tensor with
 * the first input's axis-0 size. Returns that size (0: no user input). */
static int64_t vb_inputs(pl_xrun *r, int n_inputs, pl_tensor *const *inputs) {
    const pl_xgraph *xg = r->xg;
    int64_t n = 0;
    for (int v = 0; v < xg->n_values; v++)
        if (xg->consts[v]) r->vb[v] = PL_VB_CONST;
    for (int i = 0; i < n_inputs && i < xg->g->n_inputs; i++) {
        int v = xg->g->inputs[i];
        const pl_tensor *t = inputs[i];
        if (xg->consts[v]) continue;
        bool sample = t && t->kind == PL_KIND_TENSOR && t->dtype != PL_DT_STRING && t->rank >= 1;
        if (sample && n == 0) n = t->dims[0];
        r->vb[v] = sample && t->dims[0] == n ? PL_VB_BATCH : PL_VB_MIXED;
    }
    return n;
}

/* Whether the recorded run can be split over axis 0: every user input and every graph output
 * a sample value. */
static bool vb_separable(const pl_xrun *r, int n_inputs) {
    const pl_xgraph *xg = r->xg;
    if (n_inputs < xg->g->n_inputs) return false;
    for (int i = 0; i < xg->g->n_inputs; i++)
        if (!xg->consts[xg->g->inputs[i]] && r->vb[xg->g->inputs[i]] != PL_VB_BATCH) return false;
    for (int i = 0; i < xg->g->n_outputs; i++)
        if (r->vb[xg->g->outputs[i]] != PL_VB_BATCH) return false;
    return true;
}

/* Samples per slice for a separable signature of `batch` samples whose values took `arena`
 * bytes. A slice re-reads every weight, so it should carry enough samples that its
 * activations outweigh the weights: at least one eighth of the weight bytes in activation
 * bytes, rounded up, and no more than an even share of the batch per thread. Models whose
 * activations are large next to their weights (convolutional networks) run a sample at a
 * time; small dense layers keep their batch. PL_BATCH_CHUNK=N forces N samples per slice, 0
 * turns splitting off (*forced says the environment decided: no timing). 0: do not split. */
static int64_t split_chunk(const pl_xgraph *xg, int64_t batch, size_t arena, int threads, bool *forced) {
    const char *env = getenv("PL_BATCH_CHUNK");
    *forced = env && *env;
    if (*forced) {
        long long c = strtoll(env, NULL, 10);
        return c > 0 && c < batch ? c : 0;
    }
    if (threads < 2 || batch < 2) return 0;
    size_t weights = 0;
    for (int v = 0; v < xg->n_values; v++)
        if (xg->consts[v]) weights += xg->consts[v]->nbytes;
    double per_sample = (double)arena / (double)batch;
    int64_t share = (batch + threads - 1) / threads;
    int64_t c = per_sample > 0 ? (int64_t)ceil((double)weights / (8.0 * per_sample)) : share;
    if (c < 1) c = 1;
    return c < share ? c : share;
}

typedef struct split_job {
    pl_cpu_engine *ce;
    ctx_state *cs;
    int64_t n, chunk;
    int n_inputs, n_outputs;
    pl_tensor *const *inputs;
    pl_tensor **outputs;
    pl_tensor *const *bound; /* the caller's output tensors (pl_cpu_run_into; NULL, or entries NULL when unbound) */
    int64_t slices;
    atomic_llong next;   /* the next slice to take */
    atomic_int failed;   /* 1: a slice's run failed; 2: an output without the slice's samples; 3: a bound output of another shape */
    pthread_mutex_t out_lock; /* creating the full outputs */
} split_job;

static void split_fail(split_job *j, int how) {
    int none = 0;
    atomic_compare_exchange_strong(&j->failed, &none, how); /* the first failure stands */
}

/* One slice [lo, lo + cnt) on worker w: inputs viewed in place, outputs copied to their rows. */
static void split_slice(split_job *j, int w, int64_t lo, int64_t cnt) {
    ctx_state *cs = j->cs;
    const pl_xgraph *xg = j->ce->xg;
    pl_tensor *views = cs->sub_views + (size_t)w * (size_t)cs->sub_in;
    pl_tensor **vin = cs->sub_vin + (size_t)w * (size_t)cs->sub_in;
    pl_tensor **vout = cs->sub_vout + (size_t)w * (size_t)cs->sub_out;
    for (int i = 0; i < j->n_inputs; i++) {
        pl_tensor *t = j->inputs[i];
        if (!t || i >= xg->g->n_inputs || xg->consts[xg->g->inputs[i]]) {
            vin[i] = t;
            continue;
        }
        size_t row = t->nbytes / (size_t)j->n;
        views[i] = *t;
        views[i].dims[0] = cnt;
        views[i].numel = t->numel / j->n * cnt;
        views[i].nbytes = row * (size_t)cnt;
        views[i].data = (char *)t->data + row * (size_t)lo;
        views[i].owns_data = false;
        vin[i] = &views[i];
    }
    pl_status st = pl_cpu_run_ex(j->ce, &cs->sub[w], NULL, NULL, false, j->n_inputs, vin, j->n_outputs, vout);
    if (st != PL_OK) {
        split_fail(j, 1);
        return;
    }
    for (int o = 0; o < j->n_outputs; o++) {
        pl_tensor *t = vout[o];
        bool ok = t && t->kind == PL_KIND_TENSOR && t->dtype != PL_DT_STRING && t->rank >= 1 && t->dims[0] == cnt;
        pl_tensor *full = NULL;
        if (ok) {
            pthread_mutex_lock(&j->out_lock);
            {
                full = j->outputs[o];
                if (!full) {
                    int64_t dims[PL_MAX_RANK];
                    memcpy(dims, t->dims, sizeof dims);
                    dims[0] = j->n;
                    if (pl_tensor_alloc(t->dtype, t->rank, dims, &j->outputs[o]) == PL_OK) full = j->outputs[o];
                    else split_fail(j, 1);
                } else if (full->kind != PL_KIND_TENSOR || full->dtype != t->dtype || full->rank != t->rank ||
                           full->dims[0] != j->n ||
                           memcmp(full->dims + 1, t->dims + 1, (size_t)(t->rank - 1) * sizeof *t->dims)) {
                    /* a caller's tensor of another shape: the whole run reports it */
                    if (j->bound && full == j->bound[o]) split_fail(j, 3);
                    full = NULL;
                    ok = false;
                }
            }
            pthread_mutex_unlock(&j->out_lock);
        }
        if (!ok) split_fail(j, 2); /* the first failure stands: 3 above when bound */
        if (full) memcpy((char *)full->data + full->nbytes / (size_t)j->n * (size_t)lo, t->data, t->nbytes);
        pl_tensor_destroy(t);
        vout[o] = NULL;
    }
}

/* Worker w takes slices until none is left, with one OpenMP thread: oneDNN then runs every
 * primitive on the calling thread. The workers are POSIX threads, not an OpenMP team: inside
 * a team, oneDNN 2.6's batch normalization synchronizes with OpenMP barriers of the
 * enclosing team even when it runs on one thread, and deadlocked against the team's other
 * workers (DenseNet-121, batch 3 in slices of 1). */
static void split_work(split_job *j, int w) {
    bool was = tl_slice;
    int nt = omp_get_max_threads();
    tl_slice = true;
    omp_set_num_threads(1);
    for (;;) {
        int64_t s = atomic_fetch_add(&j->next, 1);
        if (s >= j->slices) break;
        if (atomic_load(&j->failed)) continue;
        int64_t lo = s * j->chunk;
        split_slice(j, w, lo, j->n - lo < j->chunk ? j->n - lo : j->chunk);
    }
    omp_set_num_threads(nt);
    tl_slice = was;
}

typedef struct split_worker {
    split_job *j;
    int w;
} split_worker;

static void *split_worker_main(void *arg) {
    split_worker *sw = arg;
    split_work(sw->j, sw->w);
    return NULL;
}

/* Runs a separable signature of n samples as slices of `chunk` on up to `threads` workers, each
 * with its own sub-context (an arena for the slice's shape; the engine's weights and
 * primitives shared), so that a slice's activations stay in its core's caches instead of the
 * whole batch streaming through memory layer by layer. Returns PL_OK with *done false when
 * the caller must run the query whole: too few slices to share, a slice that failed, or (and
 * then splitting stops for the signature) an output that did not keep the slice's samples on
 * axis 0. */
static pl_status run_split(pl_cpu_engine *ce, ctx_state *cs, arena_plan *p, int threads, int n_inputs,
                           pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs, bool *done) {
    *done = false;
    int64_t n = p->batch, chunk = p->split_chunk;
    int64_t slices = (n + chunk - 1) / chunk;
    int workers = threads < slices ? threads : (int)slices;
    if (workers < 2) return PL_OK;
    if (cs->n_sub < workers || cs->sub_in < n_inputs || cs->sub_out < n_outputs) {
        int nw = workers > cs->n_sub ? workers : cs->n_sub;
        int ni = n_inputs > cs->sub_in ? n_inputs : cs->sub_in;
        int no = n_outputs > cs->sub_out ? n_outputs : cs->sub_out;
        void **sub = realloc(cs->sub, (size_t)nw * sizeof *sub);
        if (!sub) return pl_err(PL_ERR_NOMEM, "out of memory");
        for (int i = cs->n_sub; i < nw; i++) sub[i] = NULL;
        cs->sub = sub;
        cs->n_sub = nw;
        free(cs->sub_views);
        free(cs->sub_vin);
        free(cs->sub_vout);
        cs->sub_views = calloc((size_t)nw * (size_t)(ni ? ni : 1), sizeof *cs->sub_views);
        cs->sub_vin = calloc((size_t)nw * (size_t)(ni ? ni : 1), sizeof *cs->sub_vin);
        cs->sub_vout = calloc((size_t)nw * (size_t)(no ? no : 1), sizeof *cs->sub_vout);
        cs->sub_in = ni;
        cs->sub_out = no;
        if (!cs->sub_views || !cs->sub_vin || !cs->sub_vout) {
            cs->sub_in = cs->sub_out = 0;
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
    }
    drop_outputs(outputs, n_outputs); /* bound ones are the caller's tensors, filled slice by slice */
    split_job j = {.ce = ce, .cs = cs, .n = n, .chunk = chunk, .n_inputs = n_inputs, .n_outputs = n_outputs,
                   .inputs = inputs, .outputs = outputs, .bound = tl_slice ? NULL : tl_bind, .slices = slices};
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    pthread_mutex_init(&j.out_lock, NULL);
    pthread_t tid[PL_MAX_SPLIT_WORKERS];
    split_worker sw[PL_MAX_SPLIT_WORKERS];
    int started = 0;
    for (int w = 1; w < workers && w < PL_MAX_SPLIT_WORKERS; w++) {
        sw[started] = (split_worker){&j, w};
        if (pthread_create(&tid[started], NULL, split_worker_main, &sw[started]) != 0) break; /* fewer workers */
        started++;
    }
    split_work(&j, 0);
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    pthread_mutex_destroy(&j.out_lock);
    int failed = atomic_load(&j.failed);
    if (!failed) {
        *done = true;
        cs->last_chunk = chunk;
        return PL_OK;
    }
    drop_outputs(outputs, n_outputs);
    if (failed == 2) /* the analysis was wrong about this graph: run it whole from now on */
        p->split_chunk = 0;
    /* a slice failed (bad data in one sample): the caller runs the query whole, which reports
     * the error as an unsplit run words it (indices counted over the whole batch) */
    return PL_OK;
}

pl_status pl_cpu_run(pl_cpu_engine *ce, void **ctx_state_p, pl_node_hook hook, void *user,
                     int n_inputs, pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs) {
    return pl_cpu_run_ex(ce, ctx_state_p, hook, user, false, n_inputs, inputs, n_outputs, outputs);
}

static pl_status run_graph(pl_cpu_engine *ce, void **ctx_state_p, pl_node_hook hook, void *user, bool timing,
                           bool whole, int n_inputs, pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs);

/* Frees the sub-contexts (their arenas and plans) unless a signature other than `keep` runs
 * split. */
static void free_subs(ctx_state *cs, const arena_plan *keep) {
    for (int i = 0; i < cs->n_plans; i++)
        if (&cs->plans[i] != keep && cs->plans[i].split_chunk > 0) return;
    for (int i = 0; i < cs->n_sub; i++) {
        pl_cpu_ctx_state_free(cs->sub[i]);
        cs->sub[i] = NULL;
    }
}

/* One run of the query whole (chunk 0) or split into slices of `chunk`, timed into *ns;
 * *done false when a split run did not complete (see run_split). */
static pl_status run_way(pl_cpu_engine *ce, void **ctx_state_p, arena_plan *p, int threads, int64_t chunk, int n_inputs,
                         pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs, double *ns, bool *done) {
    drop_outputs(outputs, n_outputs);
    double t0 = pl_cpu_now_ns();
    pl_status st;
    *done = true;
    if (chunk == 0) {
        st = run_graph(ce, ctx_state_p, NULL, NULL, false, true, n_inputs, inputs, n_outputs, outputs);
    } else {
        p->split_chunk = chunk;
        st = run_split(ce, *ctx_state_p, p, threads, n_inputs, inputs, n_outputs, outputs, done);
    }
    *ns = pl_cpu_now_ns() - t0;
    return st;
}

/* The first eligible run of a separable signature runs the query several ways, all with the
 * same result: whole, and split with the estimated chunk c, 2c and 4c samples per slice (those
 * that leave at least two slices). Each way runs three times in a row, a warm run (sub-context
 * arenas, primitives for the slice shape) and two timed ones keeping the minimum, and the
 * sub-contexts are freed before the next way, so that the tuning holds one slice size's arenas
 * at a time. The fastest is kept for the signature; whole wins ties within 3%: it holds one
 * arena, not one per thread. A split that wins is then confirmed against whole in two more
 * alternating rounds, which it must win by 3% too: a busy VM can favour whichever way runs
 * during a quiet spell (ResNet-50 at batch 32 once kept slices of 8 that way, 3% slower than
 * whole). The query's outputs are those of the last run. */
static pl_status tune_split(pl_cpu_engine *ce, void **ctx_state_p, arena_plan *p, int threads, int n_inputs,
                            pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs) {
    ctx_state *cs = *ctx_state_p;
    int64_t cand[4] = {0, p->split_chunk, 2 * p->split_chunk, 4 * p->split_chunk};
    int nc = 1;
    for (int i = 1; i < 4; i++)
        if ((p->batch + cand[i] - 1) / cand[i] >= 2) cand[nc++] = cand[i];
    double best_ns[4], ns;
    bool done = true;
    pl_status st = PL_OK;
    p->split_tune = false;
    for (int c = 0; c < nc && st == PL_OK && done; c++) {
        free_subs(cs, p);
        best_ns[c] = 1e300;
        for (int rep = 0; rep < 3 && st == PL_OK && done; rep++) {
            st = run_way(ce, ctx_state_p, p, threads, cand[c], n_inputs, inputs, n_outputs, outputs, &ns, &done);
            if (rep > 0 && ns < best_ns[c]) best_ns[c] = ns;
        }
    }
    int best = nc > 1 ? 1 : 0;
    for (int c = 2; c < nc; c++)
        if (best_ns[c] < best_ns[best]) best = c;
    if (!(best_ns[best] * 1.03 < best_ns[0])) best = 0;
    if (st == PL_OK && done && best != 0) { /* confirm: whole, split, whole, split (after a warm split run) */
        double whole = 1e300, split = 1e300;
        bool warm = best == nc - 1; /* the last way's sub-contexts are this one's */
        for (int rep = warm ? 1 : 0; rep < 5 && st == PL_OK && done; rep++) {
            bool is_split = rep % 2 == 0;
            st = run_way(ce, ctx_state_p, p, threads, is_split ? cand[best] : 0, n_inputs, inputs, n_outputs, outputs,
                         &ns, &done);
            if (rep == 0) continue;
            double *m = is_split ? &split : &whole;
            if (ns < *m) *m = ns;
        }
        if (!(split * 1.03 < whole)) best = 0;
    }
    if (st == PL_OK && !done) {
        /* a slice failed on this query's data (tune again next time; the whole run reports
         * the error), or splitting was turned off for the signature */
        p->split_tune = p->split_chunk > 0;
        p->split_chunk = p->split_chunk > 0 ? cand[1] : 0;
        return run_graph(ce, ctx_state_p, NULL, NULL, false, true, n_inputs, inputs, n_outputs, outputs);
    }
    if (st != PL_OK) { /* this query's error; tune again at the next one */
        p->split_tune = true;
        p->split_chunk = cand[1];
        return st;
    }
    p->split_chunk = cand[best];
    cs->last_chunk = cand[best];
    if (best == 0) free_subs(cs, p); /* else the sub-contexts are the chosen way's (it ran last) */
    if (p->split_chunk > 0) { /* the slices have arenas of their own */
        free(p->mem);
        p->mem = NULL;
    }
    return PL_OK;
}

pl_status pl_cpu_run_into(pl_cpu_engine *ce, void **ctx_state_p, pl_node_hook hook, void *user, int n_inputs,
                          pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs) {
    pl_tensor *bind[64];
    if (n_outputs > 64) return pl_err(PL_ERR_UNSUPPORTED, "binding more than 64 outputs");
    for (int i = 0; i < n_outputs; i++) bind[i] = outputs[i];
    tl_bind = bind;
    tl_n_bind = n_outputs;
    pl_status st = run_graph(ce, ctx_state_p, hook, user, false, false, n_inputs, inputs, n_outputs, outputs);
    tl_bind = NULL;
    tl_n_bind = 0;
    return st;
}

pl_status pl_cpu_run_ex(pl_cpu_engine *ce, void **ctx_state_p, pl_node_hook hook, void *user,
                        bool timing, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                        pl_tensor **outputs) {
    return run_graph(ce, ctx_state_p, hook, user, timing, false, n_inputs, inputs, n_outputs, outputs);
}

/* One run of the graph; `whole` runs it whole even where the signature runs split. */
/* ---- values fixed by the input shapes (fixed.c) ---- */

#define FIXED_VALUE_MAX (256u << 10) /* bytes: larger FIXED values are computed every run */
#define FIXED_PLAN_MAX (1u << 20)    /* bytes kept per plan */

/* Recording: classifies xn's outputs and keeps a copy of those FIXED and small. */
static pl_status note_fixed(pl_xrun *r, const pl_xnode *xn) {
    pl_fixed_classify(xn, r->fx);
    for (int o = 0; o < xn->n_out; o++) {
        int v = xn->out[o];
        if (v < 0 || !(r->fx[v] & PL_FX_FIXED) || r->rec_fixed[v]) continue;
        const xslot *s = &r->slots[v];
        if (!s->t || s->blocked || s->t->kind != PL_KIND_TENSOR || s->t->nbytes > FIXED_VALUE_MAX ||
            r->rec_fixed_bytes + s->t->nbytes > FIXED_PLAN_MAX)
            continue;
        PL_TRY(pl_tensor_clone(s->t, &r->rec_fixed[v]));
        r->rec_fixed_bytes += s->t->nbytes;
    }
    return PL_OK;
}

/* After recording: the nodes whose every read output has a copy do not run again; their
 * outputs take no arena space. Copies no skipped node needs are dropped. */
static pl_status plan_fixed(pl_xrun *r, arena_plan *p) {
    const pl_xgraph *xg = r->xg;
    p->skip = calloc((size_t)xg->n_nodes, sizeof *p->skip);
    if (!p->skip) return pl_err(PL_ERR_NOMEM, "out of memory");
    p->n_fixed = xg->n_values;
    p->fixed = r->rec_fixed;
    r->rec_fixed = NULL;
    bool *keep = calloc((size_t)xg->n_values, sizeof *keep);
    if (!keep) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int n = 0; n < xg->n_nodes; n++) {
        const pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        bool all = xn->n_out > 0;
        for (int o = 0; o < xn->n_out && all; o++) {
            int v = xn->out[o];
            all = v < 0 || p->fixed[v] || (pl_xgraph_readers(xg, v) == 0 && !pl_xgraph_is_output(xg, v));
        }
        if (!all) continue;
        p->skip[n] = true;
        p->n_skip++;
        for (int o = 0; o < xn->n_out; o++)
            if (xn->out[o] >= 0) keep[xn->out[o]] = true;
    }
    for (int v = 0; v < xg->n_values; v++)
        if (p->fixed[v] && !keep[v]) {
            pl_tensor_destroy(p->fixed[v]);
            p->fixed[v] = NULL;
        } else if (p->fixed[v]) {
            r->rec_size[v] = r->rec_size[v + xg->n_values] = 0;
        }
    free(keep);
    return PL_OK;
}

/* A skipped node: its outputs are the plan's copies (read-only, like constants). */
static void place_fixed(pl_xrun *r, const pl_xnode *xn) {
    for (int o = 0; o < xn->n_out; o++) {
        int v = xn->out[o];
        pl_tensor *t = v >= 0 ? r->plan->fixed[v] : NULL;
        if (!t) continue;
        if (r->slots[v].t) slot_clear(r, v);
        r->slots[v].t = t;
        r->slots[v].uses = 1 << 30;
        r->vals[v] = t;
    }
}

/* Runs xn (its tactic, then post-ops the tactic left) and, when recording, classifies its outputs. */
static pl_status run_node(pl_xrun *r, pl_xnode *xn) {
    pl_status st = r->timing ? time_tactics(r, xn) : PL_OK;
    r->post_done = false;
    if (st == PL_OK) st = xn->tactic->run(r, xn);
    if (st == PL_OK && xn->n_post && !r->post_done) st = post_plain(r, xn);
    if (st != PL_OK) {
        /* as the reference executor words it; the tactic only for what is a bug */
        if (st == PL_ERR_INTERNAL) pl_err_prefix(st, "node '%s' (%s, %s)", xn->node->name, xn->op, xn->tactic->name);
        else pl_err_prefix(st, "node '%s' (%s)", xn->node->name, xn->op);
        return st;
    }
    if (r->vb) pl_split_classify(r->xg, xn, r->vb, vb_shape, r);
    return r->fx ? note_fixed(r, xn) : PL_OK;
}

static void describe(const pl_tensor *t, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%s[", t->kind == PL_KIND_TENSOR ? pl_dtype_name(t->dtype) : "non-tensor");
    for (int d = 0; d < t->rank && n > 0 && (size_t)n < cap; d++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    if (n > 0 && (size_t)n < cap) snprintf(buf + n, cap - (size_t)n, "]");
}

/* The value `src` of graph output i into the caller's tensor b bound to it (nothing to do
 * when it was computed there); an error naming the output when their types or shapes differ. */
static pl_status copy_into(pl_tensor *b, const pl_tensor *src, int i, const char *name) {
    char want[160], got[160];
    if (src->kind != PL_KIND_TENSOR || b->kind != PL_KIND_TENSOR)
        return pl_err(PL_ERR_INVALID, "output %d '%s': only tensor outputs can be bound", i, name);
    if (b->dtype != src->dtype || b->rank != src->rank ||
        (src->rank && memcmp(b->dims, src->dims, (size_t)src->rank * sizeof *src->dims))) {
        describe(b, want, sizeof want);
        describe(src, got, sizeof got);
        return pl_err(PL_ERR_INVALID, "output %d '%s': the tensor bound to it is %s, the model produced %s", i, name,
                      want, got);
    }
    if (b->data != src->data && src->nbytes) memcpy(b->data, src->data, src->nbytes);
    return PL_OK;
}

static pl_status run_graph(pl_cpu_engine *ce, void **ctx_state_p, pl_node_hook hook, void *user, bool timing,
                           bool whole, int n_inputs, pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs) {
    const pl_xgraph *xg = ce->xg;
    const pl_graph *g = xg->g;
    for (int i = 0; i < n_outputs; i++) outputs[i] = bound_at(i);
    if (n_outputs > g->n_outputs)
        return pl_err(PL_ERR_INVALID, "the model has %d outputs, %d asked for", g->n_outputs, n_outputs);
    ctx_state *cs = *ctx_state_p;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return pl_err(PL_ERR_NOMEM, "out of memory");
#ifdef PL_HAVE_DNNL
        if (ce->dnnl) {
            dnnl_engine_t eng = pl_dnnl_engine();
            if (!eng || dnnl_stream_create(&cs->stream, eng, dnnl_stream_default_flags) != dnnl_success) {
                free(cs);
                return pl_err(PL_ERR_INTERNAL, "cannot create a oneDNN stream");
            }
        }
#endif
        *ctx_state_p = cs;
    }
    if (ce->threads > 0 && !tl_slice) omp_set_num_threads(ce->threads); /* a slice keeps its 1 */
    pl_xrun r = {.ce = ce, .cs = cs, .xg = xg, .timing = timing};
    int64_t sig[MAX_SIG];
    int sig_len = signature(xg, n_inputs, inputs, sig);
    for (int i = 0; sig_len >= 0 && i < cs->n_plans; i++)
        if (cs->plans[i].sig_len == sig_len && !memcmp(cs->plans[i].sig, sig, (size_t)sig_len * sizeof *sig))
            r.plan = &cs->plans[i];
    int threads = ce->threads > 0 ? ce->threads : omp_get_max_threads();
    cs->last_chunk = 0;
    cs->last_skipped = r.plan ? r.plan->n_skip : 0;
    if (r.plan && r.plan->split_chunk > 0 && !whole && !timing && !hook && !omp_in_parallel() && !tl_slice) {
        if (r.plan->split_tune) return tune_split(ce, ctx_state_p, r.plan, threads, n_inputs, inputs, n_outputs, outputs);
        bool done = false;
        pl_status st = run_split(ce, cs, r.plan, threads, n_inputs, inputs, n_outputs, outputs, &done);
        if (done || st != PL_OK) return st;
    }
    if (r.plan && !r.plan->mem && r.plan->total) { /* it ran split until now */
        r.plan->mem = aligned_alloc(64, (r.plan->total + 63) / 64 * 64);
        if (!r.plan->mem) return pl_err(PL_ERR_NOMEM, "cannot allocate a %zu-byte arena", r.plan->total);
    }
    size_t nv = (size_t)xg->n_values;
    if (!cs->slots) {
        cs->nv = (int)nv;
        cs->slots = calloc(nv, sizeof *cs->slots);
        cs->vals = calloc(nv, sizeof *cs->vals);
        cs->hdrs = calloc(2 * nv, sizeof *cs->hdrs);
#ifdef PL_HAVE_DNNL
        cs->mds = calloc(nv, sizeof *cs->mds);
        if (!cs->mds) return pl_err(PL_ERR_NOMEM, "out of memory");
#endif
        if (!cs->slots || !cs->vals || !cs->hdrs) return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    r.slots = cs->slots;
    r.vals = cs->vals;
    bool record = !r.plan && sig_len >= 0;
    if (record) {
        r.rec_size = calloc(2 * nv, sizeof *r.rec_size);
        r.rec_def = calloc(2 * nv, sizeof *r.rec_def);
        r.rec_last = calloc(2 * nv, sizeof *r.rec_last);
        r.rec_alias = malloc(2 * nv * sizeof *r.rec_alias);
        for (size_t k = 0; r.rec_alias && k < 2 * nv; k++) r.rec_alias[k] = -1;
        r.vb = calloc(nv, sizeof *r.vb);
        if (cs->n_plans < MAX_PLANS) {
            r.fx = calloc(nv, sizeof *r.fx);
            r.rec_fixed = calloc(nv, sizeof *r.rec_fixed);
        }
    }
    pl_status st = PL_OK;
    if (record && (!r.rec_size || !r.rec_def || !r.rec_last || !r.rec_alias || !r.vb ||
                   (cs->n_plans < MAX_PLANS && (!r.fx || !r.rec_fixed))))
        st = pl_err(PL_ERR_NOMEM, "out of memory");
    int64_t batch = st == PL_OK && record ? vb_inputs(&r, n_inputs, inputs) : 0;
    r.frame = (pl_frame){.g = g, .vals = r.vals};
    for (int v = 0; st == PL_OK && v < xg->n_values; v++) {
        if (!xg->consts[v]) continue;
        r.slots[v].t = xg->consts[v];
        r.slots[v].uses = 1 << 30;
        r.vals[v] = xg->consts[v];
        if (r.fx) r.fx[v] = PL_FX_KNOWN | PL_FX_FIXED;
    }
    for (int i = 0; st == PL_OK && i < n_inputs && i < g->n_inputs; i++) {
        int v = g->inputs[i];
        if (xg->consts[v] && xg->consts[v] != inputs[i]) continue; /* folded: keep the constant */
        r.slots[v].t = inputs[i];
        r.slots[v].uses = 1 << 30;
        r.vals[v] = inputs[i];
        if (r.fx) r.fx[v] = PL_FX_KNOWN;
    }
    for (int n = 0; st == PL_OK && n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        r.step = n;
        double t0 = hook ? pl_cpu_now_ns() : 0;
        if (r.plan && r.plan->skip && r.plan->skip[n]) {
            place_fixed(&r, xn);
            t0 = hook ? pl_cpu_now_ns() : 0; /* computed once for the signature: it takes no time here */
        } else if ((st = run_node(&r, xn)) != PL_OK) {
            break;
        }
        if (hook) {
            const pl_tensor *hin[16] = {0};
            pl_tensor *hout[16] = {0};
            for (int i = 0; i < xn->n_in && i < 16; i++) hin[i] = xn->in[i] >= 0 ? r.slots[xn->in[i]].t : NULL;
            for (int i = 0; i < xn->n_out && i < 16; i++) hout[i] = xn->out[i] >= 0 ? r.slots[xn->out[i]].t : NULL;
            hook(user, xn->orig_index, xn->node, hin, hout, pl_cpu_now_ns() - t0);
        }
        for (int i = 0; i < xn->n_in; i++) release(&r, xn->in[i]);
        for (int p = 0; p < xn->n_post; p++) release(&r, xn->post[p].arg);
        for (int o = 0; o < xn->n_outer; o++) release(&r, xn->outer[o]);
    }
    r.step = xg->n_nodes;
    for (int i = 0; st == PL_OK && i < n_outputs; i++) {
        int v = g->outputs[i];
        xslot *s = &r.slots[v];
        /* the same value listed again: a copy of the first (which may have taken the value) */
        int first = 0;
        while (first < i && g->outputs[first] != v) first++;
        pl_tensor *b = bound_at(i);
        if (first < i) {
            st = b ? copy_into(b, outputs[first], i, g->values[v].name) : pl_tensor_clone(outputs[first], &outputs[i]);
            if (st != PL_OK) break;
            continue;
        }
        if (!s->t) {
            st = pl_err(PL_ERR_INVALID, "graph output '%s' has no value", g->values[v].name);
            break;
        }
        const pl_tensor *plain;
        st = pl_xrun_value(&r, v, &plain);
        if (st != PL_OK) break;
        bool take = s->owned && !s->embedded && !s->blocked && plain == s->t && plain->owns_data;
        if (b) {
            st = copy_into(b, plain, i, g->values[v].name); /* nothing to copy when computed in place */
        } else if (take) {
            outputs[i] = s->t;
            s->owned = false;
            s->t = NULL;
        } else {
            st = pl_tensor_clone(plain, &outputs[i]);
        }
    }
    for (int v = 0; v < xg->n_values; v++)
        if (r.slots[v].t || r.slots[v].plain) slot_clear(&r, v);
    if (st == PL_OK && record && cs->n_plans < MAX_PLANS) {
        arena_plan *p = &cs->plans[cs->n_plans];
        memset(p, 0, sizeof *p);
        p->sig_len = sig_len;
        memcpy(p->sig, sig, (size_t)sig_len * sizeof *sig);
        st = plan_fixed(&r, p);
        if (st == PL_OK) st = plan_make(&r, p);
        if (st == PL_OK) {
            cs->n_plans++;
            p->batch = batch;
            bool forced = false;
            p->split_chunk = batch >= 2 && !omp_in_parallel() && !tl_slice && vb_separable(&r, n_inputs)
                                 ? split_chunk(xg, batch, p->total, threads, &forced)
                                 : 0;
            p->split_tune = p->split_chunk > 0 && !forced;
        } else {
            plan_free(p);
        }
    }
    if (st != PL_OK) drop_outputs(outputs, n_outputs);
    free(r.rec_size);
    free(r.rec_def);
    free(r.rec_last);
    free(r.rec_alias);
    free(r.vb);
    free(r.fx);
    for (int v = 0; r.rec_fixed && v < xg->n_values; v++) pl_tensor_destroy(r.rec_fixed[v]);
    free(r.rec_fixed);
    return st;
}
