/* shape.c - shape-family kernels that create or re-label tensors: Constant, Identity, Shape,
 * Size, Reshape, Flatten, Squeeze, Unsqueeze, ConstantOfShape, Dropout, Range, EyeLike and
 * Trilu, plus the family's schema table. The data-movement kernels (Transpose, Concat, Split,
 * Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth) live in shape_copy.c. */
#include "shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* ---- helpers ---- */

/* Output 0 = a deep copy of x with the shape (rank, dims), which must hold as many elements. */
static pl_status out_reshaped(pl_kernel_ctx *ctx, const pl_tensor *x, int rank,
                              const int64_t *dims) {
    int64_t n;
    char b0[256], b1[256];
    if (rank < 0 || rank > PL_MAX_RANK)
        return pl_err(PL_ERR_UNSUPPORTED, "output rank %d is above %d", rank, PL_MAX_RANK);
    if (!pl_dims_numel(rank, dims, &n) || n != x->numel)
        return pl_err(PL_ERR_INVALID, "cannot reshape input of shape %s (%lld elements) to %s",
                      pl_dims_str(x->rank, x->dims, b0, sizeof b0), (long long)x->numel,
                      pl_dims_str(rank, dims, b1, sizeof b1));
    if (ctx->view_rank) {
        *ctx->view_rank = rank;
        memcpy(ctx->view_dims, dims, (size_t)rank * sizeof *dims);
        return PL_OK;
    }
    pl_tensor *y;
    PL_TRY(pl_tensor_clone(x, &y));
    y->rank = rank;
    for (int i = 0; i < PL_MAX_RANK; i++) y->dims[i] = i < rank ? dims[i] : 0;
    pl_out_set(ctx, 0, y);
    return PL_OK;
}

/* Axes from the attribute (opset < 13) or input 1 (opset >= 13); *axes NULL when absent. */
static pl_status axes_arg(pl_kernel_ctx *ctx, int64_t **axes, int64_t *count) {
    *axes = NULL;
    *count = 0;
    if (ctx->opset < 13) {
        int n;
        const int64_t *a = pl_attr_ints(ctx->node, "axes", &n);
        if (!a) return PL_OK;
        *axes = malloc((size_t)(n ? n : 1) * sizeof **axes);
        if (!*axes) return pl_err(PL_ERR_NOMEM, "out of memory");
        if (n) memcpy(*axes, a, (size_t)n * sizeof **axes);
        *count = n;
        return PL_OK;
    }
    const pl_tensor *t = pl_in(ctx, 1);
    if (!t) return PL_OK;
    if (t->kind != PL_KIND_TENSOR) return pl_err(PL_ERR_INVALID, "input axes must be a tensor");
    return pl_as_int64s(t, "input axes", axes, count);
}

/* Normalises axes against rank r into a mask; errors on out-of-range or repeated axes. */
static pl_status axes_mask(const int64_t *axes, int64_t n, int r, bool *mask) {
    for (int i = 0; i < r; i++) mask[i] = false;
    for (int64_t k = 0; k < n; k++) {
        int a;
        PL_TRY(pl_axis(axes[k], r, "axes entry", &a));
        if (mask[a]) return pl_err(PL_ERR_INVALID, "axes repeat axis %lld", (long long)axes[k]);
        mask[a] = true;
    }
    return PL_OK;
}

/* ---- Constant, Identity, Shape, Size ---- */

