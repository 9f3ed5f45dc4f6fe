/* sequence.c - reference kernels for ONNX sequences and optionals: SequenceConstruct,
 * SequenceEmpty, SequenceInsert, SequenceAt, SequenceErase, SequenceLength, SplitToSequence,
 * ConcatFromSequence, SequenceMap, Optional, OptionalHasElement, OptionalGetElement.
 * A sequence is a pl_tensor of kind PL_KIND_SEQUENCE owning its items; an empty optional is
 * kind PL_KIND_NONE. Kernels never modify their inputs: they build new sequences of clones. */
#include "ops.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Requires input i to be a sequence. */
static pl_status seq_in(const pl_kernel_ctx *ctx, int i, const pl_tensor **s) {
    *s = pl_in(ctx, i);
    if (!*s) return pl_err(PL_ERR_INVALID, "input %d (sequence) is required but missing", i);
    if ((*s)->kind != PL_KIND_SEQUENCE)
        return pl_err(PL_ERR_INVALID, "input %d must be a sequence, not a %s", i,
                      (*s)->kind == PL_KIND_NONE ? "empty optional" : "tensor");
    return PL_OK;
}

/* Element dtype of a sequence: its first item's, or the remembered one when empty. */
static pl_dtype seq_dtype(const pl_tensor *s) {
    return s->seq_len > 0 ? s->seq[0]->dtype : s->seq_elem_dtype;
}

/* A new empty sequence of element type `dt`. */
static pl_status seq_empty(pl_dtype dt, pl_tensor **out) {
    PL_TRY(pl_tensor_seq_create(0, NULL, out));
    (*out)->seq_elem_dtype = dt;
    return PL_OK;
}

