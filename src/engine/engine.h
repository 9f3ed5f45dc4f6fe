/* engine.h - engines and execution contexts over a model (reference executor for now). */
#ifndef PL_ENGINE_H
#define PL_ENGINE_H

#include "../ops/ops.h"

struct pl_engine {
    const pl_model *model; /* borrowed */
    int threads;
    char backend[32];
};

struct pl_context {
    pl_engine *engine; /* borrowed */
};

struct pl_frame {
    const pl_graph *g;
    pl_tensor **vals; /* per value; borrowed unless owned[i] */
    bool *owned;
    int *uses;        /* remaining reads of each value in this run */
    pl_frame *parent;
};

/* Run graph `g` with inputs bound to g->inputs[0..n_inputs) (borrowed); creates the graph's
 * first n_outputs outputs, owned by the caller. `parent` supplies outer-scope values. */
pl_status pl_exec_graph(const pl_graph *g, pl_frame *parent, int n_inputs,
                        pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs);

#endif
