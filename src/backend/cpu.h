/* cpu.h - the fast CPU backend: an optimized copy of the main graph (the x-graph), graph
 * passes over it, per-node tactics (oneDNN primitives, plaster's own kernels, or the reference
 * kernels), and an executor that keeps oneDNN's blocked layouts between oneDNN nodes and plans
 * the memory of each input-shape signature in one arena.
 *
 * Value indices of the x-graph are those of the model's main graph (so that reference control
 * flow nodes, whose subgraphs name outer values by index, run unchanged); values the passes
 * create are appended after them. */
#ifndef PL_BACKEND_CPU_H
#define PL_BACKEND_CPU_H

#include "../engine/engine.h"

#include <pthread.h>

#define PL_X_MAX_POST 4

/* An element-wise operation applied to a node's output after its main computation. */
typedef enum pl_post_kind {
    PL_POST_NONE = 0,
    PL_POST_RELU,       /* alpha: negative slope (LeakyRelu), 0 for Relu */
    PL_POST_CLIP,       /* alpha: min, beta: max */
    PL_POST_SIGMOID,
    PL_POST_TANH,
    PL_POST_SILU,       /* x * sigmoid(x) */
    PL_POST_HARDSWISH,  /* x * clip(x/6 + 1/2, 0, 1) (ONNX HardSwish) */
    PL_POST_HARDSIGMOID, /* clip(alpha x + beta, 0, 1) */
    PL_POST_GELU,       /* erf form */
    PL_POST_ELU,        /* alpha */
    PL_POST_SUM,        /* out += value `arg` (same shape): residual Add */
    PL_POST_ADD,        /* out += value `arg` broadcast (numpy) */
    PL_POST_MUL,        /* out *= value `arg` broadcast (numpy) */
} pl_post_kind;

typedef struct pl_post {
    pl_post_kind kind;
    float alpha, beta;
    int arg; /* value index for SUM/ADD/MUL, -1 otherwise */
} pl_post;

const char *pl_post_name(pl_post_kind k);
/* Whether k is an element-wise activation (not NONE and not a SUM/ADD/MUL by another value). */
static inline bool pl_post_is_activation(pl_post_kind k) {
    return k != PL_POST_NONE && k != PL_POST_SUM && k != PL_POST_ADD && k != PL_POST_MUL;
}

struct pl_tactic;

typedef struct pl_xnode {
    const pl_node *node; /* the original node: op, attributes, schema, name (borrowed) */
    int orig_index;      /* its index in the main graph (for hooks and profiles) */
    const char *op;      /* node->op_type */
    int n_in, n_out;
    int *in, *out;       /* value indices; -1 for an omitted input/output */
    int n_outer;
    int *outer;          /* values its subgraphs (If, Loop, Scan) read from the main graph */
    int n_post;
    pl_post post[PL_X_MAX_POST];
    bool dead;           /* removed by a pass */
    const struct pl_tactic *tactic; /* chosen at build */
    void *state;         /* a tactic's per-node state (shared by contexts; see tactic) */
    void (*state_free)(void *state); /* set by whoever created `state` */
    /* plaster's own tactics keep theirs apart from oneDNN's `state` (a node may run either,
     * when tactics are timed or when an own tactic hands a shape to oneDNN); same lock */
    void *own_state;
    void (*own_state_free)(void *state);
    pthread_mutex_t lock; /* guards `state` while a context adds a shape to it */
    double tactic_ns[8]; /* timings measured at build, per candidate (0: not timed) */
} pl_xnode;

typedef struct pl_xgraph {
    const pl_model *model;
    const pl_graph *g;   /* the main graph */
    int n_values;        /* >= g->n_values */
    pl_tensor **consts;  /* per value: constant (borrowed initializer or owned folded), or NULL */
    bool *const_owned;
    int n_nodes, cap_nodes;
    pl_xnode *nodes;     /* in execution order */
    bool no_dnnl;        /* oneDNN tactics are not offered */
    int n_synth;
    pl_node **synth;     /* nodes the passes made (fused patterns), owned */
    int *readers;        /* per value: live readers (pl_xgraph_count_readers) */
    /* what the passes did, one line each, for `plaster info --passes` */
    int n_log;
    char **log;
} pl_xgraph;