/* A 1-D or scalar tensor from an attribute's value list. */
static pl_status constant_from_attr(const pl_attr *a, pl_tensor **out) {
    int64_t n = a->n;
    pl_tensor *t = NULL;
    switch (a->type) {
    case PL_ATTR_TENSOR: return pl_tensor_clone(a->t, out);
    case PL_ATTR_FLOAT:
        PL_TRY(pl_tensor_create(PL_DT_FLOAT, 0, NULL, &t));
        ((float *)t->data)[0] = a->f;
        break;
    case PL_ATTR_INT:
        PL_TRY(pl_tensor_create(PL_DT_INT64, 0, NULL, &t));
        ((int64_t *)t->data)[0] = a->i;
        break;
    case PL_ATTR_FLOATS:
        PL_TRY(pl_tensor_create(PL_DT_FLOAT, 1, &n, &t));
        if (n) memcpy(t->data, a->floats, (size_t)n * sizeof(float));
        break;
    case PL_ATTR_INTS:
        PL_TRY(pl_tensor_create(PL_DT_INT64, 1, &n, &t));
        if (n) memcpy(t->data, a->ints, (size_t)n * sizeof(int64_t));
        break;
    case PL_ATTR_STRING:
    case PL_ATTR_STRINGS: {
        bool one = a->type == PL_ATTR_STRING;
        PL_TRY(pl_tensor_create(PL_DT_STRING, one ? 0 : 1, &n, &t));
        char **d = t->data;
        for (int64_t i = 0; i < t->numel; i++) {
            d[i] = pl_strdup(one ? a->s : a->strings[i]);
            if (!d[i]) {
                pl_tensor_destroy(t);
                return pl_err(PL_ERR_NOMEM, "out of memory");
            }
        }
        break;
    }
    default:
        return pl_err(PL_ERR_INVALID, "attribute %s has the wrong type %d", a->name, a->type);
    }
    *out = t;
    return PL_OK;
}

static pl_status op_constant(pl_kernel_ctx *ctx) {
    static const char *const names[] = {"value",      "sparse_value",  "value_float",
                                        "value_floats", "value_int",   "value_ints",
                                        "value_string", "value_strings"};
    const pl_attr *found = NULL;
    int count = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const pl_attr *a = pl_node_attr(ctx->node, names[i]);
        if (a) {
            found = a;
            count++;
        }
    }
    if (count != 1)
        return pl_err(PL_ERR_INVALID, "Constant needs exactly one value attribute, has %d", count);
    if (strcmp(found->name, "sparse_value") == 0)
        return pl_err(PL_ERR_UNSUPPORTED, "attribute sparse_value (sparse tensors) is not supported");
    pl_tensor *t;
    PL_TRY(constant_from_attr(found, &t));
    pl_out_set(ctx, 0, t);
    return PL_OK;
}

static pl_status op_identity(pl_kernel_ctx *ctx) {
    const pl_tensor *x = pl_in(ctx, 0);
    if (!x) return pl_err(PL_ERR_INVALID, "input 0 is required but missing");
    pl_tensor *y;
    PL_TRY(pl_tensor_clone(x, &y));
    pl_out_set(ctx, 0, y);
    return PL_OK;
}

/* Clamps a Shape start/end attribute into [0, r]. */
static int64_t shape_bound(int64_t v, int r) {
    if (v < 0) v += r;
    return v < 0 ? 0 : v > r ? r : v;
}

static pl_status op_shape(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int64_t start = 0, end = x->rank;
    if (ctx->opset >= 15) {
        start = shape_bound(pl_attr_int(ctx->node, "start", 0), x->rank);
        end = shape_bound(pl_attr_int(ctx->node, "end", x->rank), x->rank);
    }
    int64_t n = end > start ? end - start : 0;
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, PL_DT_INT64, 1, &n, &y));
    for (int64_t i = 0; i < n; i++) ((int64_t *)y->data)[i] = x->dims[start + i];
    return PL_OK;
}

static pl_status op_size(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, PL_DT_INT64, 0, NULL, &y));
    ((int64_t *)y->data)[0] = x->numel;
    return PL_OK;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze ---- */

