/* control.c - reference kernels for control flow: If, Loop (opsets 1/11/13/16) and Scan
 * (opset 8 with a batch axis and sequence_lens; opsets 9+ with per-input axes and directions).
 * Subgraphs run through pl_exec_subgraph, which binds their inputs in order (borrowed) and
 * returns new outputs the kernel owns. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

/* A Loop with no trip count runs while its body says so; past this many iterations it is
 * refused rather than left to run (practically) forever. */
#define LOOP_MAX_UNBOUNDED_ITERS ((int64_t)1 << 31)
#define MAX_VARIADIC 256

/* ---- helpers ---- */

/* The graph attribute `name` of the node; an error naming it when missing. */
static pl_status graph_attr(const pl_kernel_ctx *ctx, const char *name, const pl_graph **g) {
    const pl_attr *a = pl_node_attr(ctx->node, name);
    if (!a || a->type != PL_ATTR_GRAPH || !a->g)
        return pl_err(PL_ERR_INVALID, "attribute '%s' (graph) is required", name);
    *g = a->g;
    return PL_OK;
}

/* Truth of a 1-element bool (or numeric) tensor; `what` names it in errors. */
static pl_status truth(const pl_tensor *t, const char *what, int *out) {
    if (!t || t->kind != PL_KIND_TENSOR)
        return pl_err(PL_ERR_INVALID, "%s must be a tensor", what);
    if (t->numel != 1)
        return pl_err(PL_ERR_INVALID, "%s must hold exactly one element, holds %lld", what,
                      (long long)t->numel);
    if (t->dtype == PL_DT_STRING)
        return pl_err(PL_ERR_INVALID, "%s must be bool, not string", what);
    *out = pl_get_f64(t, 0) != 0;
    return PL_OK;
}

static void destroy_all(pl_tensor **t, int n) {
    for (int i = 0; i < n; i++) {
        pl_tensor_destroy(t[i]);
        t[i] = NULL;
    }
}

/* Product of dims[from..to). */
static int64_t dims_prod(const int64_t *dims, int from, int to) {
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= dims[i];
    return n;
}

/* Slice `index` of x along `axis`, without that axis (a new tensor). */
static pl_status slice_axis(const pl_tensor *x, int axis, int64_t index, pl_tensor **out) {
    int64_t dims[PL_MAX_RANK];
    int rank = 0;
    for (int d = 0; d < x->rank; d++)
        if (d != axis) dims[rank++] = x->dims[d];
    PL_TRY(pl_tensor_create(x->dtype, rank, dims, out));
    int64_t outer = dims_prod(x->dims, 0, axis), inner = dims_prod(x->dims, axis + 1, x->rank);
    for (int64_t o = 0; o < outer; o++) {
        pl_status st = pl_copy_elems(*out, o * inner, x, (o * x->dims[axis] + index) * inner, inner);
        if (st != PL_OK) {
            pl_tensor_destroy(*out);
            *out = NULL;
            return st;
        }
    }
    return PL_OK;
}

/* Writes `part` (dst's shape without `axis`) at position `index` along dst's `axis`. */
static pl_status place_axis(pl_tensor *dst, int axis, int64_t index, const pl_tensor *part) {
    int64_t outer = dims_prod(dst->dims, 0, axis), inner = dims_prod(dst->dims, axis + 1, dst->rank);
    for (int64_t o = 0; o < outer; o++)
        PL_TRY(pl_copy_elems(dst, (o * dst->dims[axis] + index) * inner, part, o * inner, inner));
    return PL_OK;
}

/* Checks that `part` fits as one slice of a stacked output built from `first`. */
static pl_status same_slice(const pl_tensor *first, const pl_tensor *part, int k, int64_t it) {
    if (part->kind != PL_KIND_TENSOR)
        return pl_err(PL_ERR_INVALID, "scan output %d of iteration %lld must be a tensor", k,
                      (long long)it);
    if (part->dtype != first->dtype || part->rank != first->rank ||
        memcmp(part->dims, first->dims, (size_t)part->rank * sizeof *part->dims)) {
        char a[256], b[256];
        return pl_err(PL_ERR_INVALID, "scan output %d: iteration %lld gives %s %s, iteration 0 gave %s %s",
                      k, (long long)it, pl_dtype_name(part->dtype),
                      pl_dims_str(part->rank, part->dims, a, sizeof a), pl_dtype_name(first->dtype),
                      pl_dims_str(first->rank, first->dims, b, sizeof b));
    }
    return PL_OK;
}

