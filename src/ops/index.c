/* index.c - reference kernels for indexing ops: Gather, GatherElements, GatherND, Scatter,
 * ScatterElements, ScatterND, OneHot, Compress, NonZero, ReverseSequence, Unique, CumSum,
 * TopK, ArgMax and ArgMin.
 *
 * Every index read from a tensor is checked against the axis it addresses before anything is
 * written; an index outside [-n, n-1] is an error naming the input, the value and the axis
 * (OneHot, where the spec asks for an all-off row, is the exception). Data of any dtype,
 * strings included, moves through ix_copy. Unique, TopK, ArgMax/ArgMin and CumSum share a
 * typed element comparison and a stable merge sort. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Bytes per element as stored (a pointer for strings). */
static size_t ix_esize(pl_dtype t) { return t == PL_DT_STRING ? sizeof(char *) : pl_dtype_size(t); }

/* Copies n elements src[si..] to dst[di..] (same dtype); strings are duplicated. */
static pl_status ix_copy(pl_tensor *dst, int64_t di, const pl_tensor *src, int64_t si, int64_t n) {
    if (n <= 0) return PL_OK;
    if (src->dtype == PL_DT_STRING) {
        char **d = dst->data;
        char *const *s = src->data;
        for (int64_t k = 0; k < n; k++) {
            char *c = pl_strdup(s[si + k] ? s[si + k] : "");
            if (!c) return pl_err(PL_ERR_NOMEM, "out of memory copying strings");
            free(d[di + k]);
            d[di + k] = c;
        }
        return PL_OK;
    }
    size_t es = pl_dtype_size(src->dtype);
    memcpy((char *)dst->data + (size_t)di * es, (const char *)src->data + (size_t)si * es,
           (size_t)n * es);
    return PL_OK;
}

/* Views t as [outer, n, inner] around `axis`. */
static void ix_split(const pl_tensor *t, int axis, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= t->dims[d];
    for (int d = axis + 1; d < t->rank; d++) *inner *= t->dims[d];
    *n = t->rank > 0 ? t->dims[axis] : 1;
}

/* Input i, required, of an integer dtype. */
static pl_status ix_int_input(const pl_kernel_ctx *ctx, int i, const char *what,
                              const pl_tensor **t) {
    PL_TRY(pl_in_req(ctx, i, t));
    if (!pl_dtype_is_int((*t)->dtype))
        return pl_err(PL_ERR_INVALID, "input '%s' must be an integer tensor, not %s", what,
                      pl_dtype_name((*t)->dtype));
    return PL_OK;
}

/* Reads every index of `idx`, each addressing an axis of size n, into a malloc'ed array of
 * values in [0, n). */
static pl_status read_indices(const pl_tensor *idx, int64_t n, const char *what, int axis,
                              int64_t **out) {
    *out = malloc((size_t)(idx->numel ? idx->numel : 1) * sizeof **out);
    if (!*out) return pl_err(PL_ERR_NOMEM, "out of memory for %lld indices",
                             (long long)idx->numel);
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t v = pl_get_i64(idx, i);
        if (v < -n || v >= n) {
            free(*out);
            *out = NULL;
            return pl_err(PL_ERR_INVALID, "input '%s' holds index %lld (element %lld), outside "
                          "[-%lld, %lld] for axis %d", what, (long long)v, (long long)i,
                          (long long)n, (long long)n - 1, axis);
        }
        (*out)[i] = v < 0 ? v + n : v;
    }
    return PL_OK;
}

/* ---- Gather ---- */

static pl_status k_gather(pl_kernel_ctx *ctx) {
    const pl_tensor *data, *idx;
    PL_TRY(pl_in_req(ctx, 0, &data));
    PL_TRY(ix_int_input(ctx, 1, "indices", &idx));
    if (data->rank < 1) return pl_err(PL_ERR_INVALID, "input 'data' must have rank >= 1");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), data->rank, "attribute 'axis'", &axis));
    int rank = data->rank - 1 + idx->rank;
    if (rank > PL_MAX_RANK)
        return pl_err(PL_ERR_UNSUPPORTED, "output rank %d exceeds %d", rank, PL_MAX_RANK);
    int64_t dims[PL_MAX_RANK];
    int r = 0;
    for (int d = 0; d < axis; d++) dims[r++] = data->dims[d];
    for (int d = 0; d < idx->rank; d++) dims[r++] = idx->dims[d];
    for (int d = axis + 1; d < data->rank; d++) dims[r++] = data->dims[d];
    int64_t outer, n, inner, *ind;
    ix_split(data, axis, &outer, &n, &inner);
    PL_TRY(read_indices(idx, n, "indices", axis, &ind));
    pl_tensor *y;
    pl_status st = pl_out(ctx, 0, data->dtype, rank, dims, &y);
    int64_t k_n = idx->numel;
    for (int64_t o = 0; st == PL_OK && o < outer; o++)
        for (int64_t k = 0; st == PL_OK && k < k_n; k++)
            st = ix_copy(y, (o * k_n + k) * inner, data, (o * n + ind[k]) * inner, inner);
    free(ind);
    return st;
}

/* ---- GatherElements / ScatterElements ---- */

