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
#ifdef PL_HAVE_DNNL
#include "dnnl/dnnl_util.h"
#endif

#include <omp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PLANS 4
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
    void *mem;
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
#endif
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
};

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int pl_xrun_threads(const pl_xrun *r) { return r->ce->threads > 0 ? r->ce->threads : omp_get_max_threads(); }

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

/* A header over planned or malloc'ed memory for key k (k < 0: not planned, e.g. outputs; a
 * malloc'ed header the caller may keep). Keys of values use the context's own headers. */
static pl_status new_value(pl_xrun *r, int k, pl_dtype dt, int rank, const int64_t *dims,
                           size_t bytes, pl_tensor **out, bool *embedded) {
    *embedded = false;
    pl_tensor *t;
    if (k < 0) {
        PL_TRY(pl_tensor_view(dt, rank, dims, NULL, &t));
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
        PL_TRY(new_value(r, k, s->t->dtype, s->t->rank, s->t->dims, 0, &p, &emb));
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
    PL_TRY(new_value(r, is_out(r, v) ? -1 : v, dt, rank, dims, 0, &n, &emb));
    set_output(r, v, n, false, emb);
    *t = n;
    return PL_OK;
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
    PL_TRY(new_value(r, is_out(r, v) ? -1 : v, dt, rank, dims, dnnl_memory_desc_get_size(md), &n, &emb));
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
            pl_tensor *t = s->t;
            bool emb = s->embedded;
            s->owned = false;
            s->moved = true;
            t->rank = rank;
            if (rank) memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
            set_output(r, v, t, !pl_dnnl_md_is_plain(md), emb);
            r->cs->mds[v] = *md;
            if (!r->plan && r->rec_alias) {
                r->rec_alias[v] = reuse;
                r->rec_def[v] = r->rec_last[v] = r->step;
            }
            *data = t->data;
            return PL_OK;
        }
    }
    return pl_xrun_dnnl_out(r, xn, i, md, dt, rank, dims, data);
}

dnnl_stream_t pl_xrun_stream(pl_xrun *r) { return r->cs->stream; }
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
    if (st == PL_OK) st = s->run(&ctx);
    for (int i = 0; st == PL_OK && i < xn->n_out; i++)
        if (xn->out[i] >= 0 && !out[i]) st = pl_err(PL_ERR_INTERNAL, "output %d was not produced by the kernel", i);
    for (int i = 0; i < xn->n_out && out; i++) {
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
        float *o = out->data;
        float a = po->alpha, b = po->beta;
        int64_t n = out->numel;
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
#ifdef PL_HAVE_DNNL
    if (cs->stream) dnnl_stream_destroy(cs->stream);
#endif
    free(cs);
}

size_t pl_cpu_ctx_arena_bytes(void *state, size_t *unplanned) {
    ctx_state *cs = state;
    size_t best = 0;
    if (unplanned) *unplanned = 0;
    for (int i = 0; cs && i < cs->n_plans; i++)
        if (cs->plans[i].total >= best) {
            best = cs->plans[i].total;
            if (unplanned) *unplanned = cs->plans[i].unplanned;
        }
    return best;
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
    double t0 = now_ns();
    r->post_done = false;
    pl_status st = t->run(r, xn);
    if (st == PL_OK && xn->n_post && !r->post_done) st = post_plain(r, xn);
    *ns = now_ns() - t0;
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

pl_status pl_cpu_run(pl_cpu_engine *ce, void **ctx_state_p, pl_node_hook hook, void *user,
                     int n_inputs, pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs) {
    return pl_cpu_run_ex(ce, ctx_state_p, hook, user, false, n_inputs, inputs, n_outputs, outputs);
}

pl_status pl_cpu_run_ex(pl_cpu_engine *ce, void **ctx_state_p, pl_node_hook hook, void *user,
                        bool timing, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                        pl_tensor **outputs) {
    const pl_xgraph *xg = ce->xg;
    const pl_graph *g = xg->g;
    for (int i = 0; i < n_outputs; i++) outputs[i] = NULL;
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
    if (ce->threads > 0) omp_set_num_threads(ce->threads);
    pl_xrun r = {.ce = ce, .cs = cs, .xg = xg, .timing = timing};
    int64_t sig[MAX_SIG];
    int sig_len = signature(xg, n_inputs, inputs, sig);
    for (int i = 0; sig_len >= 0 && i < cs->n_plans; i++)
        if (cs->plans[i].sig_len == sig_len && !memcmp(cs->plans[i].sig, sig, (size_t)sig_len * sizeof *sig))
            r.plan = &cs->plans[i];
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
    }
    pl_status st = PL_OK;
    if (record && (!r.rec_size || !r.rec_def || !r.rec_last || !r.rec_alias))
        st = pl_err(PL_ERR_NOMEM, "out of memory");
    r.frame = (pl_frame){.g = g, .vals = r.vals};
    for (int v = 0; st == PL_OK && v < xg->n_values; v++) {
        if (!xg->consts[v]) continue;
        r.slots[v].t = xg->consts[v];
        r.slots[v].uses = 1 << 30;
        r.vals[v] = xg->consts[v];
    }
    for (int i = 0; st == PL_OK && i < n_inputs && i < g->n_inputs; i++) {
        int v = g->inputs[i];
        if (xg->consts[v] && xg->consts[v] != inputs[i]) continue; /* folded: keep the constant */
        r.slots[v].t = inputs[i];
        r.slots[v].uses = 1 << 30;
        r.vals[v] = inputs[i];
    }
    for (int n = 0; st == PL_OK && n < xg->n_nodes; n++) {
        pl_xnode *xn = &xg->nodes[n];
        if (xn->dead) continue;
        r.step = n;
        double t0 = hook ? now_ns() : 0;
        if (timing) st = time_tactics(&r, xn);
        r.post_done = false;
        if (st == PL_OK) st = xn->tactic->run(&r, xn);
        if (st == PL_OK && xn->n_post && !r.post_done) st = post_plain(&r, xn);
        if (st != PL_OK) {
            /* as the reference executor words it; the tactic only for what is a bug */
            if (st == PL_ERR_INTERNAL) pl_err_prefix(st, "node '%s' (%s, %s)", xn->node->name, xn->op, xn->tactic->name);
            else pl_err_prefix(st, "node '%s' (%s)", xn->node->name, xn->op);
            break;
        }
        if (hook) {
            const pl_tensor *hin[16] = {0};
            pl_tensor *hout[16] = {0};
            for (int i = 0; i < xn->n_in && i < 16; i++) hin[i] = xn->in[i] >= 0 ? r.slots[xn->in[i]].t : NULL;
            for (int i = 0; i < xn->n_out && i < 16; i++) hout[i] = xn->out[i] >= 0 ? r.slots[xn->out[i]].t : NULL;
            hook(user, xn->orig_index, xn->node, hin, hout, now_ns() - t0);
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
        if (first < i) {
            st = pl_tensor_clone(outputs[first], &outputs[i]);
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
        if (take) {
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
        st = plan_make(&r, p);
        if (st == PL_OK) cs->n_plans++;
        else plan_free(p);
    }
    if (st != PL_OK)
        for (int i = 0; i < n_outputs; i++) {
            pl_tensor_destroy(outputs[i]);
            outputs[i] = NULL;
        }
    free(r.rec_size);
    free(r.rec_def);
    free(r.rec_last);
    free(r.rec_alias);
    return st;
}