/* Creates a tensor for `n` slices (all shaped like parts[0]) stacked along `axis`, placing
 * slice t at position reverse ? n-1-t : t. With n == 0, the shape and type come from the
 * body output's declared info (unknown dims taken as 0). */
static pl_status stack_parts(pl_tensor *const *parts, int64_t n, int axis, int reverse,
                             const pl_value_info *info, int k, pl_tensor **out) {
    *out = NULL;
    int64_t dims[PL_MAX_RANK];
    int rank;
    pl_dtype dt;
    if (n > 0) {
        rank = parts[0]->rank + 1;
        dt = parts[0]->dtype;
        for (int d = 0, j = 0; d < rank; d++) dims[d] = d == axis ? n : parts[0]->dims[j++];
    } else {
        rank = info->rank >= 0 && info->rank < PL_MAX_RANK ? info->rank + 1 : 1;
        dt = info->dtype != PL_DT_UNDEFINED ? info->dtype : PL_DT_FLOAT;
        if (axis >= rank) axis = 0;
        for (int d = 0, j = 0; d < rank; d++) {
            if (d == axis) dims[d] = 0;
            else dims[d] = info->dims[j] > 0 ? info->dims[j] : 0, j++;
        }
    }
    if (rank > PL_MAX_RANK) return pl_err(PL_ERR_INVALID, "scan output %d: rank %d is too large", k, rank);
    if (axis < 0 || axis >= rank)
        return pl_err(PL_ERR_INVALID, "scan output %d: axis %d is out of range for rank %d", k, axis, rank);
    int64_t numel;
    if (!pl_dims_numel(rank, dims, &numel))
        return pl_err(PL_ERR_NOMEM, "scan output %d: %lld slices overflow the tensor size", k,
                      (long long)n);
    PL_TRY(pl_tensor_create(dt, rank, dims, out));
    for (int64_t t = 0; t < n; t++) {
        pl_status st = place_axis(*out, axis, reverse ? n - 1 - t : t, parts[t]);
        if (st != PL_OK) {
            pl_tensor_destroy(*out);
            *out = NULL;
            return st;
        }
    }
    return PL_OK;
}

/* ---- If ---- */

static pl_status op_if(pl_kernel_ctx *ctx) {
    int c;
    PL_TRY(truth(pl_in(ctx, 0), "input 0 'cond'", &c));
    const pl_graph *g = NULL;
    PL_TRY(graph_attr(ctx, c ? "then_branch" : "else_branch", &g));
    if (g->n_inputs != 0)
        return pl_err(PL_ERR_INVALID, "attribute '%s' must take no inputs, takes %d",
                      c ? "then_branch" : "else_branch", g->n_inputs);
    if (g->n_outputs != ctx->n_out)
        return pl_err(PL_ERR_INVALID, "attribute '%s' gives %d outputs, the node has %d",
                      c ? "then_branch" : "else_branch", g->n_outputs, ctx->n_out);
    if (ctx->n_out > MAX_VARIADIC) return pl_err(PL_ERR_UNSUPPORTED, "more than %d outputs", MAX_VARIADIC);
    pl_tensor *res[MAX_VARIADIC];
    PL_TRY(pl_exec_subgraph(ctx, g, 0, NULL, ctx->n_out, res));
    for (int i = 0; i < ctx->n_out; i++) pl_out_set(ctx, i, res[i]);
    return PL_OK;
}

/* ---- Loop ---- */

/* Growing per-output lists of the scan slices produced by each iteration. */
typedef struct scan_lists {
    int k;
    int64_t n, cap;
    pl_tensor **items; /* k * cap, column t of row j is items[j * cap + t] */
} scan_lists;

static void scan_lists_free(scan_lists *s) {
    for (int j = 0; j < s->k; j++)
        for (int64_t t = 0; t < s->n; t++) pl_tensor_destroy(s->items[j * s->cap + t]);
    free(s->items);
    s->items = NULL;
}