/* Resolves a Reshape target (0 = copy, -1 = infer) against x into dims. */
static pl_status reshape_dims(const pl_tensor *x, const int64_t *shape, int64_t n, bool allowzero,
                              int64_t *dims) {
    char buf[256];
    if (n > PL_MAX_RANK)
        return pl_err(PL_ERR_UNSUPPORTED, "shape has %lld dims, more than %d", (long long)n,
                      PL_MAX_RANK);
    int infer = -1;
    int64_t known = 1;
    bool zero = false;
    for (int i = 0; i < n; i++) {
        int64_t d = shape[i];
        if (d == -1) {
            if (infer >= 0) return pl_err(PL_ERR_INVALID, "shape has more than one -1");
            infer = i;
            continue;
        }
        if (d < -1) return pl_err(PL_ERR_INVALID, "shape entry %d is %lld", i, (long long)d);
        if (d == 0 && !allowzero) {
            if (i >= x->rank)
                return pl_err(PL_ERR_INVALID, "shape entry %d is 0 (copy) but the input %s has "
                              "rank %d", i, pl_dims_str(x->rank, x->dims, buf, sizeof buf),
                              x->rank);
            d = x->dims[i];
        }
        if (d == 0) zero = true;
        if (!pl_mul_size(known, d, &known))
            return pl_err(PL_ERR_INVALID, "shape %s overflows",
                          pl_dims_str((int)n, shape, buf, sizeof buf));
        dims[i] = d;
    }
    if (infer >= 0) {
        if (zero && allowzero)
            return pl_err(PL_ERR_INVALID, "shape has both -1 and 0 with allowzero=1");
        if (known == 0 || x->numel % known != 0) {
            char b1[256];
            return pl_err(PL_ERR_INVALID, "cannot infer the -1 of shape %s for an input of "
                          "shape %s (%lld elements)", pl_dims_str((int)n, shape, buf, sizeof buf),
                          pl_dims_str(x->rank, x->dims, b1, sizeof b1), (long long)x->numel);
        }
        dims[infer] = x->numel / known;
    }
    return PL_OK;
}

static pl_status op_reshape(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int64_t *shape = NULL, n = 0;
    if (ctx->opset < 5) {
        int na;
        const int64_t *a = pl_attr_ints(ctx->node, "shape", &na);
        if (!a) return pl_err(PL_ERR_INVALID, "attribute shape is required");
        shape = malloc((size_t)(na ? na : 1) * sizeof *shape);
        if (!shape) return pl_err(PL_ERR_NOMEM, "out of memory");
        if (na) memcpy(shape, a, (size_t)na * sizeof *shape);
        n = na;
    } else {
        const pl_tensor *s;
        PL_TRY(pl_in_req(ctx, 1, &s));
        PL_TRY(pl_as_int64s(s, "input shape", &shape, &n));
    }
    bool allowzero = ctx->opset >= 14 && pl_attr_int(ctx->node, "allowzero", 0) != 0;
    int64_t dims[PL_MAX_RANK];
    pl_status st = reshape_dims(x, shape, n, allowzero, dims);
    free(shape);
    PL_TRY(st);
    return out_reshaped(ctx, x, (int)n, dims);
}

static pl_status op_flatten(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int64_t axis = pl_attr_int(ctx->node, "axis", 1);
    int r = x->rank;
    if (axis < -r || axis > r)
        return pl_err(PL_ERR_INVALID, "attribute axis %lld is out of range for rank %d",
                      (long long)axis, r);
    if (axis < 0) axis += r;
    int64_t dims[2] = {1, 1};
    for (int i = 0; i < r; i++) dims[i < axis ? 0 : 1] *= x->dims[i];
    return out_reshaped(ctx, x, 2, dims);
}

