/* dnnl_util.c - the oneDNN engine, descriptors, reorders, execution and post-ops shared by
 * the oneDNN tactics. */
#include "dnnl_util.h"

#include <float.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static dnnl_engine_t g_engine;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static char g_version[96];

static void engine_init(void) {
    if (dnnl_engine_create(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
    const dnnl_version_t *v = dnnl_version();
    snprintf(g_version, sizeof g_version, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch,
             v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB" : "other runtime");
}

dnnl_engine_t pl_dnnl_engine(void) {
    pthread_once(&g_once, engine_init);
    if (!g_engine) pl_err(PL_ERR_INTERNAL, "oneDNN's CPU engine cannot be created");
    return g_engine;
}

const char *pl_dnnl_version(void) {
    pthread_once(&g_once, engine_init);
    return g_version;
}

pl_status pl_dnnl_check(dnnl_status_t s, const char *what) {
    if (s == dnnl_success) return PL_OK;
    const char *why = s == dnnl_out_of_memory      ? "out of memory"
                      : s == dnnl_invalid_arguments ? "invalid arguments"
                      : s == dnnl_unimplemented    ? "unimplemented"
                      : s == dnnl_runtime_error    ? "runtime error"
                                                   : "failure";
    return pl_err(s == dnnl_out_of_memory ? PL_ERR_NOMEM : s == dnnl_unimplemented ? PL_ERR_UNSUPPORTED : PL_ERR_INTERNAL,
                  "oneDNN %s: %s (status %d)", what, why, (int)s);
}

dnnl_data_type_t pl_dnnl_dt(pl_dtype dt) {
    switch (dt) {
    case PL_DT_FLOAT: return dnnl_f32;
    case PL_DT_FLOAT16: return dnnl_f16;
    case PL_DT_BFLOAT16: return dnnl_bf16;
    case PL_DT_INT32: return dnnl_s32;
    case PL_DT_INT8: return dnnl_s8;
    case PL_DT_UINT8: return dnnl_u8;
    default: return dnnl_data_type_undef;
    }
}

pl_status pl_dnnl_plain_md(pl_dtype dt, int rank, const int64_t *dims, dnnl_memory_desc_t *md) {
    dnnl_data_type_t t = pl_dnnl_dt(dt);
    if (t == dnnl_data_type_undef) return pl_err(PL_ERR_UNSUPPORTED, "oneDNN has no %s type", pl_dtype_name(dt));
    if (rank > DNNL_MAX_NDIMS) return pl_err(PL_ERR_UNSUPPORTED, "oneDNN takes at most %d dims", DNNL_MAX_NDIMS);
    dnnl_dims_t d, s;
    int r = rank ? rank : 1;
    int64_t stride = 1;
    for (int i = r - 1; i >= 0; i--) {
        d[i] = rank ? dims[i] : 1;
        s[i] = stride;
        stride *= d[i] > 0 ? d[i] : 1;
    }
    PL_DNNL(dnnl_memory_desc_init_by_strides(md, r, d, t, s), "plain memory descriptor");
    return PL_OK;
}

bool pl_dnnl_md_is_plain(const dnnl_memory_desc_t *md) {
    if (md->format_kind != dnnl_blocked || md->format_desc.blocking.inner_nblks) return false;
    if (md->offset0) return false;
    int64_t stride = 1;
    for (int i = md->ndims - 1; i >= 0; i--) {
        if (md->dims[i] != md->padded_dims[i]) return false;
        if (md->dims[i] != 1 && md->format_desc.blocking.strides[i] != stride) return false;
        stride *= md->dims[i];
    }
    return true;
}

/* ---- small primitives on one thread ----
 * oneDNN (OpenMP build) forks and joins a team of omp_get_max_threads() threads for every
 * primitive, which costs 1 to 3 us on these machines: more than a second thread saves on a
 * small problem (a 16x64x64 matmul, a softmax over 4x16x16, a squeeze-excitation 1x1 conv).
 * Such primitives are created with one thread (oneDNN splits the work when it creates the
 * primitive descriptor) and executed with one thread. Small means fewer multiply-adds than
 * serial_macs for matmul, convolution and inner product, fewer bytes read and written than
 * serial_bytes for everything else (memory-bound); RNNs never (they run long). The
 * thresholds are where two threads start to win on a Zen 4 core (docs/PERFORMANCE.md);
 * PL_DNNL_SERIAL_MACS and PL_DNNL_SERIAL_BYTES override them for experiments (0: never). */

static double g_serial_macs = 131072.0, g_serial_bytes = 65536.0;
static pthread_once_t g_serial_once = PTHREAD_ONCE_INIT;

static void serial_init(void) {
    const char *m = getenv("PL_DNNL_SERIAL_MACS"), *b = getenv("PL_DNNL_SERIAL_BYTES");
    if (m && *m) g_serial_macs = strtod(m, NULL);
    if (b && *b) g_serial_bytes = strtod(b, NULL);
}

static double md_numel(const dnnl_memory_desc_t *md) {
    if (!md || md->ndims <= 0) return 0;
    double n = 1;
    for (int i = 0; i < md->ndims; i++) n *= (double)md->dims[i];
    return n;
}

static const dnnl_memory_desc_t *pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int i) {
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, i);
    return md && md->ndims > 0 ? md : NULL;
}

/* Whether pd's problem is small enough for one thread (see above). */
static bool pd_is_small(const_dnnl_primitive_desc_t pd) {
    pthread_once(&g_serial_once, serial_init);
    dnnl_primitive_kind_t kind;
    if (dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind) != dnnl_success) return false;
    const dnnl_memory_desc_t *src = pd_md(pd, dnnl_query_src_md, 0), *dst = pd_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *wei = pd_md(pd, dnnl_query_weights_md, 0);
    if (!src || !dst) return false;
    double macs = -1;
    switch (kind) {
    case dnnl_rnn: return false;
    case dnnl_matmul: macs = md_numel(dst) * (double)src->dims[src->ndims - 1]; break;
    case dnnl_convolution: /* per output, IC/groups * KH * KW = weights / OC */
        if (wei && dst->ndims > 1) macs = md_numel(dst) * md_numel(wei) / (double)dst->dims[1];
        break;
    case dnnl_deconvolution:
        if (wei && src->ndims > 1) macs = md_numel(src) * md_numel(wei) / (double)src->dims[1];
        break;
    case dnnl_inner_product: macs = md_numel(dst) * md_numel(src) / (double)src->dims[0]; break;
    default: break;
    }
    if (macs >= 0) return macs < g_serial_macs;
    double bytes = (double)dnnl_memory_desc_get_size(src) + (double)dnnl_memory_desc_get_size(dst);
    const dnnl_memory_desc_t *src1 = pd_md(pd, dnnl_query_src_md, 1);
    if (src1) bytes += (double)dnnl_memory_desc_get_size(src1);
    return bytes < g_serial_bytes;
}