/* Appends one iteration's slices (ownership passes, even on failure). */
static pl_status scan_lists_push(scan_lists *s, pl_tensor **parts) {
    pl_status st = PL_OK;
    if (s->k > 0 && s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 16, bytes;
        if (!pl_mul_size(cap, (int64_t)s->k * (int64_t)sizeof(pl_tensor *), &bytes) ||
            (uint64_t)bytes > SIZE_MAX / 2)
            st = pl_err(PL_ERR_NOMEM, "too many loop iterations to store scan outputs");
        pl_tensor **n = st == PL_OK ? calloc(1, (size_t)bytes) : NULL;
        if (st == PL_OK && !n) st = pl_err(PL_ERR_NOMEM, "out of memory");
        if (st == PL_OK) {
            for (int j = 0; j < s->k; j++)
                for (int64_t t = 0; t < s->n; t++) n[j * cap + t] = s->items[j * s->cap + t];
            free(s->items);
            s->items = n;
            s->cap = cap;
        }
    }
    for (int j = 0; j < s->k; j++) {
        if (st == PL_OK && s->n > 0) st = same_slice(s->items[j * s->cap], parts[j], j, s->n);
        if (st == PL_OK && parts[j]->kind != PL_KIND_TENSOR)
            st = pl_err(PL_ERR_INVALID, "scan output %d must be a tensor", j);
    }
    if (st != PL_OK) {
        destroy_all(parts, s->k);
        return st;
    }
    for (int j = 0; j < s->k; j++) s->items[j * s->cap + s->n] = parts[j];
    s->n++;
    return PL_OK;
}

/* Stacks the collected slices along a new axis 0 (forward) into outputs first..first+k-1. */
static pl_status scan_lists_emit(pl_kernel_ctx *ctx, const pl_graph *body, int body_first,
                                 scan_lists *s, int first, int axis_of_out, int reverse) {
    for (int j = 0; j < s->k; j++) {
        pl_tensor *o;
        const pl_value_info *info = &body->values[body->outputs[body_first + j]].info;
        PL_TRY(stack_parts(s->items + j * s->cap, s->n, axis_of_out, reverse, info, j, &o));
        pl_out_set(ctx, first + j, o);
    }
    return PL_OK;
}

/* Reads Loop's optional trip count into *max (-1 when absent) and the initial condition. */
static pl_status loop_limits(const pl_kernel_ctx *ctx, int64_t *max, int *cond) {
    const pl_tensor *m = pl_in(ctx, 0), *c = pl_in(ctx, 1);
    *max = -1;
    *cond = 1;
    if (m) {
        if (m->kind != PL_KIND_TENSOR || !pl_dtype_is_int(m->dtype) || m->numel != 1)
            return pl_err(PL_ERR_INVALID, "input 0 'M' (trip count) must be one integer");
        int64_t v = pl_get_i64(m, 0);
        if (m->dtype == PL_DT_UINT64 && ((const uint64_t *)m->data)[0] > (uint64_t)INT64_MAX)
            return pl_err(PL_ERR_INVALID, "input 0 'M' (trip count) overflows int64");
        *max = v < 0 ? 0 : v; /* a negative trip count runs no iteration */
    }
    if (c) PL_TRY(truth(c, "input 1 'cond'", cond));
    return PL_OK;
}

/* One Loop iteration: runs the body, replaces the carried values and stores scan slices. */
static pl_status loop_step(pl_kernel_ctx *ctx, const pl_graph *body, int n_carried, pl_tensor **args,
                           pl_tensor **carried, scan_lists *scans, int *cond) {
    int n_res = 1 + n_carried + scans->k;
    pl_tensor *res[MAX_VARIADIC * 2 + 1];
    for (int i = 0; i < n_carried; i++) args[2 + i] = carried[i];
    PL_TRY(pl_exec_subgraph(ctx, body, 2 + n_carried, args, n_res, res));
    pl_status st = truth(res[0], "body output 0 'cond'", cond);
    if (st != PL_OK) {
        destroy_all(res, n_res);
        return st;
    }
    pl_tensor_destroy(res[0]);
    for (int i = 0; i < n_carried; i++) {
        pl_tensor_destroy(carried[i]);
        carried[i] = res[1 + i];
    }
    return scan_lists_push(scans, res + 1 + n_carried);
}