/* Checks that idx (and updates, when given) fit data for an elements op along axis. */
static pl_status check_elements_shape(const pl_tensor *data, const pl_tensor *idx,
                                      const pl_tensor *upd, int axis) {
    char a[256], b[256];
    if (idx->rank != data->rank)
        return pl_err(PL_ERR_INVALID, "input 'indices' has rank %d, 'data' has rank %d",
                      idx->rank, data->rank);
    for (int d = 0; d < data->rank; d++)
        if (d != axis && idx->dims[d] > data->dims[d])
            return pl_err(PL_ERR_INVALID, "input 'indices' shape %s exceeds 'data' shape %s on "
                          "axis %d", pl_dims_str(idx->rank, idx->dims, a, sizeof a),
                          pl_dims_str(data->rank, data->dims, b, sizeof b), d);
    if (upd && (upd->rank != idx->rank ||
                memcmp(upd->dims, idx->dims, (size_t)idx->rank * sizeof *idx->dims) != 0))
        return pl_err(PL_ERR_INVALID, "input 'updates' shape %s differs from 'indices' shape %s",
                      pl_dims_str(upd->rank, upd->dims, a, sizeof a),
                      pl_dims_str(idx->rank, idx->dims, b, sizeof b));
    if (upd && upd->dtype != data->dtype)
        return pl_err(PL_ERR_INVALID, "input 'updates' is %s, 'data' is %s",
                      pl_dtype_name(upd->dtype), pl_dtype_name(data->dtype));
    return PL_OK;
}

/* For each element k of `idx` (row-major), the offset into data it addresses, with the
 * coordinate on `axis` replaced by the index value (already normalised in ind[k]). */
static void elements_offsets(const pl_tensor *data, const pl_tensor *idx, int axis,
                             const int64_t *ind, int64_t *off) {
    int64_t st[PL_MAX_RANK], pos[PL_MAX_RANK] = {0}, cur = 0;
    pl_strides(data->rank, data->dims, st);
    for (int64_t k = 0; k < idx->numel; k++) {
        off[k] = cur + ind[k] * st[axis];
        for (int d = idx->rank - 1; d >= 0; d--) {
            if (d != axis) cur += st[d];
            if (++pos[d] < idx->dims[d]) break;
            if (d != axis) cur -= st[d] * idx->dims[d];
            pos[d] = 0;
        }
    }
}

static pl_status k_gather_elements(pl_kernel_ctx *ctx) {
    const pl_tensor *data, *idx;
    PL_TRY(pl_in_req(ctx, 0, &data));
    PL_TRY(ix_int_input(ctx, 1, "indices", &idx));
    if (data->rank < 1) return pl_err(PL_ERR_INVALID, "input 'data' must have rank >= 1");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), data->rank, "attribute 'axis'", &axis));
    PL_TRY(check_elements_shape(data, idx, NULL, axis));
    int64_t *ind;
    PL_TRY(read_indices(idx, data->dims[axis], "indices", axis, &ind));
    pl_status st = PL_OK;
    int64_t *off = malloc((size_t)(idx->numel ? idx->numel : 1) * sizeof *off);
    if (!off) st = pl_err(PL_ERR_NOMEM, "out of memory");
    pl_tensor *y = NULL;
    if (st == PL_OK) st = pl_out(ctx, 0, data->dtype, idx->rank, idx->dims, &y);
    if (st == PL_OK) {
        elements_offsets(data, idx, axis, ind, off);
        size_t es = ix_esize(data->dtype);
        for (int64_t k = 0; st == PL_OK && k < idx->numel; k++) {
            if (data->dtype == PL_DT_STRING) st = ix_copy(y, k, data, off[k], 1);
            else memcpy((char *)y->data + (size_t)k * es,
                        (const char *)data->data + (size_t)off[k] * es, es);
        }
    }
    free(off);
    free(ind);
    return st;
}

/* ---- scatter reductions ---- */

typedef enum scat_red { SR_NONE, SR_ADD, SR_MUL, SR_MAX, SR_MIN } scat_red;

static pl_status parse_reduction(const pl_kernel_ctx *ctx, scat_red *out) {
    const char *s = pl_attr_string(ctx->node, "reduction", "none");
    static const char *names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (scat_red)i;
            return PL_OK;
        }
    return pl_err(PL_ERR_INVALID, "attribute 'reduction' is '%s', expected none, add, mul, max "
                  "or min", s);
}

/* y[yi] = red(y[yi], u[ui]); integers (and bool) combine exactly in int64, floats in double. */
static pl_status scatter_apply(pl_tensor *y, int64_t yi, const pl_tensor *u, int64_t ui,
                               scat_red red) {
    if (red == SR_NONE) return ix_copy(y, yi, u, ui, 1);
    if (pl_dtype_is_float(y->dtype)) {
        double a = pl_get_f64(y, yi), b = pl_get_f64(u, ui), r;
        switch (red) {
        case SR_ADD: r = a + b; break;
        case SR_MUL: r = a * b; break;
        case SR_MAX: r = b > a ? b : a; break;
        default: r = b < a ? b : a; break;
        }
        if (y->dtype == PL_DT_FLOAT) ((float *)y->data)[yi] = (float)r;
        else pl_set_f64(y, yi, r);
        return PL_OK;
    }
    int64_t a = pl_get_i64(y, yi), b = pl_get_i64(u, ui), r;
    switch (red) {
    case SR_ADD: r = (int64_t)((uint64_t)a + (uint64_t)b); break;
    case SR_MUL: r = (int64_t)((uint64_t)a * (uint64_t)b); break;
    case SR_MAX: r = b > a ? b : a; break;
    default: r = b < a ? b : a; break;
    }
    pl_set_i64(y, yi, r);
    return PL_OK;
}

static pl_status check_reduction_dtype(scat_red red, pl_dtype t) {
    if (red != SR_NONE && !pl_dtype_is_float(t) && !pl_dtype_is_int(t) && t != PL_DT_BOOL)
        return pl_err(PL_ERR_UNSUPPORTED, "attribute 'reduction' on %s data is not supported",
                      pl_dtype_name(t));
    return PL_OK;
}