int pl_dnnl_threads_now(void) { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

pl_status pl_dnnl_create_sized(dnnl_primitive_desc_t *pd, pl_dnnl_pd_maker make_pd, const void *ctx,
                               dnnl_primitive_t *prim, bool *serial, const char *what) {
    *serial = false;
    int nt = omp_get_max_threads();
    /* inside a caller's parallel region oneDNN runs on the calling thread alone, so the
     * primitive must be made for one thread too: one made for a team waits at barriers for
     * threads that never come (batch normalization does) */
    if (nt > 1 && (omp_in_parallel() || pd_is_small(*pd))) {
        omp_set_num_threads(1);
        dnnl_primitive_desc_t one;
        dnnl_status_t ds = make_pd(&one, ctx);
        omp_set_num_threads(nt);
        if (ds == dnnl_success) {
            dnnl_primitive_desc_destroy(*pd);
            *pd = one;
            *serial = true;
        }
    }
    if (*serial) omp_set_num_threads(1);
    pl_status st = pl_dnnl_check(dnnl_primitive_create(prim, *pd), what);
    if (*serial) omp_set_num_threads(nt);
    return st;
}

int pl_dnnl_serial_enter(bool serial) {
    int nt = serial ? omp_get_max_threads() : 1;
    if (nt > 1) omp_set_num_threads(1);
    return nt;
}

void pl_dnnl_serial_leave(int saved) {
    if (saved > 1) omp_set_num_threads(saved);
}

/* ---- memory objects, kept per context ----
 * A oneDNN execution takes memory objects, and making one (and destroying it) costs about
 * 270 ns, an allocation included: a few hundred per query on a small CNN. Each context keeps
 * one per (primitive, argument) in an open-addressing table and points it at this run's data
 * (10 ns). An entry is checked against the argument's layout on every use, since a primitive
 * freed after one execution (transient) may leave its address to a new one. */

#define MC_MAX 8192 /* entries before the table starts over */

typedef struct memcache_entry {
    const void *prim; /* NULL: free slot */
    int arg;
    dnnl_memory_t mem;
    void *data; /* the handle it holds */
} memcache_entry;

typedef struct pl_dnnl_memcache {
    size_t cap, n; /* cap a power of two */
    memcache_entry *e;
} pl_dnnl_memcache;

void pl_dnnl_memcache_free(void *v) {
    pl_dnnl_memcache *c = v;
    if (!c) return;
    for (size_t i = 0; i < c->cap; i++)
        if (c->e[i].prim) dnnl_memory_destroy(c->e[i].mem);
    free(c->e);
    free(c);
}

static size_t mc_hash(const void *prim, int arg) {
    uint64_t h = (uint64_t)(uintptr_t)prim * 0x9e3779b97f4a7c15ull ^ (uint64_t)(unsigned)arg * 0xc2b2ae3d27d4eb4full;
    return (size_t)(h ^ (h >> 29));
}

static memcache_entry *mc_slot(pl_dnnl_memcache *c, const void *prim, int arg) {
    size_t i = mc_hash(prim, arg) & (c->cap - 1);
    while (c->e[i].prim && (c->e[i].prim != prim || c->e[i].arg != arg)) i = (i + 1) & (c->cap - 1);
    return &c->e[i];
}

static bool mc_grow(pl_dnnl_memcache *c) {
    size_t cap = c->cap ? c->cap * 2 : 256;
    memcache_entry *old = c->e;
    size_t old_cap = c->cap;
    c->e = calloc(cap, sizeof *c->e);
    if (!c->e) {
        c->e = old;
        return false;
    }
    c->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].prim) *mc_slot(c, old[i].prim, old[i].arg) = old[i];
    free(old);
    return true;
}

/* The context's memory object for argument `a` of primitive p, holding a->data. */
static pl_status mc_memory(pl_xrun *r, const void *p, const pl_dnnl_arg *a, dnnl_memory_t *out) {
    void **slot = pl_xrun_dnnl_memcache(r);
    pl_dnnl_memcache *c = *slot;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !mc_grow(c)) {
            free(c);
            return pl_err(PL_ERR_NOMEM, "out of memory");
        }
        *slot = c;
    }
    if (2 * (c->n + 1) > c->cap && !mc_grow(c)) return pl_err(PL_ERR_NOMEM, "out of memory");
    memcache_entry *e = mc_slot(c, p, a->arg);
    if (e->prim) {
        const dnnl_memory_desc_t *md;
        if (dnnl_memory_get_memory_desc(e->mem, &md) == dnnl_success && dnnl_memory_desc_equal(md, a->md)) {
            if (e->data != a->data) {
                PL_DNNL(dnnl_memory_set_data_handle(e->mem, a->data), "memory handle");
                e->data = a->data;
            }
            *out = e->mem;
            return PL_OK;
        }
        dnnl_memory_destroy(e->mem); /* another primitive at a freed one's address */
        e->prim = NULL;
        c->n--;
    }
    PL_DNNL(dnnl_memory_create(&e->mem, a->md, pl_dnnl_engine(), a->data), "memory");
    e->prim = p;
    e->arg = a->arg;
    e->data = a->data;
    c->n++;
    *out = e->mem;
    return PL_OK;
}