static pl_status op_loop(pl_kernel_ctx *ctx) {
    const pl_graph *body = NULL;
    PL_TRY(graph_attr(ctx, "body", &body));
    int n_carried = ctx->n_in - 2, n_scan = ctx->n_out - n_carried;
    if (n_carried < 0 || n_scan < 0)
        return pl_err(PL_ERR_INVALID, "has %d inputs and %d outputs: needs M, cond and at most as many loop-carried inputs as outputs",
                      ctx->n_in, ctx->n_out);
    if (n_carried > MAX_VARIADIC || n_scan > MAX_VARIADIC)
        return pl_err(PL_ERR_UNSUPPORTED, "more than %d loop-carried or scan values", MAX_VARIADIC);
    if (body->n_inputs != 2 + n_carried || body->n_outputs != 1 + n_carried + n_scan)
        return pl_err(PL_ERR_INVALID, "attribute 'body' takes %d inputs and gives %d outputs; needs %d and %d",
                      body->n_inputs, body->n_outputs, 2 + n_carried, 1 + n_carried + n_scan);
    int64_t max;
    int cond;
    PL_TRY(loop_limits(ctx, &max, &cond));
    pl_tensor *carried[MAX_VARIADIC] = {0}, *args[MAX_VARIADIC + 2] = {0};
    scan_lists scans = {.k = n_scan};
    pl_status st = PL_OK;
    for (int i = 0; i < n_carried && st == PL_OK; i++) {
        const pl_tensor *v = pl_in(ctx, 2 + i);
        st = v ? pl_tensor_clone(v, &carried[i]) : pl_tensor_none(&carried[i]);
    }
    int64_t zero = 0;
    if (st == PL_OK) st = pl_tensor_create(PL_DT_INT64, 0, &zero, &args[0]);
    if (st == PL_OK) st = pl_tensor_create(PL_DT_BOOL, 0, &zero, &args[1]);
    for (int64_t it = 0; st == PL_OK && cond && (max < 0 || it < max); it++) {
        if (max < 0 && it >= LOOP_MAX_UNBOUNDED_ITERS) {
            st = pl_err(PL_ERR_INVALID, "no trip count and the condition is still true after %lld iterations",
                        (long long)it);
            break;
        }
        ((int64_t *)args[0]->data)[0] = it;
        ((uint8_t *)args[1]->data)[0] = 1;
        st = loop_step(ctx, body, n_carried, args, carried, &scans, &cond);
    }
    if (st == PL_OK) st = scan_lists_emit(ctx, body, 1 + n_carried, &scans, n_carried, 0, 0);
    if (st == PL_OK)
        for (int i = 0; i < n_carried; i++) {
            pl_out_set(ctx, i, carried[i]);
            carried[i] = NULL;
        }
    destroy_all(carried, n_carried);
    pl_tensor_destroy(args[0]);
    pl_tensor_destroy(args[1]);
    scan_lists_free(&scans);
    return st;
}

/* ---- Scan ---- */

typedef struct scan_spec {
    int n_state, n_in, n_out;      /* loop states, scan inputs, scan outputs */
    int in_axis[MAX_VARIADIC];
    int in_rev[MAX_VARIADIC];
    int out_axis[MAX_VARIADIC];
    int out_rev[MAX_VARIADIC];
} scan_spec;

/* Runs `len` iterations of the Scan body. states[] and xs[] are borrowed; out_states gets new
 * final states, out_scans new scan outputs of length `len` along their axes. */