/* ScatterElements (and the deprecated Scatter, which has no reduction). */
static pl_status scatter_elements(pl_kernel_ctx *ctx, bool has_reduction) {
    const pl_tensor *data, *idx, *upd;
    PL_TRY(pl_in_req(ctx, 0, &data));
    PL_TRY(ix_int_input(ctx, 1, "indices", &idx));
    PL_TRY(pl_in_req(ctx, 2, &upd));
    if (data->rank < 1) return pl_err(PL_ERR_INVALID, "input 'data' must have rank >= 1");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), data->rank, "attribute 'axis'", &axis));
    scat_red red = SR_NONE;
    if (has_reduction) PL_TRY(parse_reduction(ctx, &red));
    PL_TRY(check_reduction_dtype(red, data->dtype));
    PL_TRY(check_elements_shape(data, idx, upd, axis));
    int64_t *ind;
    PL_TRY(read_indices(idx, data->dims[axis], "indices", axis, &ind));
    pl_status st = PL_OK;
    int64_t *off = malloc((size_t)(idx->numel ? idx->numel : 1) * sizeof *off);
    if (!off) st = pl_err(PL_ERR_NOMEM, "out of memory");
    pl_tensor *y = NULL;
    if (st == PL_OK) st = pl_tensor_clone(data, &y);
    if (st == PL_OK) {
        pl_out_set(ctx, 0, y);
        elements_offsets(data, idx, axis, ind, off);
        for (int64_t k = 0; st == PL_OK && k < idx->numel; k++)
            st = scatter_apply(y, off[k], upd, k, red);
    }
    free(off);
    free(ind);
    return st;
}

static pl_status k_scatter(pl_kernel_ctx *ctx) { return scatter_elements(ctx, false); }
static pl_status k_scatter_elements(pl_kernel_ctx *ctx) {
    return scatter_elements(ctx, ctx->opset >= 16);
}

/* ---- GatherND / ScatterND ---- */

/* Offset into data (elements) of the slice addressed by the m-tuple at idx[t*m..]; the tuple
 * indexes data axes first..first+m-1. Errors name the bad index. */
static pl_status nd_offset(const pl_tensor *data, const pl_tensor *idx, int64_t t, int64_t m,
                           int first, const int64_t *strides, int64_t *off) {
    int64_t o = 0;
    for (int64_t k = 0; k < m; k++) {
        int d = first + (int)k;
        int64_t n = data->dims[d], v = pl_get_i64(idx, t * m + k);
        if (v < -n || v >= n)
            return pl_err(PL_ERR_INVALID, "input 'indices' holds index %lld (element %lld), "
                          "outside [-%lld, %lld] for data axis %d", (long long)v,
                          (long long)(t * m + k), (long long)n, (long long)n - 1, d);
        o += (v < 0 ? v + n : v) * strides[d];
    }
    *off = o;
    return PL_OK;
}

static pl_status k_gather_nd(pl_kernel_ctx *ctx) {
    const pl_tensor *data, *idx;
    PL_TRY(pl_in_req(ctx, 0, &data));
    PL_TRY(ix_int_input(ctx, 1, "indices", &idx));
    int64_t b = pl_attr_int(ctx->node, "batch_dims", 0);
    int r = data->rank, q = idx->rank;
    if (r < 1 || q < 1) return pl_err(PL_ERR_INVALID, "inputs 'data' and 'indices' need rank >= 1");
    if (b < 0 || b >= (r < q ? r : q))
        return pl_err(PL_ERR_INVALID, "attribute 'batch_dims' %lld must be in [0, %d)",
                      (long long)b, r < q ? r : q);
    int64_t m = idx->dims[q - 1];
    if (m < 1 || m > r - b)
        return pl_err(PL_ERR_INVALID, "last dim of 'indices' is %lld, must be in [1, %lld]",
                      (long long)m, (long long)(r - b));
    for (int d = 0; d < b; d++)
        if (idx->dims[d] != data->dims[d])
            return pl_err(PL_ERR_INVALID, "batch dim %d: 'indices' has %lld, 'data' has %lld", d,
                          (long long)idx->dims[d], (long long)data->dims[d]);
    int rank = q - 1 + r - (int)(b + m);
    if (rank > PL_MAX_RANK)
        return pl_err(PL_ERR_UNSUPPORTED, "output rank %d exceeds %d", rank, PL_MAX_RANK);
    int64_t dims[PL_MAX_RANK], batches = 1, tuples = 1, slice = 1, strides[PL_MAX_RANK];
    int k = 0;
    for (int d = 0; d < q - 1; d++) dims[k++] = idx->dims[d];
    for (int d = (int)(b + m); d < r; d++) dims[k++] = data->dims[d];
    for (int d = 0; d < b; d++) batches *= idx->dims[d];
    for (int d = (int)b; d < q - 1; d++) tuples *= idx->dims[d];
    for (int d = (int)(b + m); d < r; d++) slice *= data->dims[d];
    pl_strides(r, data->dims, strides);
    int64_t batch_stride = b > 0 ? strides[b - 1] : 0;
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, data->dtype, rank, dims, &y));
    for (int64_t bi = 0; bi < batches; bi++)
        for (int64_t t = 0; t < tuples; t++) {
            int64_t off;
            PL_TRY(nd_offset(data, idx, bi * tuples + t, m, (int)b, strides, &off));
            PL_TRY(ix_copy(y, (bi * tuples + t) * slice, data, bi * batch_stride + off, slice));
        }
    return PL_OK;
}