void pl_dnnl_memory_reserve(pl_xrun *r, int n) {
    pl_dnnl_memcache *c = *pl_xrun_dnnl_memcache(r);
    if (!c || c->n + (size_t)n <= MC_MAX) return;
    /* transient primitives of nodes with ever new shapes filled it: start over (before an
     * execution takes any of its objects, never in the middle) */
    for (size_t i = 0; i < c->cap; i++)
        if (c->e[i].prim) dnnl_memory_destroy(c->e[i].mem);
    memset(c->e, 0, c->cap * sizeof *c->e);
    c->n = 0;
}

pl_status pl_dnnl_memory(pl_xrun *r, const void *prim, int arg, const dnnl_memory_desc_t *md, void *data,
                         dnnl_memory_t *out) {
    pl_dnnl_arg a = {arg, md, data};
    return mc_memory(r, prim, &a, out);
}

static pl_status exec_threads(pl_xrun *r, dnnl_primitive_t p, int n, const pl_dnnl_arg *args, bool serial) {
    dnnl_exec_arg_t ea[16];
    if (n > 16) return pl_err(PL_ERR_INTERNAL, "too many oneDNN arguments");
    pl_dnnl_memory_reserve(r, n);
    for (int i = 0; i < n; i++) {
        PL_TRY(mc_memory(r, p, &args[i], &ea[i].memory));
        ea[i].arg = args[i].arg;
    }
    int nt = pl_dnnl_serial_enter(serial);
    pl_status st = pl_dnnl_check(dnnl_primitive_execute(p, pl_xrun_stream(r), n, ea), "execute");
    if (st == PL_OK) st = pl_dnnl_check(dnnl_stream_wait(pl_xrun_stream(r)), "stream wait");
    pl_dnnl_serial_leave(nt);
    return st;
}

pl_status pl_dnnl_exec(pl_xrun *r, dnnl_primitive_t p, int n, const pl_dnnl_arg *args) {
    return exec_threads(r, p, n, args, false);
}

/* a[] = args, then p's scratchpad (the context's slot 0) and its binary post-op operands;
 * *n_all their count (a holds 16). */
static pl_status prim_args(pl_xrun *r, const pl_dnnl_prim *p, int n, const pl_dnnl_arg *args, pl_dnnl_arg *a,
                           int *n_all) {
    if (n + 2 + p->n_bin > 16) return pl_err(PL_ERR_INTERNAL, "too many oneDNN arguments");
    memcpy(a, args, (size_t)n * sizeof *a);
    size_t ss = dnnl_memory_desc_get_size(&p->scratch_md);
    if (ss) {
        void *s = pl_xrun_scratch(r, 0, ss);
        if (!s) return pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of oneDNN scratchpad", ss);
        a[n++] = (pl_dnnl_arg){DNNL_ARG_SCRATCHPAD, &p->scratch_md, s};
    }
    for (int b = 0; b < p->n_bin; b++) {
        const pl_tensor *t;
        PL_TRY(pl_xrun_value(r, p->bin_values[b], &t));
        a[n++] = (pl_dnnl_arg){DNNL_ARG_ATTR_MULTIPLE_POST_OP(p->bin_pos[b]) | DNNL_ARG_SRC_1, &p->bin_mds[b], t->data};
    }
    *n_all = n;
    return PL_OK;
}

pl_status pl_dnnl_prim_time(pl_xrun *r, pl_dnnl_prim *p, int n, const pl_dnnl_arg *args, double *ns) {
    pl_dnnl_arg a[16];
    PL_TRY(prim_args(r, p, n, args, a, &n));
    double t0 = pl_cpu_now_ns();
    PL_TRY(exec_threads(r, p->prim, n, a, p->serial));
    *ns = pl_cpu_now_ns() - t0;
    return PL_OK;
}

/* ---- a process-wide cache of the small primitives made at run time (reorders, post-op
 * eltwise/binary), keyed by the bytes of their descriptors: creating a primitive descriptor
 * costs tens of microseconds, executing these a few. Primitives execute concurrently. ---- */

#define CACHE_CAP 512

typedef struct cache_entry {
    size_t len;
    unsigned char *key;
    dnnl_primitive_t prim;
    bool serial; /* made and run with one thread (pl_dnnl_create_sized) */
} cache_entry;

static cache_entry g_cache[CACHE_CAP];
static int g_cache_n;
static pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The cached primitive for key (NULL when absent). */
static dnnl_primitive_t cache_get(const void *key, size_t len, bool *serial) {
    dnnl_primitive_t p = NULL;
    pthread_mutex_lock(&g_cache_lock);
    for (int i = 0; i < g_cache_n; i++)
        if (g_cache[i].len == len && !memcmp(g_cache[i].key, key, len)) {
            p = g_cache[i].prim;
            *serial = g_cache[i].serial;
            break;
        }
    pthread_mutex_unlock(&g_cache_lock);
    return p;
}