static pl_status scan_core(pl_kernel_ctx *ctx, const pl_graph *body, const scan_spec *sp,
                           const pl_tensor *const *states, const pl_tensor *const *xs, int64_t len,
                           pl_tensor **out_states, pl_tensor **out_scans) {
    int n_args = sp->n_state + sp->n_in, n_res = sp->n_state + sp->n_out;
    pl_tensor *args[MAX_VARIADIC * 2] = {0}, *res[MAX_VARIADIC * 2] = {0};
    pl_tensor *cur[MAX_VARIADIC] = {0};
    scan_lists parts = {.k = sp->n_out};
    pl_status st = PL_OK;
    for (int64_t t = 0; t < len && st == PL_OK; t++) {
        for (int i = 0; i < sp->n_state; i++) args[i] = cur[i] ? cur[i] : (pl_tensor *)states[i];
        for (int j = 0; j < sp->n_in && st == PL_OK; j++)
            st = slice_axis(xs[j], sp->in_axis[j], sp->in_rev[j] ? len - 1 - t : t, &args[sp->n_state + j]);
        if (st == PL_OK) st = pl_exec_subgraph(ctx, body, n_args, args, n_res, res);
        destroy_all(args + sp->n_state, sp->n_in);
        if (st != PL_OK) break;
        for (int i = 0; i < sp->n_state; i++) {
            pl_tensor_destroy(cur[i]);
            cur[i] = res[i];
        }
        st = scan_lists_push(&parts, res + sp->n_state);
    }
    for (int i = 0; i < sp->n_state && st == PL_OK; i++)
        if (!cur[i]) st = pl_tensor_clone(states[i], &cur[i]);
    for (int k = 0; k < sp->n_out && st == PL_OK; k++) {
        const pl_value_info *info = &body->values[body->outputs[sp->n_state + k]].info;
        int axis = sp->out_axis[k];
        if (len > 0) {
            int rank = parts.items[k * parts.cap]->rank + 1;
            if (axis < -rank || axis >= rank)
                st = pl_err(PL_ERR_INVALID, "attribute 'scan_output_axes' value %d is out of range for rank %d",
                            axis, rank);
            if (axis < 0) axis += rank;
        } else if (axis < 0) {
            axis = 0;
        }
        if (st == PL_OK)
            st = stack_parts(parts.items + k * parts.cap, len, axis, sp->out_rev[k], info, k, &out_scans[k]);
    }
    if (st == PL_OK)
        for (int i = 0; i < sp->n_state; i++) {
            out_states[i] = cur[i];
            cur[i] = NULL;
        }
    else
        destroy_all(out_scans, sp->n_out);
    destroy_all(cur, sp->n_state);
    scan_lists_free(&parts);
    return st;
}

/* Reads an optional ints attribute of `n` values (default `dflt` each) into out. */
static pl_status ints_attr(const pl_kernel_ctx *ctx, const char *name, int n, int dflt, int *out) {
    int count = 0;
    const int64_t *v = pl_attr_ints(ctx->node, name, &count);
    if (v && count != n)
        return pl_err(PL_ERR_INVALID, "attribute '%s' has %d values, needs %d", name, count, n);
    for (int i = 0; i < n; i++) {
        int64_t x = v ? v[i] : dflt;
        if (x < -PL_MAX_RANK - 1 || x > PL_MAX_RANK)
            return pl_err(PL_ERR_INVALID, "attribute '%s' value %lld is out of range", name, (long long)x);
        out[i] = (int)x;
    }
    return PL_OK;
}

/* Common Scan checks: counts, the body's arity, the direction attributes. */
static pl_status scan_setup(const pl_kernel_ctx *ctx, int first_in, const pl_graph **body,
                            scan_spec *sp) {
    PL_TRY(graph_attr(ctx, "body", body));
    int64_t m = pl_attr_int(ctx->node, "num_scan_inputs", -1);
    int n_inputs = ctx->n_in - first_in;
    if (m < 1 || m > n_inputs)
        return pl_err(PL_ERR_INVALID, "attribute 'num_scan_inputs' %lld must be in 1..%d", (long long)m,
                      n_inputs);
    sp->n_in = (int)m;
    sp->n_state = n_inputs - sp->n_in;
    sp->n_out = ctx->n_out - sp->n_state;
    if (sp->n_out < 0)
        return pl_err(PL_ERR_INVALID, "has %d state inputs but only %d outputs", sp->n_state, ctx->n_out);
    if (sp->n_state > MAX_VARIADIC || sp->n_in > MAX_VARIADIC || sp->n_out > MAX_VARIADIC)
        return pl_err(PL_ERR_UNSUPPORTED, "more than %d state, scan input or scan output values", MAX_VARIADIC);
    if ((*body)->n_inputs != sp->n_state + sp->n_in || (*body)->n_outputs != sp->n_state + sp->n_out)
        return pl_err(PL_ERR_INVALID, "attribute 'body' takes %d inputs and gives %d outputs; needs %d and %d",
                      (*body)->n_inputs, (*body)->n_outputs, sp->n_state + sp->n_in, sp->n_state + sp->n_out);
    for (int i = first_in; i < ctx->n_in; i++) {
        const pl_tensor *t;
        PL_TRY(pl_in_req(ctx, i, &t));
    }
    return PL_OK;
}