static pl_status k_scatter_nd(pl_kernel_ctx *ctx) {
    const pl_tensor *data, *idx, *upd;
    PL_TRY(pl_in_req(ctx, 0, &data));
    PL_TRY(ix_int_input(ctx, 1, "indices", &idx));
    PL_TRY(pl_in_req(ctx, 2, &upd));
    scat_red red = SR_NONE;
    if (ctx->opset >= 16) PL_TRY(parse_reduction(ctx, &red));
    PL_TRY(check_reduction_dtype(red, data->dtype));
    int r = data->rank, q = idx->rank;
    if (r < 1 || q < 1) return pl_err(PL_ERR_INVALID, "inputs 'data' and 'indices' need rank >= 1");
    if (upd->dtype != data->dtype)
        return pl_err(PL_ERR_INVALID, "input 'updates' is %s, 'data' is %s",
                      pl_dtype_name(upd->dtype), pl_dtype_name(data->dtype));
    int64_t m = idx->dims[q - 1];
    if (m < 1 || m > r)
        return pl_err(PL_ERR_INVALID, "last dim of 'indices' is %lld, must be in [1, %d]",
                      (long long)m, r);
    /* updates shape must be indices.shape[:-1] + data.shape[m:] */
    bool ok = upd->rank == q - 1 + r - (int)m;
    for (int d = 0; ok && d < q - 1; d++) ok = upd->dims[d] == idx->dims[d];
    for (int d = (int)m; ok && d < r; d++) ok = upd->dims[q - 1 + d - m] == data->dims[d];
    if (!ok) {
        char a[256], bb[256], c[256];
        return pl_err(PL_ERR_INVALID, "input 'updates' shape %s does not match indices %s and "
                      "data %s", pl_dims_str(upd->rank, upd->dims, a, sizeof a),
                      pl_dims_str(q, idx->dims, bb, sizeof bb),
                      pl_dims_str(r, data->dims, c, sizeof c));
    }
    int64_t tuples = 1, slice = 1, strides[PL_MAX_RANK];
    for (int d = 0; d < q - 1; d++) tuples *= idx->dims[d];
    for (int d = (int)m; d < r; d++) slice *= data->dims[d];
    pl_strides(r, data->dims, strides);
    /* validate every index before touching the output */
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        PL_TRY(nd_offset(data, idx, t, m, 0, strides, &off));
    }
    pl_tensor *y;
    PL_TRY(pl_tensor_clone(data, &y));
    pl_out_set(ctx, 0, y);
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off;
        PL_TRY(nd_offset(data, idx, t, m, 0, strides, &off));
        if (red == SR_NONE) {
            PL_TRY(ix_copy(y, off, upd, t * slice, slice));
            continue;
        }
        for (int64_t e = 0; e < slice; e++)
            PL_TRY(scatter_apply(y, off + e, upd, t * slice + e, red));
    }
    return PL_OK;
}

/* ---- OneHot ---- */

static pl_status k_one_hot(pl_kernel_ctx *ctx) {
    const pl_tensor *idx, *depth_t, *vals;
    PL_TRY(pl_in_req(ctx, 0, &idx));
    PL_TRY(pl_in_req(ctx, 1, &depth_t));
    PL_TRY(pl_in_req(ctx, 2, &vals));
    if (!pl_dtype_is_int(idx->dtype) && !pl_dtype_is_float(idx->dtype))
        return pl_err(PL_ERR_INVALID, "input 'indices' must be numeric, not %s",
                      pl_dtype_name(idx->dtype));
    if ((!pl_dtype_is_int(depth_t->dtype) && !pl_dtype_is_float(depth_t->dtype)) ||
        depth_t->numel != 1 || depth_t->rank > 1)
        return pl_err(PL_ERR_INVALID, "input 'depth' must be a numeric scalar or 1-element "
                      "tensor (has %lld elements of %s)", (long long)depth_t->numel,
                      pl_dtype_name(depth_t->dtype));
    if (vals->numel != 2 || vals->rank != 1)
        return pl_err(PL_ERR_INVALID, "input 'values' must be 1-D with 2 elements, has %lld",
                      (long long)vals->numel);
    double dv = pl_get_f64(depth_t, 0);
    if (!(dv >= 1.0) || dv > 9.0e18)
        return pl_err(PL_ERR_INVALID, "input 'depth' is %g, must be >= 1", dv);
    int64_t depth = (int64_t)dv;
    int rank = idx->rank + 1;
    if (rank > PL_MAX_RANK)
        return pl_err(PL_ERR_UNSUPPORTED, "output rank %d exceeds %d", rank, PL_MAX_RANK);
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", -1), rank, "attribute 'axis'", &axis));
    int64_t dims[PL_MAX_RANK], outer = 1, inner = 1;
    for (int d = 0, k = 0; d < rank; d++) dims[d] = d == axis ? depth : idx->dims[k++];
    for (int d = 0; d < axis; d++) outer *= idx->dims[d];
    for (int d = axis; d < idx->rank; d++) inner *= idx->dims[d];
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, vals->dtype, rank, dims, &y));
    for (int64_t i = 0; i < y->numel; i++) PL_TRY(ix_copy(y, i, vals, 0, 1));
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t e = o * inner + i, v;
            if (pl_dtype_is_float(idx->dtype)) {
                double f = pl_get_f64(idx, e);
                if (!(f > -9.0e18 && f < 9.0e18)) continue; /* NaN or huge: all off */
                v = (int64_t)f;
            } else {
                v = pl_get_i64(idx, e);
            }
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue;
            PL_TRY(ix_copy(y, (o * depth + v) * inner + i, vals, 1, 1));
        }
    return PL_OK;
}

/* ---- Compress ---- */