static pl_status op_squeeze(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int64_t *axes, n;
    PL_TRY(axes_arg(ctx, &axes, &n));
    if (axes && n == 0) { /* an empty axes list squeezes every unit axis, as when absent */
        free(axes);
        axes = NULL;
    }
    bool mask[PL_MAX_RANK];
    pl_status st = axes_mask(axes, n, x->rank, mask);
    int r = 0;
    int64_t dims[PL_MAX_RANK];
    for (int i = 0; st == PL_OK && i < x->rank; i++) {
        if (!axes) mask[i] = x->dims[i] == 1;
        if (mask[i] && x->dims[i] != 1)
            st = pl_err(PL_ERR_INVALID, "cannot squeeze axis %d of size %lld", i,
                        (long long)x->dims[i]);
        if (!mask[i]) dims[r++] = x->dims[i];
    }
    free(axes);
    PL_TRY(st);
    return out_reshaped(ctx, x, r, dims);
}

static pl_status op_unsqueeze(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int64_t *axes, n;
    PL_TRY(axes_arg(ctx, &axes, &n));
    pl_status st = PL_OK;
    if (!axes) st = pl_err(PL_ERR_INVALID, "axes are required");
    else if (x->rank + n > PL_MAX_RANK)
        st = pl_err(PL_ERR_UNSUPPORTED, "output rank %lld is above %d",
                    (long long)(x->rank + n), PL_MAX_RANK);
    int r = st == PL_OK ? x->rank + (int)n : 0;
    bool mask[PL_MAX_RANK];
    if (st == PL_OK) st = axes_mask(axes, n, r, mask);
    free(axes);
    PL_TRY(st);
    int64_t dims[PL_MAX_RANK];
    for (int i = 0, j = 0; i < r; i++) dims[i] = mask[i] ? 1 : x->dims[j++];
    return out_reshaped(ctx, x, r, dims);
}

/* ---- ConstantOfShape ---- */

pl_status pl_shape_input(const pl_tensor *s, int64_t *dims, int *rank) {
    int64_t *shape, n;
    PL_TRY(pl_as_int64s(s, "input shape", &shape, &n));
    pl_status st = PL_OK;
    if (n > PL_MAX_RANK)
        st = pl_err(PL_ERR_UNSUPPORTED, "input shape has %lld dims, more than %d", (long long)n,
                    PL_MAX_RANK);
    for (int64_t i = 0; st == PL_OK && i < n; i++) {
        if (shape[i] < 0)
            st = pl_err(PL_ERR_INVALID, "input shape entry %lld is negative (%lld)",
                        (long long)i, (long long)shape[i]);
        dims[i] = shape[i];
    }
    free(shape);
    *rank = (int)n;
    return st;
}

static pl_status op_constant_of_shape(pl_kernel_ctx *ctx) {
    const pl_tensor *s;
    PL_TRY(pl_in_req(ctx, 0, &s));
    int64_t shape[PL_MAX_RANK];
    int n;
    PL_TRY(pl_shape_input(s, shape, &n));
    const pl_attr *va = pl_node_attr(ctx->node, "value");
    if (va && (va->type != PL_ATTR_TENSOR || va->t->numel != 1 || va->t->kind != PL_KIND_TENSOR))
        return pl_err(PL_ERR_INVALID, "attribute value must be a one-element tensor");
    pl_tensor *y = NULL;
    PL_TRY(pl_out(ctx, 0, va ? va->t->dtype : PL_DT_FLOAT, n, shape, &y));
    return va ? pl_shape_fill(y, va->t) : PL_OK;
}

/* ---- Dropout ---- */

/* MT19937 as numpy's legacy RandomState, so a seeded Dropout matches the ONNX reference. */
typedef struct mt19937 {
    uint32_t mt[624];
    int pos;
} mt19937;

static void mt_seed(mt19937 *g, uint32_t seed) {
    g->mt[0] = seed;
    for (int i = 1; i < 624; i++)
        g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + (uint32_t)i;
    g->pos = 624;
}

