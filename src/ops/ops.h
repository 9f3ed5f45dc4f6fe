/* ops.h - the reference kernel interface. Each op family file (elementwise.c, conv.c, ...)
 * exports one table `pl_ops_<family>[]` of schemas ending with an all-zero row; registry.c
 * lists the tables. A kernel gets its inputs and attributes, validates them (returning a
 * message that names the input or attribute at fault; the executor adds the node's name),
 * creates its outputs with pl_out() and computes them. Kernels never abort on user input. */
#ifndef PL_OPS_H
#define PL_OPS_H

#include "../ir/ir.h"

typedef struct pl_exec pl_exec;
typedef struct pl_frame pl_frame;

typedef struct pl_kernel_ctx {
    const pl_node *node;
    int64_t opset;           /* version of the node's domain imported by the model */
    int n_in;
    const pl_tensor *const *in; /* borrowed; NULL for an omitted optional input */
    int n_out;
    pl_tensor **out;         /* set by the kernel (pl_out or directly); executor owns them */
    pl_frame *frame;         /* for control-flow ops: the frame running this node */
    /* Optional memory planned for each output (the CPU backend's arena): pl_out() makes
     * output i a view of out_mem[i] when it is set and out_cap[i] bytes suffice. */
    void *const *out_mem;
    const size_t *out_cap;
    /* Optional, for Reshape, Flatten, Squeeze and Unsqueeze: when set, the kernel validates
     * its inputs and stores output 0's shape here instead of creating it (its data is input
     * 0's, unchanged): the CPU backend then reuses input 0's memory where it may. */
    int *view_rank;
    int64_t *view_dims;
} pl_kernel_ctx;

typedef pl_status (*pl_kernel_fn)(pl_kernel_ctx *ctx);

typedef struct pl_op_schema {
    const char *domain; /* "" for ai.onnx */
    const char *name;
    int min_in, max_in;   /* inputs (max -1: variadic) */
    int min_out, max_out; /* outputs */
    pl_kernel_fn run;
} pl_op_schema;

/* Find a kernel; NULL when none. `domain` "" or "ai.onnx" for the default domain. */
const pl_op_schema *pl_op_find(const char *domain, const char *name);

/* ---- helpers for kernels (ops_util.c) ---- */

/* Create output `i` (zero-filled) and store it in ctx->out[i]; *t is borrowed. */
pl_status pl_out(pl_kernel_ctx *ctx, int i, pl_dtype dtype, int rank, const int64_t *dims,
                 pl_tensor **t);
/* Store an already created tensor as output `i` (ownership passes to the executor). */
void pl_out_set(pl_kernel_ctx *ctx, int i, pl_tensor *t);
/* Input `i` or NULL when absent or out of range. */
const pl_tensor *pl_in(const pl_kernel_ctx *ctx, int i);
/* Requires input `i` to be present and a tensor; names it in the error. */
pl_status pl_in_req(const pl_kernel_ctx *ctx, int i, const pl_tensor **t);
/* Numpy broadcasting of two shapes into out (rank, dims); error names both shapes. */
pl_status pl_broadcast(int ra, const int64_t *da, int rb, const int64_t *db, int *rank,
                       int64_t *dims);
/* Strides (in elements) of `src` broadcast to the shape (rank, dims): 0 on broadcast axes. */
void pl_broadcast_strides(const pl_tensor *src, int rank, const int64_t *dims, int64_t *strides);
/* Row-major strides of dims. */
void pl_strides(int rank, const int64_t *dims, int64_t *strides);
/* Normalise a possibly negative axis into [0, rank); error names the attribute. */
pl_status pl_axis(int64_t axis, int rank, const char *what, int *out);
/* Float32 copy of any numeric tensor (cast when needed); the caller destroys *out. */
pl_status pl_as_float(const pl_tensor *t, pl_tensor **out);
/* Int64 values of a 1-D (or scalar) integer tensor into a malloc'ed array. */
pl_status pl_as_int64s(const pl_tensor *t, const char *what, int64_t **out, int64_t *count);

/* Whether a node with inputs in[0..n_in) (-1: an omitted optional input; trailing omitted ones
 * do not count) and n_out outputs fits schema s; the error says how not (without the node's name,
 * which the caller adds). */
pl_status pl_op_check_arity(const pl_op_schema *s, int n_in, const int *in, int n_out);

/* Reads an ints attribute of exactly `count` values >= `min` into out (`dflt` when absent). */
pl_status pl_attr_ints_exact(const pl_node *node, const char *name, int count, int64_t dflt,
                             int64_t min, int64_t *out);
/* Copies `count` elements src[so..] -> dst[dof..] of the same dtype; strings are duplicated. */
pl_status pl_copy_elems(pl_tensor *dst, int64_t dof, const pl_tensor *src, int64_t so,
                        int64_t count);

/* ---- sliding windows (window.c): Conv, ConvTranspose, pooling ---- */
typedef struct pl_window {
    int nd; /* spatial dims */
    int64_t in[PL_MAX_RANK], k[PL_MAX_RANK], out[PL_MAX_RANK];
    int64_t stride[PL_MAX_RANK], dil[PL_MAX_RANK], pad_b[PL_MAX_RANK], pad_e[PL_MAX_RANK];
} pl_window;
/* strides, dilations (default 1) and pads (begin..., end...; default 0) for g->nd dims. */
pl_status pl_window_read_attrs(const pl_node *node, pl_window *g);
/* g->out (and pads under auto_pad SAME_UPPER/SAME_LOWER/VALID) from in, k, stride, dil, pads. */
pl_status pl_window_output(const pl_node *node, pl_window *g, bool ceil_mode);

/* ---- recurrent ops (rnn.c) ---- */
/* Directions of an RNN/GRU/LSTM node's 'direction' attribute: 1 (forward, or reverse with
 * *reverse set), 2 (bidirectional), 0 when the value is none of these. */
int pl_rnn_directions(const pl_node *node, bool *reverse);

/* ---- control flow (engine/exec.c) ---- */

/* Run subgraph `g` of the current node with the given inputs (borrowed); outer-scope values
 * come from the current frame. Creates n_outputs outputs owned by the caller. */
pl_status pl_exec_subgraph(pl_kernel_ctx *ctx, const pl_graph *g, int n_inputs,
                           pl_tensor *const *inputs, int n_outputs, pl_tensor **outputs);

#endif