/* Keeps p under key; returns false when the cache is full (the caller then owns p). */
static bool cache_put(const void *key, size_t len, dnnl_primitive_t p, bool serial) {
    bool kept = false;
    pthread_mutex_lock(&g_cache_lock);
    if (g_cache_n < CACHE_CAP) {
        unsigned char *k = malloc(len);
        if (k) {
            memcpy(k, key, len);
            g_cache[g_cache_n++] = (cache_entry){len, k, p, serial};
            kept = true;
        }
    }
    pthread_mutex_unlock(&g_cache_lock);
    return kept;
}

typedef struct cached_desc {
    const void *desc; /* an op descriptor, or NULL for a reorder from smd to dmd */
    const dnnl_memory_desc_t *smd, *dmd;
} cached_desc;

static dnnl_status_t make_cached_pd(dnnl_primitive_desc_t *pd, const void *ctx) {
    const cached_desc *c = ctx;
    dnnl_engine_t eng = pl_dnnl_engine();
    if (c->desc) return dnnl_primitive_desc_create(pd, c->desc, NULL, eng, NULL);
    return dnnl_reorder_primitive_desc_create(pd, c->smd, eng, c->dmd, eng, NULL);
}

/* Gets or makes the primitive of an op descriptor (NULL for a reorder: smd/dmd give it).
 * The key holds the thread count: oneDNN splits the work when it makes the primitive. */
static pl_status cached_prim(const void *desc, size_t desc_len, const dnnl_memory_desc_t *smd,
                             const dnnl_memory_desc_t *dmd, dnnl_primitive_t *out, bool *owned, bool *serial,
                             const char *what) {
    unsigned char key[3 * sizeof(dnnl_memory_desc_t) + 64];
    size_t len;
    int nt = pl_dnnl_threads_now();
    if (desc) {
        if (desc_len + sizeof nt > sizeof key) return pl_err(PL_ERR_INTERNAL, "descriptor too large to cache");
        memcpy(key, desc, desc_len);
        len = desc_len;
    } else {
        memcpy(key, smd, sizeof *smd);
        memcpy(key + sizeof *smd, dmd, sizeof *dmd);
        len = 2 * sizeof *smd;
    }
    memcpy(key + len, &nt, sizeof nt);
    len += sizeof nt;
    *owned = false;
    *out = cache_get(key, len, serial);
    if (*out) return PL_OK;
    cached_desc c = {desc, smd, dmd};
    dnnl_primitive_desc_t pd;
    PL_DNNL(make_cached_pd(&pd, &c), what);
    dnnl_primitive_t p;
    pl_status st = pl_dnnl_create_sized(&pd, make_cached_pd, &c, &p, serial, what);
    dnnl_primitive_desc_destroy(pd);
    if (st != PL_OK) return st;
    *out = p;
    *owned = !cache_put(key, len, p, *serial);
    return PL_OK;
}

pl_status pl_dnnl_reorder(pl_xrun *r, const dnnl_memory_desc_t *smd, void *src,
                          const dnnl_memory_desc_t *dmd, void *dst) {
    dnnl_primitive_t p;
    bool owned, serial;
    PL_TRY(cached_prim(NULL, 0, smd, dmd, &p, &owned, &serial, "reorder"));
    pl_dnnl_arg a[2] = {{DNNL_ARG_FROM, smd, src}, {DNNL_ARG_TO, dmd, dst}};
    pl_status st = exec_threads(r, p, 2, a, serial);
    if (owned) dnnl_primitive_destroy(p);
    return st;
}

bool pl_dnnl_post_ops_supported(const pl_xgraph *xg, const pl_xnode *xn) {
    (void)xg;
    /* every post-op kind has a oneDNN form (pl_dnnl_attr); an unknown one does not */
    for (int p = 0; p < xn->n_post; p++)
        if (xn->post[p].kind <= PL_POST_NONE || xn->post[p].kind > PL_POST_MUL) return false;
    return true;
}

static float clampf(float v) { return v < -FLT_MAX ? -FLT_MAX : v > FLT_MAX ? FLT_MAX : v; }