/* Scan opset 9+: no batch axis; per-input axes and directions. */
static pl_status scan_v9(pl_kernel_ctx *ctx) {
    const pl_graph *body = NULL;
    scan_spec sp;
    PL_TRY(scan_setup(ctx, 0, &body, &sp));
    PL_TRY(ints_attr(ctx, "scan_input_axes", sp.n_in, 0, sp.in_axis));
    PL_TRY(ints_attr(ctx, "scan_input_directions", sp.n_in, 0, sp.in_rev));
    PL_TRY(ints_attr(ctx, "scan_output_axes", sp.n_out, 0, sp.out_axis));
    PL_TRY(ints_attr(ctx, "scan_output_directions", sp.n_out, 0, sp.out_rev));
    const pl_tensor *const *xs = ctx->in + sp.n_state;
    int64_t len = -1;
    for (int j = 0; j < sp.n_in; j++) {
        if (xs[j]->rank < 1) return pl_err(PL_ERR_INVALID, "scan input %d must have rank >= 1", j);
        PL_TRY(pl_axis(sp.in_axis[j], xs[j]->rank, "attribute 'scan_input_axes' value", &sp.in_axis[j]));
        int64_t l = xs[j]->dims[sp.in_axis[j]];
        if (len >= 0 && l != len)
            return pl_err(PL_ERR_INVALID, "scan input %d has %lld steps along its axis, scan input 0 has %lld",
                          j, (long long)l, (long long)len);
        len = l;
    }
    pl_tensor *states[MAX_VARIADIC] = {0}, *scans[MAX_VARIADIC] = {0};
    PL_TRY(scan_core(ctx, body, &sp, ctx->in, xs, len, states, scans));
    for (int i = 0; i < sp.n_state; i++) pl_out_set(ctx, i, states[i]);
    for (int k = 0; k < sp.n_out; k++) pl_out_set(ctx, sp.n_state + k, scans[k]);
    return PL_OK;
}

/* Batch entry b of x (dims[1..]) as a borrowed view. */
static pl_status batch_view(const pl_tensor *x, int64_t b, pl_tensor **out) {
    int64_t inner = dims_prod(x->dims, 1, x->rank);
    size_t es = x->dtype == PL_DT_STRING ? sizeof(char *) : pl_dtype_size(x->dtype);
    return pl_tensor_view(x->dtype, x->rank - 1, x->dims + 1,
                          (char *)x->data + (size_t)(b * inner) * es, out);
}

/* Copies a per-batch result into batch entry b of the output `i` (created on first use with
 * dims [batch, (max_len,) part dims...]). */
static pl_status batch_store(pl_kernel_ctx *ctx, int i, int64_t batch, int64_t max_len,
                             const pl_tensor *part, int64_t b) {
    if (part->kind != PL_KIND_TENSOR) return pl_err(PL_ERR_INVALID, "output %d must be a tensor", i);
    pl_tensor *o = ctx->out[i];
    int64_t dims[PL_MAX_RANK];
    if (!o) {
        int r = 0;
        dims[r++] = batch;
        if (max_len >= 0) dims[r++] = max_len;
        int skip = max_len >= 0; /* scan outputs carry their own length as dim 0 */
        if (part->rank + 1 > PL_MAX_RANK) return pl_err(PL_ERR_INVALID, "output %d rank is too large", i);
        for (int d = skip; d < part->rank; d++) dims[r++] = part->dims[d];
        PL_TRY(pl_out(ctx, i, part->dtype, r, dims, &o));
    }
    int skip = max_len >= 0;
    if (o->dtype != part->dtype || o->rank != part->rank + 1 ||
        memcmp(o->dims + 1 + skip, part->dims + skip, (size_t)(part->rank - skip) * sizeof *dims))
        return pl_err(PL_ERR_INVALID, "output %d: batch %lld gives a different type or shape than batch 0",
                      i, (long long)b);
    int64_t stride = dims_prod(o->dims, 1, o->rank);
    return pl_copy_elems(o, b * stride, part, 0, part->numel);
}

/* An output of a Scan-8 with batch size 0: [0, state dims...] or [0, max_len, slice dims...]. */
static pl_status empty_batch_output(pl_kernel_ctx *ctx, const pl_graph *body, int i, int n_state,
                                    const pl_tensor *const *states, int64_t max_len) {
    pl_tensor *o;
    if (i < n_state) return pl_out(ctx, i, states[i]->dtype, states[i]->rank, states[i]->dims, &o);
    const pl_value_info *info = &body->values[body->outputs[i]].info;
    int64_t dims[PL_MAX_RANK] = {0, max_len};
    int rank = 2;
    for (int d = 0; d < info->rank && rank < PL_MAX_RANK; d++)
        dims[rank++] = info->dims[d] > 0 ? info->dims[d] : 0;
    return pl_out(ctx, i, info->dtype != PL_DT_UNDEFINED ? info->dtype : PL_DT_FLOAT, rank, dims, &o);
}

