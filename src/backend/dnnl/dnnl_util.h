/* dnnl_util.h - what oneDNN tactics share: the CPU engine, layouts of run values, scratch
 * memory, and error translation. Compiled only with oneDNN (PL_HAVE_DNNL). */
#ifndef PL_DNNL_UTIL_H
#define PL_DNNL_UTIL_H

#include "../cpu.h"

#include <dnnl.h>

typedef struct pl_dnnl_arg {
    int arg;
    const dnnl_memory_desc_t *md;
    void *data;
} pl_dnnl_arg;

/* The process-wide oneDNN CPU engine (created once); NULL with an error set on failure. */
dnnl_engine_t pl_dnnl_engine(void);
/* "oneDNN 2.6.3 (cpu runtime OpenMP)" */
const char *pl_dnnl_version(void);
/* Converts a oneDNN status into a plaster error naming `what`. */
pl_status pl_dnnl_check(dnnl_status_t s, const char *what);
#define PL_DNNL(call, what) PL_TRY(pl_dnnl_check((call), (what)))

/* The plain row-major (abcd...) f32/other descriptor of a tensor shape. */
pl_status pl_dnnl_plain_md(pl_dtype dt, int rank, const int64_t *dims, dnnl_memory_desc_t *md);
dnnl_data_type_t pl_dnnl_dt(pl_dtype dt); /* dnnl_data_type_undef when oneDNN has none */
bool pl_dnnl_md_is_plain(const dnnl_memory_desc_t *md);

/* Input i of xn: its layout and data. A plain value gets its plain descriptor. `logical`
 * (may be NULL) receives the tensor header that carries its ONNX shape. */
pl_status pl_xrun_dnnl_in(pl_xrun *r, const pl_xnode *xn, int i, dnnl_memory_desc_t *md,
                          void **data, const pl_tensor **logical);
/* Output i in layout md, with ONNX shape (rank, dims), in the run's memory. */
pl_status pl_xrun_dnnl_out(pl_xrun *r, const pl_xnode *xn, int i, const dnnl_memory_desc_t *md,
                           pl_dtype dt, int rank, const int64_t *dims, void **data);
/* A primitive made for one shape signature of a node, in the node's state (a list). */
typedef struct pl_dnnl_prim {
    struct pl_dnnl_prim *next;
    int key_len;
    int64_t key[64];              /* dims of the inputs and post-op operands */
    dnnl_memory_desc_t in_md;     /* the layout input 0 had when this was made */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, wei_md, dst_md, bias_md, scratch_md, src1_md;
    bool fused;                   /* post-ops are in the primitive */
    bool own_silu;                /* ... but for a trailing SiLU, applied after it (own.c) */
    int sum_value;
    int n_bin;
    int bin_values[4];
    int bin_pos[4];               /* index of each binary post-op in oneDNN's chain */
    dnnl_memory_desc_t bin_mds[4];
    void *weights;                /* weights reordered to wei_md (owned unless weights_shared) */
    bool weights_shared;          /* weights borrowed from another entry of the same node */
    int rank;
    int64_t out_dims[PL_MAX_RANK];
    int64_t aux[8];               /* tactic-specific */
    const pl_xnode *owner;        /* the node (set by pl_dnnl_add) */
    bool transient;               /* not kept in the node's cache: freed after one execution */
    bool serial;                  /* made and executed with one thread (small, or made in a batch slice) */
    int nthr;                     /* threads it was made for (0: not recorded, any) */
} pl_dnnl_prim;

/* The signature key of xn's current inputs and post-op operands: their dims. */
pl_status pl_dnnl_key(pl_xrun *r, const pl_xnode *xn, int64_t *key, int *len);
/* Reordered weights of an entry of xn->state already in layout wei_md, or NULL (takes
 * xn->lock). Entries of one node are freed together, so a borrower never outlives them. */
void *pl_dnnl_weights_in(pl_xnode *xn, const dnnl_memory_desc_t *wei_md);
/* The entry of xn->state matching key and input-0 layout, made for this thread count (or
 * serial), or NULL (takes xn->lock). */
pl_dnnl_prim *pl_dnnl_find(pl_xnode *xn, const int64_t *key, int len, const dnnl_memory_desc_t *in_md);
/* Adds an entry (takes xn->lock); on a race the first one stays and `p` is freed, *out the
 * kept one. */