static uint32_t mt_next(mt19937 *g) {
    if (g->pos >= 624) {
        for (int i = 0; i < 624; i++) {
            uint32_t y = (g->mt[i] & 0x80000000u) | (g->mt[(i + 1) % 624] & 0x7fffffffu);
            g->mt[i] = g->mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        g->pos = 0;
    }
    uint32_t y = g->mt[g->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* Uniform double in [0, 1) with 53 random bits (numpy's random_sample). */
static double mt_uniform(mt19937 *g) {
    uint32_t a = mt_next(g) >> 5, b = mt_next(g) >> 6;
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

/* Training-mode dropout: y = x * mask / (1 - ratio) with mask = uniform >= ratio. */
static pl_status dropout_train(pl_kernel_ctx *ctx, const pl_tensor *x, double ratio) {
    if (!pl_dtype_is_float(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "training Dropout of %s is not supported",
                      pl_dtype_name(x->dtype));
    if (!(ratio >= 0.0 && ratio < 1.0))
        return pl_err(PL_ERR_INVALID, "ratio %g must be in [0, 1) in training mode", ratio);
    pl_tensor *y, *mask = NULL;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, x->dims, &y));
    if (ctx->n_out > 1) PL_TRY(pl_out(ctx, 1, PL_DT_BOOL, x->rank, x->dims, &mask));
    mt19937 *g = malloc(sizeof *g);
    if (!g) return pl_err(PL_ERR_NOMEM, "out of memory");
    mt_seed(g, (uint32_t)pl_attr_int(ctx->node, "seed", 0));
    float scale_f = (float)(1.0 / (1.0 - ratio));
    double scale = 1.0 / (1.0 - ratio);
    for (int64_t i = 0; i < x->numel; i++) {
        bool keep = mt_uniform(g) >= ratio;
        if (mask) ((uint8_t *)mask->data)[i] = keep;
        if (x->dtype == PL_DT_FLOAT)
            ((float *)y->data)[i] = ((const float *)x->data)[i] * (keep ? 1.0f : 0.0f) * scale_f;
        else
            pl_set_f64(y, i, pl_get_f64(x, i) * (keep ? 1.0 : 0.0) * scale);
    }
    free(g);
    return PL_OK;
}

static pl_status op_dropout(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    double ratio = pl_attr_float(ctx->node, "ratio", 0.5f);
    bool training = false;
    if (ctx->opset >= 12) {
        const pl_tensor *r = pl_in(ctx, 1), *t = pl_in(ctx, 2);
        if (r && (r->kind != PL_KIND_TENSOR || r->numel != 1 || !pl_dtype_is_float(r->dtype)))
            return pl_err(PL_ERR_INVALID, "input ratio must be a floating-point scalar");
        if (t && (t->kind != PL_KIND_TENSOR || t->numel != 1 || t->dtype != PL_DT_BOOL))
            return pl_err(PL_ERR_INVALID, "input training_mode must be a bool scalar");
        ratio = r ? pl_get_f64(r, 0) : 0.5;
        training = t && ((const uint8_t *)t->data)[0];
    }
    if (training && ratio != 0.0) return dropout_train(ctx, x, ratio);
    pl_tensor *y;
    PL_TRY(pl_tensor_clone(x, &y));
    pl_out_set(ctx, 0, y);
    if (ctx->n_out > 1) {
        pl_tensor *mask;
        pl_dtype mdt = ctx->opset >= 10 ? PL_DT_BOOL : x->dtype;
        if (mdt == PL_DT_STRING) return pl_err(PL_ERR_UNSUPPORTED, "Dropout of strings");
        PL_TRY(pl_out(ctx, 1, mdt, x->rank, x->dims, &mask));
        for (int64_t i = 0; i < mask->numel; i++) pl_set_f64(mask, i, 1.0);
    }
    return PL_OK;
}

/* ---- Range ---- */

/* Element count of an integer range, or an error on zero delta / overflow. */
static pl_status range_count_int(int64_t start, int64_t limit, int64_t delta, int64_t *count) {
    if (delta == 0) return pl_err(PL_ERR_INVALID, "input delta is 0");
    int64_t diff;
    if (__builtin_sub_overflow(limit, start, &diff))
        return pl_err(PL_ERR_INVALID, "range %lld..%lld is too large", (long long)start,
                      (long long)limit);
    if ((diff > 0) != (delta > 0) || diff == 0) {
        *count = 0;
        return PL_OK;
    }
    /* ceil(diff / delta) with both of the same sign */
    int64_t q = diff / delta;
    *count = q * delta == diff ? q : q + 1;
    return PL_OK;
}

static pl_status op_range(pl_kernel_ctx *ctx) {
    const pl_tensor *in[3];
    static const char *const names[3] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; i++) {
        PL_TRY(pl_in_req(ctx, i, &in[i]));
        if (in[i]->numel != 1)
            return pl_err(PL_ERR_INVALID, "input %s must be a scalar, has %lld elements",
                          names[i], (long long)in[i]->numel);
        if (in[i]->dtype != in[0]->dtype)
            return pl_err(PL_ERR_INVALID, "input %s is %s, start is %s", names[i],
                          pl_dtype_name(in[i]->dtype), pl_dtype_name(in[0]->dtype));
    }
    pl_dtype dt = in[0]->dtype;
    pl_tensor *y;
    int64_t count;
    if (pl_dtype_is_int(dt)) {
        int64_t s = pl_get_i64(in[0], 0), l = pl_get_i64(in[1], 0), d = pl_get_i64(in[2], 0);
        PL_TRY(range_count_int(s, l, d, &count));
        PL_TRY(pl_out(ctx, 0, dt, 1, &count, &y));
        for (int64_t i = 0; i < count; i++) pl_set_i64(y, i, (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)d));
        return PL_OK;
    }
    if (!pl_dtype_is_float(dt))
        return pl_err(PL_ERR_UNSUPPORTED, "Range of %s is not supported", pl_dtype_name(dt));
    double s = pl_get_f64(in[0], 0), l = pl_get_f64(in[1], 0), d = pl_get_f64(in[2], 0);
    if (d == 0.0 || isnan(d)) return pl_err(PL_ERR_INVALID, "input delta is %g", d);
    double c = ceil((l - s) / d);
    if (isnan(c) || c > 4e18)
        return pl_err(PL_ERR_INVALID, "range %g..%g step %g has too many elements", s, l, d);
    count = c > 0 ? (int64_t)c : 0;
    PL_TRY(pl_out(ctx, 0, dt, 1, &count, &y));
    if (dt == PL_DT_FLOAT) {
        float fs = (float)s, fd = (float)d;
        for (int64_t i = 0; i < count; i++) ((float *)y->data)[i] = fs + (float)i * fd;
    } else {
        for (int64_t i = 0; i < count; i++) pl_set_f64(y, i, s + (double)i * d);
    }
    return PL_OK;
}

/* ---- EyeLike and Trilu ---- */

static pl_status op_eyelike(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->rank != 2) return pl_err(PL_ERR_INVALID, "input must be 2-D, has rank %d", x->rank);
    const pl_attr *da = pl_node_attr(ctx->node, "dtype");
    int64_t dt = da ? da->i : (int64_t)x->dtype;
    if (!pl_dtype_valid((int)dt) || dt != (int)dt)
        return pl_err(PL_ERR_INVALID, "attribute dtype %lld is not a known type", (long long)dt);
    if (dt == PL_DT_STRING)
        return pl_err(PL_ERR_UNSUPPORTED, "EyeLike of %s is not supported",
                      pl_dtype_name((pl_dtype)dt));
    int64_t k = pl_attr_int(ctx->node, "k", 0);
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, (pl_dtype)dt, 2, x->dims, &y));
    int64_t rows = x->dims[0], cols = x->dims[1];
    for (int64_t i = 0; i < rows; i++) {
        if (k > cols || k < -rows) break;
        int64_t j = i + k;
        if (j >= 0 && j < cols) pl_set_f64(y, i * cols + j, 1.0);
    }
    return PL_OK;
}