/* Appends `item` (ownership passes, even on failure) to sequence `s`. */
static pl_status seq_push(pl_tensor *s, pl_tensor *item) {
    pl_tensor **n = realloc(s->seq, (size_t)(s->seq_len + 1) * sizeof *n);
    if (!n) {
        pl_tensor_destroy(item);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    s->seq = n;
    s->seq[s->seq_len++] = item;
    if (s->seq_len == 1 && item->kind == PL_KIND_TENSOR) s->seq_elem_dtype = item->dtype;
    return PL_OK;
}

/* Reads a scalar (or 1-element) integer position from input i; *present = 0 when omitted. */
static pl_status position_in(const pl_kernel_ctx *ctx, int i, int64_t *pos, int *present) {
    const pl_tensor *p = pl_in(ctx, i);
    *present = 0;
    if (!p) return PL_OK;
    if (p->kind != PL_KIND_TENSOR || !pl_dtype_is_int(p->dtype) || p->numel != 1)
        return pl_err(PL_ERR_INVALID, "input %d 'position' must be one integer", i);
    *pos = pl_get_i64(p, 0);
    *present = 1;
    return PL_OK;
}

/* Product of dims[from..to). */
static int64_t dims_prod(const int64_t *dims, int from, int to) {
    int64_t n = 1;
    for (int i = from; i < to; i++) n *= dims[i];
    return n;
}

/* ---- SequenceConstruct / SequenceEmpty / SequenceLength ---- */

static pl_status op_sequence_construct(pl_kernel_ctx *ctx) {
    const pl_tensor *first;
    PL_TRY(pl_in_req(ctx, 0, &first));
    pl_tensor *s;
    PL_TRY(seq_empty(first->dtype, &s));
    for (int i = 0; i < ctx->n_in; i++) {
        const pl_tensor *t;
        pl_status st = pl_in_req(ctx, i, &t);
        if (st == PL_OK && t->dtype != first->dtype)
            st = pl_err(PL_ERR_INVALID, "input %d is %s but input 0 is %s: sequence items share one type",
                        i, pl_dtype_name(t->dtype), pl_dtype_name(first->dtype));
        pl_tensor *c = NULL;
        if (st == PL_OK) st = pl_tensor_clone(t, &c);
        if (st == PL_OK) st = seq_push(s, c);
        if (st != PL_OK) {
            pl_tensor_destroy(s);
            return st;
        }
    }
    pl_out_set(ctx, 0, s);
    return PL_OK;
}

static pl_status op_sequence_empty(pl_kernel_ctx *ctx) {
    int64_t dt = pl_attr_int(ctx->node, "dtype", PL_DT_FLOAT);
    if (!pl_dtype_valid((int)dt))
        return pl_err(PL_ERR_INVALID, "attribute 'dtype' %lld is not a supported element type",
                      (long long)dt);
    pl_tensor *s;
    PL_TRY(seq_empty((pl_dtype)dt, &s));
    pl_out_set(ctx, 0, s);
    return PL_OK;
}

static pl_status op_sequence_length(pl_kernel_ctx *ctx) {
    const pl_tensor *s;
    PL_TRY(seq_in(ctx, 0, &s));
    pl_tensor *o;
    PL_TRY(pl_out(ctx, 0, PL_DT_INT64, 0, NULL, &o));
    ((int64_t *)o->data)[0] = s->seq_len;
    return PL_OK;
}

/* ---- SequenceInsert / SequenceAt / SequenceErase ---- */

/* Normalises a position into [0, n - 1 + extra] (extra = 1 lets Insert append). */
static pl_status norm_position(int64_t pos, int n, int extra, int *out) {
    if (pos < -(int64_t)n || pos > (int64_t)n - 1 + extra)
        return pl_err(PL_ERR_INVALID, "input 'position' %lld is out of range for a sequence of %d items",
                      (long long)pos, n);
    *out = (int)(pos < 0 ? pos + n : pos);
    return PL_OK;
}

static pl_status op_sequence_insert(pl_kernel_ctx *ctx) {
    const pl_tensor *s, *t;
    PL_TRY(seq_in(ctx, 0, &s));
    PL_TRY(pl_in_req(ctx, 1, &t));
    pl_dtype want = seq_dtype(s);
    if (want != PL_DT_UNDEFINED && t->dtype != want)
        return pl_err(PL_ERR_INVALID, "input 1 'tensor' is %s but the sequence holds %s",
                      pl_dtype_name(t->dtype), pl_dtype_name(want));
    int64_t pos = s->seq_len;
    int present, at = 0;
    PL_TRY(position_in(ctx, 2, &pos, &present));
    PL_TRY(norm_position(pos, s->seq_len, 1, &at));
    if (s->seq_len >= 0x3fffffff) return pl_err(PL_ERR_NOMEM, "sequence is too long");
    pl_tensor *out;
    PL_TRY(pl_tensor_clone(s, &out));
    pl_tensor *c;
    pl_status st = pl_tensor_clone(t, &c);
    if (st == PL_OK) st = seq_push(out, c); /* then rotate it into place */
    if (st != PL_OK) {
        pl_tensor_destroy(out);
        return st;
    }
    memmove(out->seq + at + 1, out->seq + at, (size_t)(out->seq_len - 1 - at) * sizeof *out->seq);
    out->seq[at] = c;
    out->seq_elem_dtype = t->dtype;
    pl_out_set(ctx, 0, out);
    return PL_OK;
}

static pl_status op_sequence_at(pl_kernel_ctx *ctx) {
    const pl_tensor *s;
    PL_TRY(seq_in(ctx, 0, &s));
    int64_t pos = 0;
    int present, at = 0;
    PL_TRY(position_in(ctx, 1, &pos, &present));
    if (!present) return pl_err(PL_ERR_INVALID, "input 1 'position' is required");
    PL_TRY(norm_position(pos, s->seq_len, 0, &at));
    pl_tensor *c;
    PL_TRY(pl_tensor_clone(s->seq[at], &c));
    pl_out_set(ctx, 0, c);
    return PL_OK;
}

static pl_status op_sequence_erase(pl_kernel_ctx *ctx) {
    const pl_tensor *s;
    PL_TRY(seq_in(ctx, 0, &s));
    int64_t pos = -1;
    int present, at = 0;
    PL_TRY(position_in(ctx, 1, &pos, &present));
    PL_TRY(norm_position(pos, s->seq_len, 0, &at));
    pl_tensor *out;
    PL_TRY(pl_tensor_clone(s, &out));
    pl_tensor_destroy(out->seq[at]);
    memmove(out->seq + at, out->seq + at + 1, (size_t)(out->seq_len - 1 - at) * sizeof *out->seq);
    out->seq_len--;
    pl_out_set(ctx, 0, out);
    return PL_OK;
}

/* ---- SplitToSequence ---- */

/* Chunk lengths along an axis of size `dim` from the optional 'split' input. */
static pl_status split_lengths(const pl_tensor *split, int64_t dim, int64_t **lens, int64_t *n) {
    *lens = NULL;
    if (!split) { /* pieces of length 1 */
        *n = dim;
        *lens = malloc((size_t)(dim > 0 ? dim : 1) * sizeof **lens);
        if (!*lens) return pl_err(PL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < dim; i++) (*lens)[i] = 1;
        return PL_OK;
    }
    if (split->kind != PL_KIND_TENSOR || !pl_dtype_is_int(split->dtype) || split->rank > 1)
        return pl_err(PL_ERR_INVALID, "input 'split' must be an integer scalar or 1-D tensor");
    if (split->rank == 0) { /* equal chunks, the last one smaller */
        int64_t k = pl_get_i64(split, 0);
        if (k <= 0) return pl_err(PL_ERR_INVALID, "input 'split' %lld must be positive", (long long)k);
        *n = dim / k + (dim % k ? 1 : 0);
        *lens = malloc((size_t)(*n > 0 ? *n : 1) * sizeof **lens);
        if (!*lens) return pl_err(PL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < *n; i++) (*lens)[i] = (i + 1) * k <= dim ? k : dim - i * k;
        return PL_OK;
    }
    PL_TRY(pl_as_int64s(split, "input 'split'", lens, n));
    int64_t sum = 0;
    for (int64_t i = 0; i < *n; i++) {
        if ((*lens)[i] < 0 || (*lens)[i] > dim - sum) {
            free(*lens);
            *lens = NULL;
            return pl_err(PL_ERR_INVALID, "input 'split' lengths must be non-negative and sum to %lld",
                          (long long)dim);
        }
        sum += (*lens)[i];
    }
    if (sum != dim) {
        free(*lens);
        *lens = NULL;
        return pl_err(PL_ERR_INVALID, "input 'split' lengths sum to %lld, the axis has %lld",
                      (long long)sum, (long long)dim);
    }
    return PL_OK;
}

/* The chunk [start, start + len) of x along `axis`, dropping the axis when squeeze. */
static pl_status chunk(const pl_tensor *x, int axis, int64_t start, int64_t len, int squeeze,
                       pl_tensor **out) {
    int64_t dims[PL_MAX_RANK];
    memcpy(dims, x->dims, sizeof dims);
    dims[axis] = len;
    int rank = x->rank;
    if (squeeze) {
        memmove(dims + axis, dims + axis + 1, (size_t)(rank - axis - 1) * sizeof *dims);
        rank--;
    }
    PL_TRY(pl_tensor_create(x->dtype, rank, dims, out));
    int64_t outer = dims_prod(x->dims, 0, axis), inner = dims_prod(x->dims, axis + 1, x->rank);
    for (int64_t o = 0; o < outer; o++) {
        pl_status st = pl_copy_elems(*out, o * len * inner, x, (o * x->dims[axis] + start) * inner,
                                  len * inner);
        if (st != PL_OK) {
            pl_tensor_destroy(*out);
            *out = NULL;
            return st;
        }
    }
    return PL_OK;
}

static pl_status op_split_to_sequence(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 0 must have rank >= 1, has rank 0");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), x->rank, "attribute 'axis'", &axis));
    int64_t keepdims = pl_attr_int(ctx->node, "keepdims", 1);
    const pl_tensor *split = pl_in(ctx, 1);
    int64_t *lens, n;
    PL_TRY(split_lengths(split, x->dims[axis], &lens, &n));
    if (n > 0x3fffffff) {
        free(lens);
        return pl_err(PL_ERR_INVALID, "split into %lld pieces is too many", (long long)n);
    }
    pl_tensor *s;
    pl_status st = seq_empty(x->dtype, &s);
    int64_t start = 0;
    for (int64_t i = 0; st == PL_OK && i < n; i++) {
        pl_tensor *c;
        st = chunk(x, axis, start, lens[i], !split && keepdims == 0, &c);
        if (st == PL_OK) st = seq_push(s, c);
        start += lens[i];
    }
    free(lens);
    if (st != PL_OK) {
        pl_tensor_destroy(s);
        return st;
    }
    pl_out_set(ctx, 0, s);
    return PL_OK;
}

/* ---- ConcatFromSequence ---- */

static pl_status op_concat_from_sequence(pl_kernel_ctx *ctx) {
    const pl_tensor *s;
    PL_TRY(seq_in(ctx, 0, &s));
    if (s->seq_len == 0) return pl_err(PL_ERR_INVALID, "input 0 is an empty sequence: nothing to concatenate");
    int new_axis = pl_attr_int(ctx->node, "new_axis", 0) != 0;
    const pl_tensor *f = s->seq[0];
    int out_rank = f->rank + new_axis;
    if (out_rank < 1) return pl_err(PL_ERR_INVALID, "cannot concatenate scalars without new_axis=1");
    if (out_rank > PL_MAX_RANK) return pl_err(PL_ERR_INVALID, "rank %d is too large", out_rank);
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), out_rank, "attribute 'axis'", &axis));
    int64_t dims[PL_MAX_RANK] = {0}, total = 0;
    for (int i = 0; i < s->seq_len; i++) {
        const pl_tensor *t = s->seq[i];
        if (t->kind != PL_KIND_TENSOR || t->dtype != f->dtype || t->rank != f->rank)
            return pl_err(PL_ERR_INVALID, "sequence item %d differs in type or rank from item 0", i);
        for (int d = 0; d < f->rank; d++)
            if (t->dims[d] != f->dims[d] && (new_axis || d != axis))
                return pl_err(PL_ERR_INVALID, "sequence item %d: dim %d is %lld, item 0 has %lld", i, d,
                              (long long)t->dims[d], (long long)f->dims[d]);
        total += new_axis ? 1 : t->dims[axis];
    }
    for (int d = 0, k = 0; d < out_rank; d++) { /* item dims, with `total` at the axis */
        if (d != axis) dims[d] = f->dims[k++];
        else {
            dims[d] = total;
            k += !new_axis;
        }
    }
    pl_tensor *o;
    PL_TRY(pl_out(ctx, 0, f->dtype, out_rank, dims, &o));
    int64_t outer = dims_prod(dims, 0, axis), inner = dims_prod(dims, axis + 1, out_rank);
    int64_t off = 0;
    for (int i = 0; i < s->seq_len; i++) {
        int64_t len = new_axis ? 1 : s->seq[i]->dims[axis];
        for (int64_t q = 0; q < outer; q++)
            PL_TRY(pl_copy_elems(o, (q * total + off) * inner, s->seq[i], q * len * inner, len * inner));
        off += len;
    }
    return PL_OK;
}