void pl_dnnl_add(pl_xnode *xn, pl_dnnl_prim *p, pl_dnnl_prim **out);
void pl_dnnl_prim_free(pl_dnnl_prim *p);
void pl_dnnl_state_free(void *state);
/* Builds the attribute with xn's post-ops for the output shape into p (fused = true), or,
 * when they have no oneDNN form, an attribute with only the scratchpad mode (fused = false). */
pl_status pl_dnnl_prim_attr(pl_xrun *r, const pl_xnode *xn, pl_dnnl_prim *p, int rank,
                            const int64_t *out_dims, dnnl_primitive_attr_t *attr);
/* Creates p->prim from a descriptor and queries the memory descriptors; a small problem gets
 * a one-thread primitive (p->serial) that pl_dnnl_prim_exec runs without forking a team. */
pl_status pl_dnnl_prim_create(pl_dnnl_prim *p, const void *op_desc, dnnl_primitive_attr_t attr,
                              const char *what);
/* Makes a primitive from *pd; when its problem is small (fewer multiply-adds or bytes than
 * two threads pay off for) and this thread would fork a team, *pd is remade by make_pd(ctx)
 * with one thread and *serial set: run it between pl_dnnl_serial_enter and _leave. */
typedef dnnl_status_t (*pl_dnnl_pd_maker)(dnnl_primitive_desc_t *pd, const void *ctx);
pl_status pl_dnnl_create_sized(dnnl_primitive_desc_t *pd, pl_dnnl_pd_maker make_pd, const void *ctx,
                               dnnl_primitive_t *prim, bool *serial, const char *what);
/* The threads a primitive made now would use: 1 inside a parallel region (a batch slice). */
int pl_dnnl_threads_now(void);
/* One OpenMP thread for what follows when serial; returns what _leave restores. */
int pl_dnnl_serial_enter(bool serial);
void pl_dnnl_serial_leave(int saved);
/* Executes p (and frees it when transient; a tactic must not use p after this): args plus the scratchpad, post-op operands and, with a sum post-op, the
 * residual placed in dst first; marks the post-ops done when fused. */
pl_status pl_dnnl_prim_exec(pl_xrun *r, pl_dnnl_prim *p, int n, pl_dnnl_arg *args, void *dst);
/* Executes p once with args (the caller's destination: a sum post-op adds whatever it holds,
 * and post-ops that p does not fuse are not applied) and gives its wall time in ns: for
 * choosing between primitives of one problem by measuring them, never for results. */
pl_status pl_dnnl_prim_time(pl_xrun *r, pl_dnnl_prim *p, int n, const pl_dnnl_arg *args, double *ns);

/* Applies xn's post-ops to its output 0 with oneDNN eltwise/binary primitives in the output's
 * layout (a broadcasting Mul/Add whose other operand is larger replaces the output by one of
 * that operand's shape), then marks them done. PL_ERR_UNSUPPORTED (no error set, nothing
 * applied) when one has no such form: the executor then applies them in plain layout. */
pl_status pl_dnnl_post_unfused(pl_xrun *r, const pl_xnode *xn);

/* As pl_xrun_dnnl_out, but computes in place over value `reuse` (a residual this node adds
 * with a sum post-op) when this node is its last reader and it already has layout md: the
 * output then starts with reuse's content and no copy is needed. */
pl_status pl_xrun_dnnl_out_reuse(pl_xrun *r, const pl_xnode *xn, int i, const dnnl_memory_desc_t *md,
                                 pl_dtype dt, int rank, const int64_t *dims, int reuse, void **data);

/* Value v's layout and data (as pl_xrun_dnnl_in, by value index). */
pl_status pl_xrun_dnnl_value(pl_xrun *r, int v, dnnl_memory_desc_t *md, void **data,
                             const pl_tensor **logical);
dnnl_stream_t pl_xrun_stream(pl_xrun *r);
/* The context's table of oneDNN memory objects (dnnl_util.c; NULL until first used), and how
 * the context frees it. */
void **pl_xrun_dnnl_memcache(pl_xrun *r);
/* Makes room for the n memory objects of one execution: call before taking the first of
 * them (the table may start over here, never between two pl_dnnl_memory calls). */
void pl_dnnl_memory_reserve(pl_xrun *r, int n);
/* The context's memory object for argument `arg` of primitive `prim`, over `data` in layout
 * md (kept by the context: the caller does not destroy it). */