static pl_status k_compress(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *cond;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &cond));
    if (cond->rank != 1)
        return pl_err(PL_ERR_INVALID, "input 'condition' must be 1-D, has rank %d", cond->rank);
    if (cond->dtype != PL_DT_BOOL && !pl_dtype_is_int(cond->dtype))
        return pl_err(PL_ERR_INVALID, "input 'condition' must be bool, not %s",
                      pl_dtype_name(cond->dtype));
    bool flat = pl_node_attr(ctx->node, "axis") == NULL;
    int axis = 0;
    int64_t outer = 1, n = x->numel, inner = 1;
    if (!flat) {
        if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 'input' must have rank >= 1");
        PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), x->rank, "attribute 'axis'", &axis));
        ix_split(x, axis, &outer, &n, &inner);
    }
    int64_t kept = 0;
    for (int64_t j = 0; j < cond->numel; j++) {
        if (!pl_get_i64(cond, j)) continue;
        if (j >= n)
            return pl_err(PL_ERR_INVALID, "input 'condition' is true at %lld, beyond the %lld "
                          "entries of the axis", (long long)j, (long long)n);
        kept++;
    }
    int64_t dims[PL_MAX_RANK];
    int rank = flat ? 1 : x->rank;
    if (flat) dims[0] = kept;
    else {
        memcpy(dims, x->dims, (size_t)x->rank * sizeof *dims);
        dims[axis] = kept;
    }
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, rank, dims, &y));
    int64_t w = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < n && j < cond->numel; j++)
            if (pl_get_i64(cond, j)) {
                PL_TRY(ix_copy(y, w, x, (o * n + j) * inner, inner));
                w += inner;
            }
    return PL_OK;
}

/* ---- NonZero ---- */

static bool is_nonzero(const pl_tensor *x, int64_t i) {
    if (x->dtype == PL_DT_STRING) {
        const char *s = ((char *const *)x->data)[i];
        return s && s[0];
    }
    if (pl_dtype_is_float(x->dtype)) return pl_get_f64(x, i) != 0.0;
    return pl_get_i64(x, i) != 0;
}

static pl_status k_non_zero(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int64_t nnz = 0;
    for (int64_t i = 0; i < x->numel; i++) nnz += is_nonzero(x, i);
    int r = x->rank > 0 ? x->rank : 1; /* a scalar counts as 1-D, as numpy */
    int64_t dims[2] = {r, nnz};
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, PL_DT_INT64, 2, dims, &y));
    int64_t *out = y->data, pos[PL_MAX_RANK] = {0}, col = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        if (is_nonzero(x, i)) {
            for (int d = 0; d < x->rank; d++) out[d * nnz + col] = pos[d];
            col++;
        }
        for (int d = x->rank - 1; d >= 0; d--) {
            if (++pos[d] < x->dims[d]) break;
            pos[d] = 0;
        }
    }
    return PL_OK;
}

/* ---- ReverseSequence ---- */

static pl_status k_reverse_sequence(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *lens;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(ix_int_input(ctx, 1, "sequence_lens", &lens));
    if (x->rank < 2) return pl_err(PL_ERR_INVALID, "input 'input' must have rank >= 2");
    int64_t ba = pl_attr_int(ctx->node, "batch_axis", 1);
    int64_t ta = pl_attr_int(ctx->node, "time_axis", 0);
    if ((ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta)
        return pl_err(PL_ERR_INVALID, "attributes 'batch_axis' %lld and 'time_axis' %lld must "
                      "be 0 and 1 in some order", (long long)ba, (long long)ta);
    int64_t nb = x->dims[ba], nt = x->dims[ta];
    if (lens->rank != 1 || lens->numel != nb)
        return pl_err(PL_ERR_INVALID, "input 'sequence_lens' must be 1-D of the batch size %lld",
                      (long long)nb);
    int64_t inner = 1;
    for (int d = 2; d < x->rank; d++) inner *= x->dims[d];
    for (int64_t b = 0; b < nb; b++) {
        int64_t l = pl_get_i64(lens, b);
        if (l < 0 || l > nt)
            return pl_err(PL_ERR_INVALID, "input 'sequence_lens' [%lld] is %lld, must be in "
                          "[0, %lld]", (long long)b, (long long)l, (long long)nt);
    }
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, x->dims, &y));
    for (int64_t b = 0; b < nb; b++) {
        int64_t l = pl_get_i64(lens, b);
        for (int64_t t = 0; t < nt; t++) {
            int64_t src_t = t < l ? l - 1 - t : t;
            int64_t dst = ta == 0 ? (t * nb + b) : (b * nt + t);
            int64_t src = ta == 0 ? (src_t * nb + b) : (b * nt + src_t);
            PL_TRY(ix_copy(y, dst * inner, x, src * inner, inner));
        }
    }
    return PL_OK;
}

/* ---- typed comparison and a stable sort (Unique, TopK, ArgMax, ArgMin) ---- */

/* Three-way comparison of elements a and b of a tensor's data; NaN sorts above numbers. */
typedef int (*elem_cmp)(const void *data, int64_t a, int64_t b);

#define DEFINE_INT_CMP(name, T)                                                                    \
    static int name(const void *data, int64_t a, int64_t b) {                                      \
        T x = ((const T *)data)[a], y = ((const T *)data)[b];                                      \
        return (x > y) - (x < y);                                                                  \
    }
DEFINE_INT_CMP(cmp_i8, int8_t)
DEFINE_INT_CMP(cmp_u8, uint8_t)
DEFINE_INT_CMP(cmp_i16, int16_t)
DEFINE_INT_CMP(cmp_u16, uint16_t)
DEFINE_INT_CMP(cmp_i32, int32_t)
DEFINE_INT_CMP(cmp_u32, uint32_t)
DEFINE_INT_CMP(cmp_i64, int64_t)
DEFINE_INT_CMP(cmp_u64, uint64_t)