/* Zeroes elements [from, to) of t (strings become ""). */
static pl_status zero_range(pl_tensor *t, int64_t from, int64_t to) {
    if (to <= from) return PL_OK;
    if (t->dtype == PL_DT_STRING) {
        char **d = t->data;
        for (int64_t i = from; i < to; i++) {
            d[i][0] = '\0'; /* clones always hold an allocated string */
        }
        return PL_OK;
    }
    size_t es = pl_dtype_size(t->dtype);
    memset((char *)t->data + (size_t)from * es, 0, (size_t)(to - from) * es);
    return PL_OK;
}

static pl_status op_trilu(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->rank < 2) return pl_err(PL_ERR_INVALID, "input must have rank >= 2, has %d", x->rank);
    int64_t k = 0;
    const pl_tensor *kt = pl_in(ctx, 1);
    if (kt) {
        if (kt->kind != PL_KIND_TENSOR || kt->numel != 1 || !pl_dtype_is_int(kt->dtype))
            return pl_err(PL_ERR_INVALID, "input k must be an integer scalar");
        k = pl_get_i64(kt, 0);
    }
    bool upper = pl_attr_int(ctx->node, "upper", 1) != 0;
    pl_tensor *y;
    PL_TRY(pl_tensor_clone(x, &y));
    pl_out_set(ctx, 0, y);
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    int64_t mats = (rows > 0 && cols > 0) ? x->numel / (rows * cols) : 0;
    /* clamp k so i + k cannot overflow */
    if (k > cols + 1) k = cols + 1;
    if (k < -rows - 1) k = -rows - 1;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++) {
            int64_t row = (m * rows + i) * cols;
            int64_t lo = upper ? 0 : i + k + 1, hi = upper ? i + k : cols;
            lo = lo < 0 ? 0 : lo > cols ? cols : lo;
            hi = hi < 0 ? 0 : hi > cols ? cols : hi;
            PL_TRY(zero_range(y, row + lo, row + hi));
        }
    return PL_OK;
}

