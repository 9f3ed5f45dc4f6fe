/* engine.h - engines and execution contexts over a model (reference executor for now). */
#ifndef PL_ENGINE_H
#define PL_ENGINE_H

#include "../ops/ops.h"

struct pl_cpu_engine;

struct pl_engine {
    const pl_model *model; /* borrowed */
    int threads;
    char backend[32];
    struct pl_cpu_engine *cpu; /* the cpu backend's engine, NULL for the reference */
};

/* Called after each top-level node runs (not for nodes inside If/Loop/Scan bodies, whose time
 * is counted in their parent node): its inputs, outputs and wall time in nanoseconds. */
typedef void (*pl_node_hook)(void *user, int node_index, const pl_node *node,
                             const pl_tensor *const *inputs, pl_tensor *const *outputs, double ns);

struct pl_context {
    pl_engine *engine; /* borrowed */
    pl_node_hook hook; /* NULL: none */
    void *hook_user;
    void *cpu_state; /* the cpu backend's per-context state (arena plans, scratch) */
};

struct pl_frame {
    const pl_graph *g;
    pl_node_hook hook; /* only set on the top-level frame */
    void *hook_user;
    pl_tensor **vals; /* per value; borrowed unless owned[i] */
    bool *owned;
    int *uses;        /* remaining reads of each value in this run */
    pl_frame *parent;
};

/* Run graph `g` with inputs bound to g->inputs[0..n_inputs) (borrowed); creates the graph's
 * first n_outputs outputs, owned by the caller. `parent` supplies outer-scope values. */
pl_status pl_exec_graph(const pl_graph *g, pl_frame *parent, int n_inputs,
                        pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs);
/* The same with a per-node hook (NULL for none) on the graph's own nodes. */
pl_status pl_exec_graph_hooked(const pl_graph *g, pl_frame *parent, pl_node_hook hook, void *user,
                               int n_inputs, pl_tensor *const *inputs, int n_outputs,
                               pl_tensor **outputs);

#endif