static int cmp_fp(double x, double y) {
    if (x < y) return -1;
    if (x > y) return 1;
    if (isnan(x)) return isnan(y) ? 0 : 1;
    return isnan(y) ? -1 : 0;
}
static int cmp_f32(const void *d, int64_t a, int64_t b) {
    return cmp_fp(((const float *)d)[a], ((const float *)d)[b]);
}
static int cmp_f64(const void *d, int64_t a, int64_t b) {
    return cmp_fp(((const double *)d)[a], ((const double *)d)[b]);
}
static int cmp_f16(const void *d, int64_t a, int64_t b) {
    const uint16_t *h = d;
    return cmp_fp(pl_half_to_float(h[a]), pl_half_to_float(h[b]));
}
static int cmp_bf16(const void *d, int64_t a, int64_t b) {
    const uint16_t *h = d;
    return cmp_fp(pl_bf16_to_float(h[a]), pl_bf16_to_float(h[b]));
}
static int cmp_str(const void *d, int64_t a, int64_t b) {
    const char *x = ((char *const *)d)[a], *y = ((char *const *)d)[b];
    int c = strcmp(x ? x : "", y ? y : "");
    return (c > 0) - (c < 0);
}

/* The comparison for dtype t; NULL when t cannot be ordered. */
static elem_cmp cmp_for(pl_dtype t) {
    switch (t) {
    case PL_DT_FLOAT: return cmp_f32;
    case PL_DT_DOUBLE: return cmp_f64;
    case PL_DT_FLOAT16: return cmp_f16;
    case PL_DT_BFLOAT16: return cmp_bf16;
    case PL_DT_INT8: return cmp_i8;
    case PL_DT_UINT8:
    case PL_DT_BOOL: return cmp_u8;
    case PL_DT_INT16: return cmp_i16;
    case PL_DT_UINT16: return cmp_u16;
    case PL_DT_INT32: return cmp_i32;
    case PL_DT_UINT32: return cmp_u32;
    case PL_DT_INT64: return cmp_i64;
    case PL_DT_UINT64: return cmp_u64;
    case PL_DT_STRING: return cmp_str;
    default: return NULL;
    }
}

typedef int (*key_cmp)(const void *ctx, int64_t a, int64_t b);

/* Stable bottom-up merge sort of the keys v[0..n) under cmp; tmp holds n keys. */
static void merge_sort(int64_t *v, int64_t *tmp, int64_t n, key_cmp cmp, const void *ctx) {
    int64_t *src = v, *dst = tmp;
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = cmp(ctx, src[i], src[j]) <= 0 ? src[i++] : src[j++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v) memcpy(v, src, (size_t)n * sizeof *v);
}

/* Positions j along one axis line: element base + j * stride, compared in direction dir. */
typedef struct line_ctx {
    elem_cmp cmp;
    const void *data;
    int64_t base, stride;
    int dir; /* 1 ascending, -1 descending */
} line_ctx;

static int line_cmp(const void *ctx, int64_t a, int64_t b) {
    const line_ctx *c = ctx;
    return c->dir * c->cmp(c->data, c->base + a * c->stride, c->base + b * c->stride);
}

/* Two int64 arrays of n entries (malloc'ed together); *a NULL on failure. */
static pl_status alloc_pair(int64_t n, int64_t **a, int64_t **b) {
    int64_t total;
    *a = *b = NULL;
    if (!pl_mul_size(n > 0 ? n : 1, 2, &total) ||
        !(*a = malloc((size_t)total * sizeof **a)))
        return pl_err(PL_ERR_NOMEM, "out of memory for %lld sort keys", (long long)n);
    *b = *a + (n > 0 ? n : 1);
    return PL_OK;
}

/* ---- Unique ---- */

typedef struct slice_ctx {
    elem_cmp cmp;
    const void *data;
    int64_t outer, n, inner;
} slice_ctx;

/* Lexicographic comparison of slices a and b along the unique axis. */
static int slice_cmp(const void *ctx, int64_t a, int64_t b) {
    const slice_ctx *c = ctx;
    for (int64_t o = 0; o < c->outer; o++)
        for (int64_t i = 0; i < c->inner; i++) {
            int r = c->cmp(c->data, (o * c->n + a) * c->inner + i, (o * c->n + b) * c->inner + i);
            if (r) return r;
        }
    return 0;
}

static int first_cmp(const void *ctx, int64_t a, int64_t b) {
    const int64_t *first = ctx;
    return (first[a] > first[b]) - (first[a] < first[b]);
}

/* Writes Unique's outputs from the groups (first index and count of each, in output order)
 * and the group of each slice. */
static pl_status unique_outputs(pl_kernel_ctx *ctx, const pl_tensor *x, bool flat, int axis,
                                const slice_ctx *sc, int64_t ng, const int64_t *first,
                                const int64_t *count, const int64_t *group_of) {
    int64_t dims[PL_MAX_RANK];
    int rank = flat ? 1 : x->rank;
    if (flat) dims[0] = ng;
    else {
        memcpy(dims, x->dims, (size_t)x->rank * sizeof *dims);
        dims[axis] = ng;
    }
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, rank, dims, &y));
    for (int64_t o = 0; o < sc->outer; o++)
        for (int64_t u = 0; u < ng; u++)
            PL_TRY(ix_copy(y, (o * ng + u) * sc->inner, x, (o * sc->n + first[u]) * sc->inner,
                           sc->inner));
    int64_t n1[1] = {ng}, n2[1] = {sc->n};
    if (ctx->n_out > 1) {
        PL_TRY(pl_out(ctx, 1, PL_DT_INT64, 1, n1, &y));
        memcpy(y->data, first, (size_t)ng * sizeof *first);
    }
    if (ctx->n_out > 2) {
        PL_TRY(pl_out(ctx, 2, PL_DT_INT64, 1, n2, &y));
        memcpy(y->data, group_of, (size_t)sc->n * sizeof *group_of);
    }
    if (ctx->n_out > 3) {
        PL_TRY(pl_out(ctx, 3, PL_DT_INT64, 1, n1, &y));
        memcpy(y->data, count, (size_t)ng * sizeof *count);
    }
    return PL_OK;
}