pl_status pl_dnnl_attr(pl_xrun *r, const pl_xnode *xn, int rank, const int64_t *out_dims,
                       dnnl_primitive_attr_t *attr, int *sum_value, int *n_binary,
                       int *binary_values, int *binary_pos, dnnl_memory_desc_t *binary_mds, bool *own_silu) {
    *attr = NULL;
    if (own_silu) *own_silu = false;
    int chain = 0;
    *sum_value = -1;
    *n_binary = 0;
    dnnl_post_ops_t po = NULL;
    PL_DNNL(dnnl_primitive_attr_create(attr), "attributes");
    pl_status st = pl_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (st == PL_OK && xn->n_post) st = pl_dnnl_check(dnnl_post_ops_create(&po), "post-ops");
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) numel *= out_dims[d];
    for (int p = 0; st == PL_OK && p < xn->n_post; p++) {
        const pl_post *q = &xn->post[p];
        dnnl_status_t s = dnnl_success;
        switch (q->kind) {
        case PL_POST_RELU: s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, q->alpha, 0); break;
        case PL_POST_CLIP: s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, clampf(q->alpha), clampf(q->beta)); break;
        case PL_POST_SIGMOID: s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_logistic, 0, 0); break;
        case PL_POST_TANH: s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_tanh, 0, 0); break;
        case PL_POST_SILU:
            if (own_silu && p == xn->n_post - 1 && pl_own_silu_available()) *own_silu = true; /* after the primitive */
            else s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_swish, 1.f, 0);
            break;
        case PL_POST_HARDSWISH: s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_hardswish, 0, 0); break;
        case PL_POST_HARDSIGMOID:
            s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, q->alpha, q->beta);
            if (s == dnnl_success) s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, 0.f, 1.f);
            break;
        case PL_POST_GELU: s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_erf, 0, 0); break;
        case PL_POST_ELU: s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_elu, q->alpha, 0); break;
        case PL_POST_SUM:
        case PL_POST_ADD:
        case PL_POST_MUL: {
            const pl_tensor *b;
            st = pl_xrun_value(r, q->arg, &b);
            if (st != PL_OK) break;
            if (b->dtype != PL_DT_FLOAT || b->rank > rank) {
                st = pl_err(PL_ERR_UNSUPPORTED, "post-op operand does not fit");
                break;
            }
            /* the operand must broadcast into the output, never widen it */
            int64_t bd[PL_MAX_RANK];
            for (int d = 0; d < rank; d++) {
                int k = d - (rank - b->rank);
                bd[d] = k >= 0 ? b->dims[k] : 1;
                if (bd[d] != 1 && bd[d] != out_dims[d]) st = pl_err(PL_ERR_UNSUPPORTED, "post-op operand does not fit");
            }
            if (st != PL_OK) break;
            /* (same rank too: a residual of lower rank is read as a binary operand, since a
             * reorder cannot change the rank) */
            if (q->kind != PL_POST_MUL && b->numel == numel && b->rank == rank && *sum_value < 0 && !xn->node->domain[0] &&
                !pl_xrun_graph(r)->consts[q->arg]) {
                /* the residual is accumulated into dst: oneDNN's sum post-op */
                s = dnnl_post_ops_append_sum(po, 1.f);
                *sum_value = q->arg;
                break;
            }
            if (*n_binary >= 4) {
                st = pl_err(PL_ERR_UNSUPPORTED, "too many binary post-ops");
                break;
            }
            st = pl_dnnl_plain_md(PL_DT_FLOAT, rank, bd, &binary_mds[*n_binary]);
            if (st != PL_OK) break;
            s = dnnl_post_ops_append_binary(po, q->kind == PL_POST_MUL ? dnnl_binary_mul : dnnl_binary_add,
                                            &binary_mds[*n_binary]);
            binary_pos[*n_binary] = chain;
            binary_values[(*n_binary)++] = q->arg;
            break;
        }
        default:
            st = pl_err(PL_ERR_UNSUPPORTED, "post-op %s has no oneDNN form", pl_post_name(q->kind));
        }
        if (st == PL_OK) st = pl_dnnl_check(s, "post-op");
        if (st == PL_OK) chain = dnnl_post_ops_len(po);
    }
    if (st == PL_OK && po) st = pl_dnnl_check(dnnl_primitive_attr_set_post_ops(*attr, po), "set post-ops");
    if (po) dnnl_post_ops_destroy(po);
    if (st != PL_OK) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

/* ---- primitive caches ---- */

pl_status pl_dnnl_key(pl_xrun *r, const pl_xnode *xn, int64_t *key, int *len) {
    int n = 0;
    for (int i = 0; i < xn->n_in; i++) {
        const pl_tensor *t = pl_xrun_logical(r, xn->in[i]); /* constants too, of any type */
        if (xn->in[i] >= 0 && !t) return pl_err(PL_ERR_INTERNAL, "input %d of node '%s' has no data", i, xn->node->name);
        if (n + 2 + (t ? t->rank : 0) > 64) return pl_err(PL_ERR_UNSUPPORTED, "too many dims for a oneDNN key");
        key[n++] = t ? (int64_t)t->dtype : -1;
        key[n++] = t ? t->rank : -1;
        for (int d = 0; t && d < t->rank; d++) key[n++] = t->dims[d];
    }
    for (int p = 0; p < xn->n_post; p++) {
        if (xn->post[p].arg < 0) continue;
        const pl_tensor *t = pl_xrun_logical(r, xn->post[p].arg);
        if (!t) return pl_err(PL_ERR_INTERNAL, "post-op operand of node '%s' has no data", xn->node->name);
        if (n + 1 + t->rank > 64) return pl_err(PL_ERR_UNSUPPORTED, "too many dims for a oneDNN key");
        key[n++] = t->rank;
        for (int k = 0; k < t->rank; k++) key[n++] = t->dims[k];
    }
    *len = n;
    return PL_OK;
}

/* Whether p may run where nt threads would be used: one made for one thread runs anywhere
 * (with one thread); one made for a team only with that team (0: not recorded). */
static bool threads_fit(const pl_dnnl_prim *p, int nt) { return p->serial || !p->nthr || p->nthr == nt; }

pl_dnnl_prim *pl_dnnl_find(pl_xnode *xn, const int64_t *key, int len, const dnnl_memory_desc_t *in_md) {
    pthread_mutex_lock(&xn->lock);
    pl_dnnl_prim *p = xn->state;
    int nt = pl_dnnl_threads_now();
    for (; p; p = p->next)
        if (p->key_len == len && !memcmp(p->key, key, (size_t)len * sizeof *key) &&
            (!in_md || dnnl_memory_desc_equal(&p->in_md, in_md)) && threads_fit(p, nt))
            break;
    pthread_mutex_unlock(&xn->lock);
    return p;
}

void *pl_dnnl_weights_in(pl_xnode *xn, const dnnl_memory_desc_t *wei_md) {
    pthread_mutex_lock(&xn->lock);
    pl_dnnl_prim *p = xn->state;
    for (; p; p = p->next)
        if (p->weights && dnnl_memory_desc_equal(&p->wei_md, wei_md)) break;
    pthread_mutex_unlock(&xn->lock);
    return p ? p->weights : NULL;
}

void pl_dnnl_prim_free(pl_dnnl_prim *p) {
    if (!p) return;
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (!p->weights_shared) free(p->weights);
    free(p);
}

#define MAX_SHAPES_PER_NODE 32