/* ---- SequenceMap ---- */

/* Body input j for iteration i: item i of a sequence input, else the tensor itself. */
static pl_tensor *map_arg(const pl_kernel_ctx *ctx, int j, int i) {
    const pl_tensor *t = ctx->in[j];
    return t->kind == PL_KIND_SEQUENCE ? t->seq[i] : (pl_tensor *)t;
}

static pl_status op_sequence_map(pl_kernel_ctx *ctx) {
    const pl_attr *ba = pl_node_attr(ctx->node, "body");
    if (!ba || ba->type != PL_ATTR_GRAPH || !ba->g)
        return pl_err(PL_ERR_INVALID, "attribute 'body' (graph) is required");
    const pl_graph *body = ba->g;
    const pl_tensor *s0;
    PL_TRY(seq_in(ctx, 0, &s0));
    int n = s0->seq_len;
    for (int j = 0; j < ctx->n_in; j++) {
        if (!ctx->in[j]) return pl_err(PL_ERR_INVALID, "input %d is missing", j);
        if (ctx->in[j]->kind == PL_KIND_SEQUENCE && ctx->in[j]->seq_len != n)
            return pl_err(PL_ERR_INVALID, "input %d holds %d items, input 0 holds %d", j,
                          ctx->in[j]->seq_len, n);
    }
    if (body->n_inputs != ctx->n_in || body->n_outputs < ctx->n_out)
        return pl_err(PL_ERR_INVALID, "attribute 'body' takes %d inputs and gives %d outputs; the node has %d and %d",
                      body->n_inputs, body->n_outputs, ctx->n_in, ctx->n_out);
    pl_tensor *args[64], *res[64];
    if (ctx->n_in > 64 || ctx->n_out > 64) return pl_err(PL_ERR_UNSUPPORTED, "more than 64 inputs or outputs");
    for (int k = 0; k < ctx->n_out; k++) {
        const pl_value *v = &body->values[body->outputs[k]];
        pl_tensor *s;
        PL_TRY(seq_empty(v->info.dtype, &s));
        pl_out_set(ctx, k, s);
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < ctx->n_in; j++) args[j] = map_arg(ctx, j, i);
        PL_TRY(pl_exec_subgraph(ctx, body, ctx->n_in, args, ctx->n_out, res));
        for (int k = 0; k < ctx->n_out; k++) {
            pl_status st = res[k]->kind == PL_KIND_TENSOR
                               ? PL_OK
                               : pl_err(PL_ERR_INVALID, "body output %d must be a tensor", k);
            if (st == PL_OK) st = seq_push(ctx->out[k], res[k]);
            else pl_tensor_destroy(res[k]);
            res[k] = NULL;
            if (st != PL_OK) {
                for (int r = k + 1; r < ctx->n_out; r++) pl_tensor_destroy(res[r]);
                return st;
            }
        }
    }
    return PL_OK;
}