/* Scan opset 8: inputs [sequence_lens], states [batch, ...], scan inputs [batch, seq, ...]. */
static pl_status scan_v8(pl_kernel_ctx *ctx) {
    const pl_graph *body = NULL;
    scan_spec sp;
    PL_TRY(scan_setup(ctx, 1, &body, &sp));
    PL_TRY(ints_attr(ctx, "directions", sp.n_in, 0, sp.in_rev));
    for (int j = 0; j < sp.n_in; j++) sp.in_axis[j] = 0;
    for (int k = 0; k < sp.n_out; k++) sp.out_axis[k] = 0, sp.out_rev[k] = 0;
    const pl_tensor *const *states = ctx->in + 1, *const *xs = ctx->in + 1 + sp.n_state;
    int64_t batch = xs[0]->rank >= 2 ? xs[0]->dims[0] : -1, max_len = -1;
    for (int j = 0; j < sp.n_in; j++) {
        if (xs[j]->rank < 2 || xs[j]->dims[0] != batch || (max_len >= 0 && xs[j]->dims[1] != max_len))
            return pl_err(PL_ERR_INVALID, "scan input %d must be [batch, sequence, ...] like scan input 0", j);
        max_len = xs[j]->dims[1];
    }
    for (int i = 0; i < sp.n_state; i++)
        if (states[i]->rank < 1 || states[i]->dims[0] != batch)
            return pl_err(PL_ERR_INVALID, "state input %d must have the batch size %lld as dim 0", i,
                          (long long)batch);
    const pl_tensor *lens = pl_in(ctx, 0);
    if (lens && (lens->kind != PL_KIND_TENSOR || !pl_dtype_is_int(lens->dtype) || lens->numel != batch))
        return pl_err(PL_ERR_INVALID, "input 0 'sequence_lens' must hold %lld integers", (long long)batch);
    pl_status st = PL_OK;
    for (int64_t b = 0; b < batch && st == PL_OK; b++) {
        int64_t len = lens ? pl_get_i64(lens, b) : max_len;
        if (len < 0 || len > max_len)
            return pl_err(PL_ERR_INVALID, "input 0 'sequence_lens'[%lld] = %lld is outside 0..%lld",
                          (long long)b, (long long)len, (long long)max_len);
        pl_tensor *sv[MAX_VARIADIC] = {0}, *xv[MAX_VARIADIC] = {0};
        pl_tensor *os[MAX_VARIADIC] = {0}, *ox[MAX_VARIADIC] = {0};
        for (int i = 0; i < sp.n_state && st == PL_OK; i++) st = batch_view(states[i], b, &sv[i]);
        for (int j = 0; j < sp.n_in && st == PL_OK; j++) st = batch_view(xs[j], b, &xv[j]);
        if (st == PL_OK)
            st = scan_core(ctx, body, &sp, (const pl_tensor *const *)sv, (const pl_tensor *const *)xv,
                           len, os, ox);
        for (int i = 0; i < sp.n_state && st == PL_OK; i++) st = batch_store(ctx, i, batch, -1, os[i], b);
        for (int k = 0; k < sp.n_out && st == PL_OK; k++)
            st = batch_store(ctx, sp.n_state + k, batch, max_len, ox[k], b);
        destroy_all(sv, sp.n_state);
        destroy_all(xv, sp.n_in);
        destroy_all(os, sp.n_state);
        destroy_all(ox, sp.n_out);
    }
    for (int i = 0; i < ctx->n_out && st == PL_OK; i++) /* batch 0: empty outputs */
        if (!ctx->out[i]) st = empty_batch_output(ctx, body, i, sp.n_state, states, max_len);
    return st;
}

static pl_status op_scan(pl_kernel_ctx *ctx) {
    return ctx->opset < 9 ? scan_v8(ctx) : scan_v9(ctx);
}

const pl_op_schema pl_ops_control[] = {
    {"", "If", 1, 1, 1, -1, op_if},
    {"", "Loop", 2, -1, 1, -1, op_loop},
    {"", "Scan", 1, -1, 1, -1, op_scan},
    {0},
};