static pl_status k_unique(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    slice_ctx sc = {.cmp = cmp_for(x->dtype), .data = x->data, .outer = 1, .n = x->numel,
                    .inner = 1};
    if (!sc.cmp)
        return pl_err(PL_ERR_UNSUPPORTED, "input 'X' of type %s is not supported",
                      pl_dtype_name(x->dtype));
    bool flat = pl_node_attr(ctx->node, "axis") == NULL;
    bool sorted = pl_attr_int(ctx->node, "sorted", 1) != 0;
    int axis = 0;
    if (!flat) {
        if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 'X' must have rank >= 1");
        PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), x->rank, "attribute 'axis'", &axis));
        ix_split(x, axis, &sc.outer, &sc.n, &sc.inner);
    }
    int64_t n = sc.n, *order, *tmp, *first = NULL, *count, *group_of = NULL, *rank_of;
    PL_TRY(alloc_pair(n, &order, &tmp));
    pl_status st = alloc_pair(n, &first, &count);
    if (st == PL_OK) st = alloc_pair(n, &group_of, &rank_of);
    if (st != PL_OK) goto done;
    for (int64_t j = 0; j < n; j++) order[j] = j;
    merge_sort(order, tmp, n, slice_cmp, &sc);
    int64_t ng = 0;
    for (int64_t k = 0; k < n; k++) {
        if (k == 0 || slice_cmp(&sc, order[k - 1], order[k]) != 0) {
            first[ng] = order[k]; /* stable: the first occurrence */
            count[ng++] = 0;
        }
        count[ng - 1]++;
        group_of[order[k]] = ng - 1;
    }
    if (!sorted) { /* groups in order of first occurrence */
        for (int64_t g = 0; g < ng; g++) order[g] = g;
        merge_sort(order, tmp, ng, first_cmp, first);
        for (int64_t g = 0; g < ng; g++) {
            rank_of[order[g]] = g;
            tmp[g] = first[order[g]];
        }
        for (int64_t g = 0; g < ng; g++) first[g] = tmp[g];
        for (int64_t g = 0; g < ng; g++) tmp[g] = count[order[g]];
        for (int64_t g = 0; g < ng; g++) count[g] = tmp[g];
        for (int64_t j = 0; j < n; j++) group_of[j] = rank_of[group_of[j]];
    }
    st = unique_outputs(ctx, x, flat, axis, &sc, ng, first, count, group_of);
done:
    free(order);
    free(first);
    free(group_of);
    return st;
}

/* ---- CumSum ---- */

static pl_status k_cumsum(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *axis_t;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(ix_int_input(ctx, 1, "axis", &axis_t));
    if (!pl_dtype_is_float(x->dtype) && !pl_dtype_is_int(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input 'x' of type %s is not supported",
                      pl_dtype_name(x->dtype));
    if (axis_t->numel != 1 || axis_t->rank > 1)
        return pl_err(PL_ERR_INVALID, "input 'axis' must be a scalar, has %lld elements",
                      (long long)axis_t->numel);
    if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 'x' must have rank >= 1");
    int axis;
    PL_TRY(pl_axis(pl_get_i64(axis_t, 0), x->rank, "input 'axis'", &axis));
    bool exclusive = pl_attr_int(ctx->node, "exclusive", 0) != 0;
    bool reverse = pl_attr_int(ctx->node, "reverse", 0) != 0;
    int64_t outer, n, inner;
    ix_split(x, axis, &outer, &n, &inner);
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, x->dims, &y));
    bool ints = pl_dtype_is_int(x->dtype);
    double *facc = malloc((size_t)(inner ? inner : 1) * sizeof *facc);
    int64_t *iacc = malloc((size_t)(inner ? inner : 1) * sizeof *iacc);
    if (!facc || !iacc) {
        free(facc);
        free(iacc);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) facc[i] = 0.0, iacc[i] = 0;
        for (int64_t jj = 0; jj < n; jj++) {
            int64_t j = reverse ? n - 1 - jj : jj, row = (o * n + j) * inner;
            for (int64_t i = 0; i < inner; i++) {
                int64_t e = row + i;
                if (ints) {
                    int64_t v = pl_get_i64(x, e), before = iacc[i];
                    iacc[i] = (int64_t)((uint64_t)iacc[i] + (uint64_t)v);
                    pl_set_i64(y, e, exclusive ? before : iacc[i]);
                } else if (x->dtype == PL_DT_FLOAT) {
                    double before = facc[i];
                    facc[i] += ((const float *)x->data)[e];
                    ((float *)y->data)[e] = (float)(exclusive ? before : facc[i]);
                } else {
                    double before = facc[i];
                    facc[i] += pl_get_f64(x, e);
                    pl_set_f64(y, e, exclusive ? before : facc[i]);
                }
            }
        }
    }
    free(facc);
    free(iacc);
    return PL_OK;
}

/* ---- TopK ---- */

/* k from the attribute (before opset 10) or the 1-element input 'K'. */
static pl_status top_k_count(const pl_kernel_ctx *ctx, int64_t *k) {
    if (ctx->opset < 10) {
        if (!pl_node_attr(ctx->node, "k"))
            return pl_err(PL_ERR_INVALID, "attribute 'k' is required before opset 10");
        *k = pl_attr_int(ctx->node, "k", 0);
        return PL_OK;
    }
    const pl_tensor *kt;
    PL_TRY(ix_int_input(ctx, 1, "K", &kt));
    if (kt->numel != 1 || kt->rank > 1)
        return pl_err(PL_ERR_INVALID, "input 'K' must hold one value, has %lld",
                      (long long)kt->numel);
    *k = pl_get_i64(kt, 0);
    return PL_OK;
}

enum { TOP_K_INSERT_MAX = 32 };