void pl_dnnl_add(pl_xnode *xn, pl_dnnl_prim *p, pl_dnnl_prim **out) {
    p->owner = xn;
    pthread_mutex_lock(&xn->lock);
    pl_dnnl_prim *q = xn->state;
    int count = 0;
    for (; q; q = q->next, count++)
        if (q->key_len == p->key_len && !memcmp(q->key, p->key, (size_t)p->key_len * sizeof *p->key) &&
            dnnl_memory_desc_equal(&q->in_md, &p->in_md) && threads_fit(q, p->serial ? 1 : p->nthr))
            break;
    if (q) {
        *out = q;
    } else if (count >= MAX_SHAPES_PER_NODE) {
        /* a node that has seen many shapes (varying sequence lengths, say) keeps the first
         * ones; this primitive is used once and freed by pl_dnnl_prim_exec */
        p->transient = true;
        *out = p;
    } else {
        p->next = xn->state;
        xn->state = p;
        xn->state_free = pl_dnnl_state_free;
        *out = p;
    }
    pthread_mutex_unlock(&xn->lock);
    if (q) pl_dnnl_prim_free(p);
}

void pl_dnnl_state_free(void *state) {
    pl_dnnl_prim *p = state;
    while (p) {
        pl_dnnl_prim *n = p->next;
        pl_dnnl_prim_free(p);
        p = n;
    }
}

pl_status pl_dnnl_prim_attr(pl_xrun *r, const pl_xnode *xn, pl_dnnl_prim *p, int rank,
                            const int64_t *out_dims, dnnl_primitive_attr_t *attr) {
    p->sum_value = -1;
    p->n_bin = 0;
    p->fused = false;
    p->own_silu = false;
    pl_status st = pl_dnnl_attr(r, xn, rank, out_dims, attr, &p->sum_value, &p->n_bin, p->bin_values, p->bin_pos, p->bin_mds,
                                &p->own_silu);
    if (st == PL_OK) {
        p->fused = xn->n_post > 0;
        return PL_OK;
    }
    if (st == PL_ERR_NOMEM) return st;
    pl_err_clear();
    p->sum_value = -1;
    p->n_bin = 0;
    p->own_silu = false;
    PL_DNNL(dnnl_primitive_attr_create(attr), "attributes");
    st = pl_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (st != PL_OK) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

typedef struct prim_desc {
    const void *op_desc;
    const_dnnl_primitive_attr_t attr;
} prim_desc;

static dnnl_status_t make_prim_pd(dnnl_primitive_desc_t *pd, const void *ctx) {
    const prim_desc *c = ctx;
    return dnnl_primitive_desc_create(pd, c->op_desc, c->attr, pl_dnnl_engine(), NULL);
}

pl_status pl_dnnl_prim_create(pl_dnnl_prim *p, const void *op_desc, dnnl_primitive_attr_t attr,
                              const char *what) {
    dnnl_primitive_desc_t pd;
    prim_desc c = {op_desc, attr};
    dnnl_primitive_attr_t plain = NULL;
    dnnl_status_t ds = make_prim_pd(&pd, &c);
    if (ds == dnnl_unimplemented && p->fused) {
        /* no implementation with these post-ops: without them (applied after the primitive) */
        PL_DNNL(dnnl_primitive_attr_create(&plain), "attributes");
        ds = dnnl_primitive_attr_set_scratchpad_mode(plain, dnnl_scratchpad_mode_user);
        c.attr = plain;
        if (ds == dnnl_success) ds = make_prim_pd(&pd, &c);
        p->fused = false;
        p->sum_value = -1;
        p->n_bin = 0;
        p->own_silu = false;
    }
    if (ds != dnnl_success) {
        if (plain) dnnl_primitive_attr_destroy(plain);
        return pl_dnnl_check(ds, what);
    }
    pl_status st = pl_dnnl_create_sized(&pd, make_prim_pd, &c, &p->prim, &p->serial, what);
    p->nthr = p->serial ? 1 : pl_dnnl_threads_now();
    if (plain) dnnl_primitive_attr_destroy(plain);
    const dnnl_memory_desc_t *m;
    if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0))) p->src_md = *m;
    if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 1))) p->src1_md = *m;
    if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0))) p->wei_md = *m;
    if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1))) p->bias_md = *m;
    if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0))) p->dst_md = *m;
    if ((m = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0))) p->scratch_md = *m;
    dnnl_primitive_desc_destroy(pd);
    return st;
}

static pl_status prim_exec(pl_xrun *r, pl_dnnl_prim *p, int n, pl_dnnl_arg *args, void *dst);
static pl_status eltwise(pl_xrun *r, const dnnl_memory_desc_t *md, void *data, dnnl_alg_kind_t alg, float a, float b);

pl_status pl_dnnl_prim_exec(pl_xrun *r, pl_dnnl_prim *p, int n, pl_dnnl_arg *args, void *dst) {
    pl_status st = prim_exec(r, p, n, args, dst);
    if (p->transient) pl_dnnl_prim_free(p);
    return st;
}

static pl_status prim_exec(pl_xrun *r, pl_dnnl_prim *p, int n, pl_dnnl_arg *args, void *dst) {
    pl_dnnl_arg a[16];
    PL_TRY(prim_args(r, p, n, args, a, &n));
    if (p->sum_value >= 0) {
        dnnl_memory_desc_t smd;
        void *sd;
        PL_TRY(pl_xrun_dnnl_value(r, p->sum_value, &smd, &sd, NULL));
        if (sd == dst) {
            /* computed in place over the residual (pl_xrun_dnnl_out_reuse) */
        } else if (dnnl_memory_desc_equal(&smd, &p->dst_md)) memcpy(dst, sd, dnnl_memory_desc_get_size(&p->dst_md));
        else PL_TRY(pl_dnnl_reorder(r, &smd, sd, &p->dst_md, dst));
    }
    PL_TRY(exec_threads(r, p->prim, n, a, p->serial));
    if (p->fused && p->own_silu) { /* the trailing SiLU, left out of the primitive (own.c) */
        if (p->dst_md.data_type == dnnl_f32)
            pl_own_silu_inplace(dst, (int64_t)(dnnl_memory_desc_get_size(&p->dst_md) / sizeof(float)), p->serial);
        else
            PL_TRY(eltwise(r, &p->dst_md, dst, dnnl_eltwise_swish, 1.f, 0));
    }
    if (p->fused) {
        pl_xrun_post_done(r);
    } else if (p->owner && p->owner->n_post) {
        pl_status st = pl_dnnl_post_unfused(r, p->owner);
        if (st == PL_ERR_UNSUPPORTED) pl_err_clear(); /* the executor applies them in plain layout */
        else PL_TRY(st);
    }
    return PL_OK;
}