const pl_op_schema pl_ops_shape[] = {
    {"", "Constant", 0, 0, 1, 1, op_constant},
    {"", "Identity", 1, 1, 1, 1, op_identity},
    {"", "Shape", 1, 1, 1, 1, op_shape},
    {"", "Size", 1, 1, 1, 1, op_size},
    {"", "Reshape", 1, 2, 1, 1, op_reshape},
    {"", "Flatten", 1, 1, 1, 1, op_flatten},
    {"", "Squeeze", 1, 2, 1, 1, op_squeeze},
    {"", "Unsqueeze", 1, 2, 1, 1, op_unsqueeze},
    {"", "Transpose", 1, 1, 1, 1, pl_shape_transpose},
    {"", "Concat", 1, -1, 1, 1, pl_shape_concat},
    {"", "Split", 1, 2, 1, -1, pl_shape_split},
    {"", "Slice", 1, 5, 1, 1, pl_shape_slice},
    {"", "Expand", 2, 2, 1, 1, pl_shape_expand},
    {"", "Tile", 2, 3, 1, 1, pl_shape_tile},
    {"", "Pad", 1, 4, 1, 1, pl_shape_pad},
    {"", "ConstantOfShape", 1, 1, 1, 1, op_constant_of_shape},
    {"", "Dropout", 1, 3, 1, 2, op_dropout},
    {"", "DepthToSpace", 1, 1, 1, 1, pl_shape_depth_to_space},
    {"", "SpaceToDepth", 1, 1, 1, 1, pl_shape_space_to_depth},
    {"", "Range", 3, 3, 1, 1, op_range},
    {"", "EyeLike", 1, 1, 1, 1, op_eyelike},
    {"", "Trilu", 1, 2, 1, 1, op_trilu},
    {0},
};