/* The k best positions of one line into top[0..k), best first, ties by lower index: a sorted
 * insertion buffer, O(n) for typical data when k is small. */
static void select_top_k(int64_t *top, int64_t n, int64_t k, const line_ctx *lc) {
    int64_t len = 0;
    if (k <= 0) return;
    for (int64_t j = 0; j < n; j++) {
        if (len == k && line_cmp(lc, j, top[len - 1]) >= 0) continue;
        int64_t p = len < k ? len++ : len - 1;
        while (p > 0 && line_cmp(lc, j, top[p - 1]) < 0) {
            top[p] = top[p - 1];
            p--;
        }
        top[p] = j;
    }
}

static pl_status k_top_k(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    line_ctx lc = {.cmp = cmp_for(x->dtype), .data = x->data};
    if (!lc.cmp || x->dtype == PL_DT_STRING)
        return pl_err(PL_ERR_UNSUPPORTED, "input 'X' of type %s is not supported",
                      pl_dtype_name(x->dtype));
    if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 'X' must have rank >= 1");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", -1), x->rank, "attribute 'axis'", &axis));
    int64_t k = 0, outer, n, inner;
    PL_TRY(top_k_count(ctx, &k));
    ix_split(x, axis, &outer, &n, &inner);
    if (k < 0 || k > n)
        return pl_err(PL_ERR_INVALID, "k = %lld is outside [0, %lld] (axis %d)", (long long)k,
                      (long long)n, axis);
    /* ties keep the lower index first; `sorted` = 0 may return any order, we sort anyway */
    lc.dir = ctx->opset >= 11 && pl_attr_int(ctx->node, "largest", 1) == 0 ? 1 : -1;
    int64_t dims[PL_MAX_RANK];
    memcpy(dims, x->dims, (size_t)x->rank * sizeof *dims);
    dims[axis] = k;
    pl_tensor *vals, *idx;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, dims, &vals));
    PL_TRY(pl_out(ctx, 1, PL_DT_INT64, x->rank, dims, &idx));
    if (vals->numel == 0) return PL_OK;
    int64_t *order, *tmp, *out_idx = idx->data;
    PL_TRY(alloc_pair(n, &order, &tmp));
    size_t es = pl_dtype_size(x->dtype);
    lc.stride = inner;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            lc.base = o * n * inner + i;
            if (k <= TOP_K_INSERT_MAX) select_top_k(order, n, k, &lc);
            else {
                for (int64_t j = 0; j < n; j++) order[j] = j;
                merge_sort(order, tmp, n, line_cmp, &lc);
            }
            for (int64_t j = 0; j < k; j++) {
                int64_t dst = (o * k + j) * inner + i;
                memcpy((char *)vals->data + (size_t)dst * es,
                       (const char *)x->data + (size_t)(lc.base + order[j] * inner) * es, es);
                out_idx[dst] = order[j];
            }
        }
    free(order);
    return PL_OK;
}

/* ---- ArgMax / ArgMin ---- */

static pl_status arg_extreme(pl_kernel_ctx *ctx, int dir) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    elem_cmp cmp = cmp_for(x->dtype);
    if (!cmp || x->dtype == PL_DT_STRING)
        return pl_err(PL_ERR_UNSUPPORTED, "input 'data' of type %s is not supported",
                      pl_dtype_name(x->dtype));
    if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 'data' must have rank >= 1");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 0), x->rank, "attribute 'axis'", &axis));
    bool keepdims = pl_attr_int(ctx->node, "keepdims", 1) != 0;
    bool last = pl_attr_int(ctx->node, "select_last_index", 0) != 0;
    int64_t outer, n, inner;
    ix_split(x, axis, &outer, &n, &inner);
    if (n == 0 && outer * inner > 0)
        return pl_err(PL_ERR_INVALID, "axis %d of input 'data' is empty", axis);
    int64_t dims[PL_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++) {
        if (d != axis) dims[r++] = x->dims[d];
        else if (keepdims) dims[r++] = 1;
    }
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, PL_DT_INT64, r, dims, &y));
    int64_t *out = y->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i, best = 0;
            for (int64_t j = 1; j < n; j++) {
                int c = dir * cmp(x->data, base + j * inner, base + best * inner);
                if (c > 0 || (c == 0 && last)) best = j;
            }
            out[o * inner + i] = best;
        }
    return PL_OK;
}

static pl_status k_arg_max(pl_kernel_ctx *ctx) { return arg_extreme(ctx, 1); }
static pl_status k_arg_min(pl_kernel_ctx *ctx) { return arg_extreme(ctx, -1); }

const pl_op_schema pl_ops_index[] = {
    {"", "Gather", 2, 2, 1, 1, k_gather},
    {"", "GatherElements", 2, 2, 1, 1, k_gather_elements},
    {"", "GatherND", 2, 2, 1, 1, k_gather_nd},
    {"", "Scatter", 3, 3, 1, 1, k_scatter},
    {"", "ScatterElements", 3, 3, 1, 1, k_scatter_elements},
    {"", "ScatterND", 3, 3, 1, 1, k_scatter_nd},
    {"", "OneHot", 3, 3, 1, 1, k_one_hot},
    {"", "Compress", 2, 2, 1, 1, k_compress},
    {"", "NonZero", 1, 1, 1, 1, k_non_zero},
    {"", "ReverseSequence", 2, 2, 1, 1, k_reverse_sequence},
    {"", "Unique", 1, 1, 1, 4, k_unique},
    {"", "CumSum", 2, 2, 1, 1, k_cumsum},
    {"", "TopK", 1, 2, 2, 2, k_top_k},
    {"", "ArgMax", 1, 1, 1, 1, k_arg_max},
    {"", "ArgMin", 1, 1, 1, 1, k_arg_min},
    {0},
};