/* ---- post-ops that could not be fused, applied with oneDNN in the output's layout ---- */

/* Right-aligned dims of t padded with 1s to `rank`. */
static void pad_dims(const pl_tensor *t, int rank, int64_t *d) {
    for (int i = 0; i < rank; i++) {
        int k = i - (rank - t->rank);
        d[i] = k >= 0 ? t->dims[k] : 1;
    }
}

static bool fits_into(const pl_tensor *small, const pl_tensor *big) {
    if (small->rank > big->rank) return false;
    int64_t d[PL_MAX_RANK];
    pad_dims(small, big->rank, d);
    for (int i = 0; i < big->rank; i++)
        if (d[i] != 1 && d[i] != big->dims[i]) return false;
    return true;
}

static pl_status run_prim(pl_xrun *r, const void *desc, size_t desc_len, int n, const pl_dnnl_arg *args,
                          const char *what) {
    dnnl_primitive_t p;
    bool owned, serial;
    PL_TRY(cached_prim(desc, desc_len, NULL, NULL, &p, &owned, &serial, what));
    pl_status st = exec_threads(r, p, n, args, serial);
    if (owned) dnnl_primitive_destroy(p);
    return st;
}

static pl_status eltwise(pl_xrun *r, const dnnl_memory_desc_t *md, void *data, dnnl_alg_kind_t alg, float a, float b) {
    dnnl_eltwise_desc_t d;
    memset(&d, 0, sizeof d); /* the cache key is its bytes */
    PL_DNNL(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, md, a, b), "eltwise descriptor");
    pl_dnnl_arg args[2] = {{DNNL_ARG_SRC, md, data}, {DNNL_ARG_DST, md, data}};
    return run_prim(r, &d, sizeof d, 2, args, "eltwise");
}

pl_status pl_dnnl_post_unfused(pl_xrun *r, const pl_xnode *xn) {
    int v = xn->out[0];
    if (v < 0 || !xn->n_post) return PL_OK;
    const pl_tensor *o;
    dnnl_memory_desc_t omd;
    void *od;
    PL_TRY(pl_xrun_dnnl_value(r, v, &omd, &od, &o));
    if (o->dtype != PL_DT_FLOAT) return PL_ERR_UNSUPPORTED;
    /* feasibility first: nothing is applied unless everything can be */
    int rank = o->rank;
    int64_t dims[PL_MAX_RANK];
    memcpy(dims, o->dims, sizeof dims);
    for (int p = 0; p < xn->n_post; p++) {
        const pl_post *q = &xn->post[p];
        if (q->arg < 0) continue;
        const pl_tensor *b;
        dnnl_memory_desc_t bmd;
        void *bd;
        PL_TRY(pl_xrun_dnnl_value(r, q->arg, &bmd, &bd, &b));
        pl_tensor cur = {.rank = rank};
        memcpy(cur.dims, dims, sizeof dims);
        if (b->dtype != PL_DT_FLOAT) return PL_ERR_UNSUPPORTED;
        if (fits_into(b, &cur)) continue;
        if (!fits_into(&cur, b)) return PL_ERR_UNSUPPORTED;
        rank = b->rank;
        memcpy(dims, b->dims, sizeof dims);
    }
    for (int p = 0; p < xn->n_post; p++) {
        const pl_post *q = &xn->post[p];
        PL_TRY(pl_xrun_dnnl_value(r, v, &omd, &od, &o));
        switch (q->kind) {
        case PL_POST_RELU: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_relu, q->alpha, 0)); continue;
        case PL_POST_CLIP: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_clip, clampf(q->alpha), clampf(q->beta))); continue;
        case PL_POST_SIGMOID: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_logistic, 0, 0)); continue;
        case PL_POST_TANH: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_tanh, 0, 0)); continue;
        case PL_POST_SILU: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_swish, 1.f, 0)); continue;
        case PL_POST_HARDSWISH: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_hardswish, 0, 0)); continue;
        case PL_POST_HARDSIGMOID:
            PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_linear, q->alpha, q->beta));
            PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_clip, 0.f, 1.f));
            continue;
        case PL_POST_GELU: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_gelu_erf, 0, 0)); continue;
        case PL_POST_ELU: PL_TRY(eltwise(r, &omd, od, dnnl_eltwise_elu, q->alpha, 0)); continue;
        default: break;
        }
        const pl_tensor *b;
        dnnl_memory_desc_t bmd;
        void *bd;
        PL_TRY(pl_xrun_dnnl_value(r, q->arg, &bmd, &bd, &b));
        dnnl_alg_kind_t alg = q->kind == PL_POST_MUL ? dnnl_binary_mul : dnnl_binary_add;
        dnnl_binary_desc_t d;
        memset(&d, 0, sizeof d); /* the cache key is its bytes */
        if (fits_into(b, o)) {
            /* in place: dst = dst (op) b; b in dst's layout when of the same dims, else plain */
            dnnl_memory_desc_t smd;
            void *sd;
            if (b->rank == o->rank && !memcmp(b->dims, o->dims, (size_t)o->rank * sizeof *o->dims)) {
                smd = omd;
                sd = bd;
                if (!dnnl_memory_desc_equal(&bmd, &omd)) {
                    sd = pl_xrun_scratch(r, 2, dnnl_memory_desc_get_size(&omd));
                    if (!sd) return pl_err(PL_ERR_NOMEM, "out of memory");
                    PL_TRY(pl_dnnl_reorder(r, &bmd, bd, &omd, sd));
                }
            } else {
                const pl_tensor *pb;
                PL_TRY(pl_xrun_value(r, q->arg, &pb));
                int64_t pd[PL_MAX_RANK];
                pad_dims(pb, o->rank, pd);
                PL_TRY(pl_dnnl_plain_md(PL_DT_FLOAT, o->rank, pd, &smd));
                sd = pb->data;
            }
            PL_DNNL(dnnl_binary_desc_init(&d, alg, &omd, &smd, &omd), "binary descriptor");
            pl_dnnl_arg args[3] = {{DNNL_ARG_SRC_0, &omd, od}, {DNNL_ARG_SRC_1, &smd, sd}, {DNNL_ARG_DST, &omd, od}};
            PL_TRY(run_prim(r, &d, sizeof d, 3, args, "binary"));
            continue;
        }
        /* widening (x * s with s the smaller output): out = b (op) old, in b's layout */
        int64_t pd[PL_MAX_RANK];
        pad_dims(o, b->rank, pd);
        dnnl_memory_desc_t small;
        PL_TRY(pl_dnnl_plain_md(PL_DT_FLOAT, b->rank, pd, &small));
        size_t sz = dnnl_memory_desc_get_size(&small);
        void *copy = pl_xrun_scratch(r, 2, sz);
        if (!copy) return pl_err(PL_ERR_NOMEM, "out of memory");
        dnnl_memory_desc_t oplain;
        PL_TRY(pl_dnnl_plain_md(PL_DT_FLOAT, o->rank, o->dims, &oplain));
        if (dnnl_memory_desc_equal(&omd, &oplain)) memcpy(copy, od, sz);
        else PL_TRY(pl_dnnl_reorder(r, &omd, od, &oplain, copy));
        void *nd;
        PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &bmd, PL_DT_FLOAT, b->rank, b->dims, &nd));
        PL_DNNL(dnnl_binary_desc_init(&d, alg, &bmd, &small, &bmd), "binary descriptor");
        pl_dnnl_arg args[3] = {{DNNL_ARG_SRC_0, &bmd, bd}, {DNNL_ARG_SRC_1, &small, copy}, {DNNL_ARG_DST, &bmd, nd}};
        PL_TRY(run_prim(r, &d, sizeof d, 3, args, "binary"));
    }
    pl_xrun_post_done(r);
    return PL_OK;
}