pl_status pl_dnnl_memory(pl_xrun *r, const void *prim, int arg, const dnnl_memory_desc_t *md, void *data,
                         dnnl_memory_t *out);
void pl_dnnl_memcache_free(void *cache);

/* Reorders src (layout smd) into dst (layout dmd) on the run's stream. */
pl_status pl_dnnl_reorder(pl_xrun *r, const dnnl_memory_desc_t *smd, void *src,
                          const dnnl_memory_desc_t *dmd, void *dst);
/* Executes a primitive with (arg, md, data) triples; memory objects are created over the
 * given pointers. */
pl_status pl_dnnl_exec(pl_xrun *r, dnnl_primitive_t p, int n, const pl_dnnl_arg *args);

/* Post-ops of xn (eltwise and sum/binary) as oneDNN attributes. `sum_data` receives the value
 * that a SUM post-op adds (the executor must place it into dst before running), or NULL.
 * Returns false when a post-op has no oneDNN form (the tactic then declines the node). */
bool pl_dnnl_post_ops_supported(const pl_xgraph *xg, const pl_xnode *xn);
pl_status pl_dnnl_attr(pl_xrun *r, const pl_xnode *xn, int rank, const int64_t *out_dims,
                       dnnl_primitive_attr_t *attr, int *sum_value, int *n_binary,
                       int *binary_values, int *binary_pos, dnnl_memory_desc_t *binary_mds, bool *own_silu);

/* ---- helpers of the single-primitive tactics (eltwise, binary, norms, concat, ...) ---- */
/* False when value v is known not to be float (a constant or a declared type); true when it
 * is float or not known until run time. */
bool pl_dnnl_maybe_float(const pl_xgraph *xg, int v);
/* A summary of md's layout (data type, format, blocks, strides) for primitive keys that
 * depend on the layouts of inputs other than input 0. */
int64_t pl_dnnl_md_layout(const dnnl_memory_desc_t *md);
/* xn's cached primitive for its current inputs (and input-0 layout in_md; NULL: any), or, when
 * there is none, a fresh entry (key and in_md set, p->prim NULL) that the tactic completes and
 * hands to pl_dnnl_add (or frees on failure). */
pl_status pl_dnnl_lookup(pl_xrun *r, pl_xnode *xn, const dnnl_memory_desc_t *in_md, pl_dnnl_prim **p);
/* A new cache entry for key and input-0 layout (owned by the caller until pl_dnnl_add);
 * NULL with an error set when out of memory. */
pl_dnnl_prim *pl_dnnl_prim_new(const int64_t *key, int key_len, const dnnl_memory_desc_t *in_md);
/* Attributes with the user scratchpad only (post-ops left to the executor). */
pl_status pl_dnnl_plain_attr(dnnl_primitive_attr_t *attr);
/* Creates p->prim from a descriptor with pl_dnnl_plain_attr; on failure p->prim stays NULL
 * and the error is set (PL_ERR_UNSUPPORTED when oneDNN has no implementation). */
pl_status pl_dnnl_prim_create_plain(pl_dnnl_prim *p, const void *op_desc, const char *what);
/* A tactic's answer to a status from building its primitive: PL_ERR_UNSUPPORTED (oneDNN has
 * no implementation, or the case is not mapped) runs the node on the reference instead. */
static inline pl_status pl_dnnl_or_reference(pl_xrun *r, pl_xnode *xn, pl_status st) {
    if (st != PL_ERR_UNSUPPORTED) return st;
    pl_err_clear();
    return pl_tactic_reference.run(r, xn);
}
/* Input i of xn as pl_xrun_dnnl_in, running the node on the reference (and returning from
 * the calling tactic) when oneDNN cannot describe it (a type or rank it lacks). */
#define PL_DNNL_IN_OR_REFERENCE(r, xn, i, md, data, logical)                                       \
    do {                                                                                          \
        pl_status in_st_ = pl_xrun_dnnl_in((r), (xn), (i), (md), (data), (logical));              \
        if (in_st_ != PL_OK) return pl_dnnl_or_reference((r), (xn), in_st_);                     \
    } while (0)
/* Below this many elements a plain element-wise node runs faster on the reference kernel
 * than through a oneDNN primitive (~1 us of memory objects and dispatch per call, measured
 * on chains of Relu and Add at 1 thread); blocked inputs stay on oneDNN, which saves a
 * reorder. */
#define PL_DNNL_MIN_PLAIN_NUMEL 4096

#endif