/* ---- building (xgraph.c) ---- */
pl_status pl_xgraph_create(const pl_model *m, pl_xgraph **out);
void pl_xgraph_free(pl_xgraph *xg);
/* A node made by a pass (owned by xg): op in the default domain at `opset`, with a copy of
 * the name; attributes are added with pl_xgraph_synth_attr_*. */
pl_status pl_xgraph_synth_node(pl_xgraph *xg, const char *op, const char *name, int64_t opset,
                               pl_node **out);
pl_status pl_xgraph_synth_attr_int(pl_node *n, const char *name, int64_t v);
pl_status pl_xgraph_synth_attr_float(pl_node *n, const char *name, float v);
/* Appends a value (returns its index in *v). */
pl_status pl_xgraph_new_value(pl_xgraph *xg, int *v);
/* Sets value v's constant (owned). */
void pl_xgraph_set_const(pl_xgraph *xg, int v, pl_tensor *t);
void pl_xgraph_log(pl_xgraph *xg, const char *fmt, ...);
/* Recounts the live readers of every value (nodes, post-ops, subgraph outer reads; graph
 * outputs count 1 << 20); call after changing the graph. */
pl_status pl_xgraph_count_readers(pl_xgraph *xg);
static inline int pl_xgraph_readers(const pl_xgraph *xg, int v) { return xg->readers[v]; }
/* A graph output (counted 1 << 20 times among the readers). */
static inline bool pl_xgraph_is_output(const pl_xgraph *xg, int v) { return xg->readers[v] >= 1 << 20; }

/* ---- passes (passes.c): run in order, each logging what it changed ---- */
pl_status pl_passes_run(pl_xgraph *xg);

/* ---- tactics ---- */

typedef struct pl_xrun pl_xrun; /* one run of a context (cpu_exec.c) */

/* A tactic runs one x-node. `accepts` looks at the node statically (attributes, which inputs
 * are constant, declared dtypes) and says whether it may run it; `run` computes the outputs
 * from the inputs, both reached through pl_xrun accessors. Tactics are stateless functions
 * over `xn->state`, which they create lazily under `xn->lock`; several contexts run one node
 * concurrently. */
typedef struct pl_tactic {
    const char *name;
    bool (*accepts)(const pl_xgraph *xg, const pl_xnode *xn);
    pl_status (*run)(pl_xrun *r, pl_xnode *xn);
    bool blocked_io; /* reads and writes oneDNN layouts (see pl_xrun_dnnl_*) */
} pl_tactic;

extern const pl_tactic pl_tactic_reference;
/* All tactics known for an op, best-first by expectation; NULL-terminated. */
int pl_tactics_for(const pl_xgraph *xg, const pl_xnode *xn, const pl_tactic **out, int cap);

/* ---- the engine ---- */
typedef struct pl_cpu_engine {
    pl_xgraph *xg;
    int threads;
    bool dnnl;         /* oneDNN tactics allowed */
    int64_t build_batch; /* batch the tactics were timed at */
    double build_ns;   /* wall time of the build */
} pl_cpu_engine;

typedef struct pl_cpu_build_opts {
    int threads;
    bool time_tactics; /* time every candidate on this machine; else take the first accepted */
    int64_t batch;     /* value bound to symbolic dims while timing (default 1) */
    bool no_dnnl;
    const char *const *forced; /* per x-node tactic names (from a plan); NULL: choose */
    int n_forced;
} pl_cpu_build_opts;

pl_status pl_cpu_engine_build(const pl_model *m, const pl_cpu_build_opts *o, pl_cpu_engine **out);
void pl_cpu_engine_free(pl_cpu_engine *ce);
/* Runs the main graph: inputs bound to g->inputs (initializers included), as
 * pl_exec_graph_hooked does for the reference executor. */
pl_status pl_cpu_run(pl_cpu_engine *ce, void **ctx_state, pl_node_hook hook, void *user,
                     int n_inputs, pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs);