/* ---- helpers of the single-primitive tactics ---- */

bool pl_dnnl_maybe_float(const pl_xgraph *xg, int v) {
    if (v < 0) return false;
    if (xg->consts[v]) return xg->consts[v]->dtype == PL_DT_FLOAT;
    if (v < xg->g->n_values) {
        const pl_value_info *info = &xg->g->values[v].info;
        if (info->dtype != PL_DT_UNDEFINED) return info->dtype == PL_DT_FLOAT && info->kind == PL_KIND_TENSOR;
    }
    return true;
}

int64_t pl_dnnl_md_layout(const dnnl_memory_desc_t *md) {
    uint64_t h = 1469598103934665603ull;
#define MIX(x) (h = (h ^ (uint64_t)(x)) * 1099511628211ull)
    MIX(md->data_type);
    MIX(md->format_kind);
    MIX(md->offset0);
    if (md->format_kind == dnnl_blocked) {
        const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
        MIX(b->inner_nblks);
        for (int i = 0; i < b->inner_nblks; i++) {
            MIX(b->inner_blks[i]);
            MIX(b->inner_idxs[i]);
        }
        for (int i = 0; i < md->ndims; i++) MIX(b->strides[i]);
    }
    for (int i = 0; i < md->ndims; i++) MIX(md->padded_dims[i]);
#undef MIX
    return (int64_t)(h >> 1);
}

pl_status pl_dnnl_lookup(pl_xrun *r, pl_xnode *xn, const dnnl_memory_desc_t *in_md, pl_dnnl_prim **p) {
    int64_t key[64];
    int len;
    *p = NULL;
    PL_TRY(pl_dnnl_key(r, xn, key, &len));
    *p = pl_dnnl_find(xn, key, len, in_md);
    if (*p) return PL_OK;
    *p = pl_dnnl_prim_new(key, len, in_md);
    return *p ? PL_OK : PL_ERR_NOMEM;
}

pl_dnnl_prim *pl_dnnl_prim_new(const int64_t *key, int key_len, const dnnl_memory_desc_t *in_md) {
    pl_dnnl_prim *p = calloc(1, sizeof *p);
    if (!p) {
        pl_err(PL_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->key_len = key_len;
    memcpy(p->key, key, (size_t)key_len * sizeof *key);
    if (in_md) p->in_md = *in_md;
    p->sum_value = -1;
    return p;
}

pl_status pl_dnnl_plain_attr(dnnl_primitive_attr_t *attr) {
    PL_DNNL(dnnl_primitive_attr_create(attr), "attributes");
    pl_status st = pl_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user), "scratchpad mode");
    if (st != PL_OK) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return st;
}

pl_status pl_dnnl_prim_create_plain(pl_dnnl_prim *p, const void *op_desc, const char *what) {
    dnnl_primitive_attr_t attr;
    PL_TRY(pl_dnnl_plain_attr(&attr));
    pl_status st = pl_dnnl_prim_create(p, op_desc, attr, what);
    dnnl_primitive_attr_destroy(attr);
    return st;
}