/* ---- optionals ---- */

static pl_status op_optional(pl_kernel_ctx *ctx) {
    const pl_tensor *x = pl_in(ctx, 0);
    pl_tensor *o;
    if (!x) PL_TRY(pl_tensor_none(&o));
    else PL_TRY(pl_tensor_clone(x, &o));
    pl_out_set(ctx, 0, o);
    return PL_OK;
}

static pl_status op_optional_has_element(pl_kernel_ctx *ctx) {
    const pl_tensor *x = pl_in(ctx, 0);
    pl_tensor *o;
    PL_TRY(pl_out(ctx, 0, PL_DT_BOOL, 0, NULL, &o));
    ((uint8_t *)o->data)[0] = x && x->kind != PL_KIND_NONE;
    return PL_OK;
}

static pl_status op_optional_get_element(pl_kernel_ctx *ctx) {
    const pl_tensor *x = pl_in(ctx, 0);
    if (!x || x->kind == PL_KIND_NONE)
        return pl_err(PL_ERR_INVALID, "input 0 is an empty optional: it has no element to get");
    pl_tensor *o;
    PL_TRY(pl_tensor_clone(x, &o));
    pl_out_set(ctx, 0, o);
    return PL_OK;
}

const pl_op_schema pl_ops_sequence[] = {
    {"", "SequenceConstruct", 1, -1, 1, 1, op_sequence_construct},
    {"", "SequenceEmpty", 0, 0, 1, 1, op_sequence_empty},
    {"", "SequenceInsert", 2, 3, 1, 1, op_sequence_insert},
    {"", "SequenceAt", 2, 2, 1, 1, op_sequence_at},
    {"", "SequenceErase", 1, 2, 1, 1, op_sequence_erase},
    {"", "SequenceLength", 1, 1, 1, 1, op_sequence_length},
    {"", "SplitToSequence", 1, 2, 1, 1, op_split_to_sequence},
    {"", "ConcatFromSequence", 1, 1, 1, 1, op_concat_from_sequence},
    {"", "SequenceMap", 1, -1, 1, -1, op_sequence_map},
    {"", "Optional", 0, 1, 1, 1, op_optional},
    {"", "OptionalHasElement", 0, 1, 1, 1, op_optional_has_element},
    {"", "OptionalGetElement", 1, 1, 1, 1, op_optional_get_element},
    {0},
};