/* The same, into outputs the caller made: outputs[i] non-NULL on entry is a tensor of output
 * i's type and shape that the run writes (where possible the graph computes the value in it
 * directly; a value in a oneDNN layout goes through a buffer the context keeps), NULL is
 * created as pl_cpu_run does. A bound tensor of another type or shape fails the run, naming
 * the output; after a failure bound tensors hold unspecified data. */
pl_status pl_cpu_run_into(pl_cpu_engine *ce, void **ctx_state, pl_node_hook hook, void *user, int n_inputs,
                          pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs);
/* The same; `timing` times every candidate tactic of each node and keeps the fastest. */
pl_status pl_cpu_run_ex(pl_cpu_engine *ce, void **ctx_state, pl_node_hook hook, void *user,
                        bool timing, int n_inputs, pl_tensor *const *inputs, int n_outputs,
                        pl_tensor **outputs);
void pl_cpu_ctx_state_free(void *state);

/* ---- accessors for tactics (cpu_exec.c) ---- */
/* Input i as a plain row-major tensor (reordered from a blocked layout if needed); NULL when
 * omitted. */
pl_status pl_xrun_in(pl_xrun *r, const pl_xnode *xn, int i, const pl_tensor **t);
/* Creates output i with the given shape, in plain layout, in the run's memory. */
pl_status pl_xrun_out(pl_xrun *r, const pl_xnode *xn, int i, pl_dtype dt, int rank,
                      const int64_t *dims, pl_tensor **t);
/* The header of value v as it is (shape and dtype; its data may be in a oneDNN layout), NULL
 * when it has no value in this run. */
const pl_tensor *pl_xrun_logical(const pl_xrun *r, int v);
/* The value of `v` (plain) for post-op arguments. */
pl_status pl_xrun_value(pl_xrun *r, int v, const pl_tensor **t);
/* A tactic that applied xn's post-ops itself says so; otherwise the executor applies them to
 * output 0 in plain layout after the tactic. */
void pl_xrun_post_done(pl_xrun *r);
int pl_xrun_threads(const pl_xrun *r);
/* CLOCK_MONOTONIC in nanoseconds (tactic and algorithm timing). */
double pl_cpu_now_ns(void);
/* SiLU in place over n floats with plaster's AVX-512 kernel (own.c), one thread when serial;
 * available only with AVX-512 and unless PL_OWN_SILU=0. */
bool pl_own_silu_available(void);
void pl_own_silu_inplace(float *d, int64_t n, bool serial);
/* The element-wise post-op po (an activation, not SUM/ADD/MUL) over n floats in place. */
pl_status pl_post_apply_f32(const pl_post *po, float *o, int64_t n);
/* Whether PL_TACTICS_OFF names the tactic called `name` (cpu_engine.c). */
bool pl_tactic_name_off(const char *name);
/* Whether the se pass fuses squeeze-excitation blocks into one node for plaster:se (own_se.c):
 * unless PL_OWN_SE=0 or PL_TACTICS_OFF names plaster:se. */
bool pl_own_se_enabled(void);
/* Whether this thread is running batch slices (docs/ENGINE.md, section 8). */
bool pl_cpu_in_slice(void);
const pl_xgraph *pl_xrun_graph(const pl_xrun *r);
/* Scratch memory `slot` (0..3) of at least `bytes`, owned by the context and kept between runs
 * (valid until the next call for the same slot); NULL when out of memory. */
void *pl_xrun_scratch(pl_xrun *r, int slot, size_t bytes);
/* Largest arena a context has planned, and what the same values would take unshared. */
size_t pl_cpu_ctx_arena_bytes(void *state, size_t *unplanned);
/* Samples per slice of the context's last run, 0 when it ran whole (batch splitting). */
int64_t pl_cpu_ctx_split_chunk(const void *state);
/* Nodes the context's last run did not run: their outputs are fixed by the input shapes and
 * were computed once for that input signature (fixed.c). */
int pl_cpu_ctx_fixed_nodes(const void *state);

#endif
