/* quant.c - quantization reference kernels: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, QLinearConv, QLinearMatMul, ConvInteger and MatMulInteger.
 * Integer arithmetic accumulates exactly (int64) and wraps to int32 where ONNX says int32;
 * requantization computes in float and rounds half to even, as ONNX Runtime does. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Saturation range of a quantized dtype; false when the dtype is not a quantized integer. */
static bool qrange(pl_dtype t, int64_t *lo, int64_t *hi) {
    switch (t) {
    case PL_DT_INT8: *lo = -128; *hi = 127; return true;
    case PL_DT_UINT8: *lo = 0; *hi = 255; return true;
    case PL_DT_INT16: *lo = -32768; *hi = 32767; return true;
    case PL_DT_UINT16: *lo = 0; *hi = 65535; return true;
    case PL_DT_INT32: *lo = INT32_MIN; *hi = INT32_MAX; return true;
    default: return false;
    }
}

/* Round half to even and saturate into [lo, hi]. */
static int64_t saturate(double v, int64_t lo, int64_t hi) {
    if (isnan(v)) return 0;
    v = nearbyint(v);
    if (v < (double)lo) return lo;
    if (v > (double)hi) return hi;
    return (int64_t)v;
}

static bool is_float_type(pl_dtype t) {
    return t == PL_DT_FLOAT || t == PL_DT_FLOAT16 || t == PL_DT_BFLOAT16 || t == PL_DT_DOUBLE;
}

/* A scale or zero point: per tensor (one element) or per axis (1-D of the axis length). */
typedef struct qparam {
    const pl_tensor *t; /* borrowed; NULL for an absent zero point (0) */
    bool per_axis;
} qparam;

/* Validates a scale / zero point against the axis length `len` (0: per tensor only). */
static pl_status qparam_init(const pl_tensor *t, const char *what, int64_t len, qparam *p) {
    p->t = t;
    p->per_axis = false;
    if (!t) return PL_OK;
    if (t->kind != PL_KIND_TENSOR) return pl_err(PL_ERR_INVALID, "%s must be a tensor", what);
    if (t->numel == 1 && t->rank <= 1) return PL_OK;
    if (t->rank == 1 && len > 0 && t->dims[0] == len) {
        p->per_axis = true;
        return PL_OK;
    }
    char s[128];
    return pl_err(PL_ERR_INVALID, "%s has shape %s; expected a scalar%s%lld", what,
                  pl_dims_str(t->rank, t->dims, s, sizeof s),
                  len > 0 ? " or a 1-D tensor of length " : "", len > 0 ? (long long)len : 0LL);
}

static double qparam_f(const qparam *p, int64_t c) {
    if (!p->t) return 0.0;
    return pl_get_f64(p->t, p->per_axis ? c : 0);
}

static int64_t qparam_i(const qparam *p, int64_t c) {
    if (!p->t) return 0;
    return pl_get_i64(p->t, p->per_axis ? c : 0);
}

/* Optional input `i` as a tensor (NULL when omitted); error when it is not a tensor. */
static pl_status opt_in(const pl_kernel_ctx *ctx, int i, const pl_tensor **t) {
    *t = pl_in(ctx, i);
    if (*t && (*t)->kind != PL_KIND_TENSOR) {
        if ((*t)->kind == PL_KIND_NONE) {
            *t = NULL;
            return PL_OK;
        }
        return pl_err(PL_ERR_INVALID, "input %d must be a tensor", i);
    }
    return PL_OK;
}

/* Where element i of x finds its scale / zero point: per tensor (len 0), per axis (channel
 * (i / inner) % len) or blocked (opset 21: `block` consecutive elements along the axis). */
typedef struct qaxis {
    int64_t len, inner, block;
} qaxis;

static int64_t qaxis_index(const qaxis *g, int64_t i) {
    if (g->len == 0) return 0;
    int64_t a = (i / g->inner) % g->len;
    if (!g->block) return a;
    int64_t outer = i / (g->inner * g->len), in = i % g->inner;
    int64_t slen = (g->len + g->block - 1) / g->block;
    return (outer * slen + a / g->block) * g->inner + in;
}

/* Blocked parameters have x's shape with ceil(len / block) along the axis. */
static pl_status qparam_blocked(const pl_tensor *t, const char *what, const pl_tensor *x,
                                int axis, int64_t block, qparam *p) {
    p->t = t;
    p->per_axis = true;
    if (!t) return PL_OK;
    bool ok = t->kind == PL_KIND_TENSOR && t->rank == x->rank;
    for (int d = 0; ok && d < x->rank; d++)
        ok = t->dims[d] == (d == axis ? (x->dims[d] + block - 1) / block : x->dims[d]);
    char s1[128], s2[128];
    if (!ok)
        return pl_err(PL_ERR_INVALID, "%s shape %s does not fit x %s with block_size %lld", what,
                      pl_dims_str(t->rank, t->dims, s1, sizeof s1),
                      pl_dims_str(x->rank, x->dims, s2, sizeof s2), (long long)block);
    return PL_OK;
}

/* Reads axis / block_size and validates the scale and zero point of (De)QuantizeLinear. */
static pl_status qparams_setup(const pl_kernel_ctx *ctx, const pl_tensor *x, const pl_tensor *sc,
                               const pl_tensor *zp, const char *sname, const char *zname,
                               qaxis *g, qparam *ps, qparam *pz) {
    g->len = 0;
    g->inner = 1;
    g->block = ctx->opset >= 21 ? pl_attr_int(ctx->node, "block_size", 0) : 0;
    if (g->block < 0)
        return pl_err(PL_ERR_INVALID, "block_size %lld is negative", (long long)g->block);
    bool per_tensor = sc->numel == 1 && sc->rank <= 1 && !g->block;
    if (ctx->opset >= 13 && x->rank > 0 && !per_tensor) {
        int axis;
        PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", 1), x->rank, "attribute axis", &axis));
        g->len = x->dims[axis];
        for (int d = axis + 1; d < x->rank; d++) g->inner *= x->dims[d];
        if (g->block) {
            PL_TRY(qparam_blocked(sc, sname, x, axis, g->block, ps));
            return qparam_blocked(zp, zname, x, axis, g->block, pz);
        }
    } else {
        g->block = 0;
    }
    PL_TRY(qparam_init(sc, sname, g->len, ps));
    return qparam_init(zp, zname, g->len, pz);
}

/* ---------------------------------------------------------------- QuantizeLinear */

/* y = saturate(round_half_even(x / scale) + zero_point); y has the zero point's dtype. */
static pl_status op_quantize_linear(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *sc, *zp;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &sc));
    PL_TRY(opt_in(ctx, 2, &zp));
    if (!is_float_type(x->dtype) && x->dtype != PL_DT_INT32)
        return pl_err(PL_ERR_UNSUPPORTED, "input x of dtype %s is not supported",
                      pl_dtype_name(x->dtype));
    if (!is_float_type(sc->dtype))
        return pl_err(PL_ERR_INVALID, "y_scale must be a float tensor, not %s",
                      pl_dtype_name(sc->dtype));
    int64_t odt = ctx->opset >= 21 ? pl_attr_int(ctx->node, "output_dtype", 0) : 0;
    if (zp && odt && odt != (int64_t)zp->dtype)
        return pl_err(PL_ERR_INVALID, "output_dtype %lld differs from y_zero_point dtype %s",
                      (long long)odt, pl_dtype_name(zp->dtype));
    pl_dtype yt = zp ? zp->dtype : odt ? (pl_dtype)odt : PL_DT_UINT8;
    int64_t lo, hi;
    if (yt == PL_DT_INT32 || !qrange(yt, &lo, &hi))
        return pl_err(PL_ERR_UNSUPPORTED, "output dtype %s (y_zero_point) is not supported",
                      pl_dtype_name(yt));
    qaxis g;
    qparam ps, pz;
    PL_TRY(qparams_setup(ctx, x, sc, zp, "y_scale", "y_zero_point", &g, &ps, &pz));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, yt, x->rank, x->dims, &y));
    bool fx = is_float_type(x->dtype) && x->dtype != PL_DT_DOUBLE;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t c = qaxis_index(&g, i);
        double s = qparam_f(&ps, c);
        double q = fx ? (double)((float)pl_get_f64(x, i) / (float)s) : pl_get_f64(x, i) / s;
        q = nearbyint(q) + (double)qparam_i(&pz, c);
        pl_set_i64(y, i, saturate(q, lo, hi));
    }
    return PL_OK;
}

/* ---------------------------------------------------------------- DequantizeLinear */

/* y = (x - zero_point) * scale, computed in float; y has the scale's dtype. */
static pl_status op_dequantize_linear(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *sc, *zp;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &sc));
    PL_TRY(opt_in(ctx, 2, &zp));
    int64_t lo, hi;
    if (!qrange(x->dtype, &lo, &hi))
        return pl_err(PL_ERR_UNSUPPORTED, "input x of dtype %s is not supported",
                      pl_dtype_name(x->dtype));
    if (!is_float_type(sc->dtype))
        return pl_err(PL_ERR_INVALID, "x_scale must be a float tensor, not %s",
                      pl_dtype_name(sc->dtype));
    if (zp && zp->dtype != x->dtype)
        return pl_err(PL_ERR_INVALID, "x_zero_point dtype %s differs from x dtype %s",
                      pl_dtype_name(zp->dtype), pl_dtype_name(x->dtype));
    qaxis g;
    qparam ps, pz;
    PL_TRY(qparams_setup(ctx, x, sc, zp, "x_scale", "x_zero_point", &g, &ps, &pz));
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, sc->dtype, x->rank, x->dims, &y));
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t c = qaxis_index(&g, i);
        float v = ((float)pl_get_i64(x, i) - (float)qparam_i(&pz, c)) * (float)qparam_f(&ps, c);
        pl_set_f64(y, i, v);
    }
    return PL_OK;
}

/* ---------------------------------------------------------------- DynamicQuantizeLinear */

/* uint8 quantization with scale and zero point from the data range (widened to hold 0). */
static pl_status op_dynamic_quantize_linear(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (!is_float_type(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input x of dtype %s is not supported",
                      pl_dtype_name(x->dtype));
    float mn = 0.0f, mx = 0.0f;
    for (int64_t i = 0; i < x->numel; i++) {
        float v = (float)pl_get_f64(x, i);
        mn = fminf(mn, v);
        mx = fmaxf(mx, v);
    }
    float scale = (mx == mn ? 1.0f : mx - mn) / 255.0f; /* as ONNX Runtime for all-zero x */
    int64_t zp = 0;
    if (scale > 0.0f) zp = saturate((double)(0.0f - mn / scale), 0, 255);
    pl_tensor *y, *ys, *yz;
    PL_TRY(pl_out(ctx, 0, PL_DT_UINT8, x->rank, x->dims, &y));
    if (ctx->n_out > 1) {
        PL_TRY(pl_out(ctx, 1, PL_DT_FLOAT, 0, NULL, &ys));
        ((float *)ys->data)[0] = scale;
    }
    if (ctx->n_out > 2) {
        PL_TRY(pl_out(ctx, 2, PL_DT_UINT8, 0, NULL, &yz));
        ((uint8_t *)yz->data)[0] = (uint8_t)zp;
    }
    uint8_t *yd = y->data;
    for (int64_t i = 0; i < x->numel; i++) {
        if (!(scale > 0.0f)) {
            yd[i] = (uint8_t)zp;
            continue;
        }
        float q = nearbyintf((float)pl_get_f64(x, i) / scale);
        yd[i] = (uint8_t)saturate((double)q + (double)zp, 0, 255);
    }
    return PL_OK;
}

/* ---------------------------------------------------------------- integer convolution */

typedef struct conv_geom {
    int nsp; /* spatial rank */
    int64_t n, c, m, group, cg, mg;
    int64_t in[PL_MAX_RANK], k[PL_MAX_RANK], out[PL_MAX_RANK];
    int64_t stride[PL_MAX_RANK], dil[PL_MAX_RANK], pad0[PL_MAX_RANK];
    int64_t in_sp, k_sp, out_sp; /* spatial element counts */
} conv_geom;

#define LIMIT ((int64_t)1 << 32) /* bound on kernel sizes, strides, dilations and pads */

/* Reads x/w shapes and the Conv attributes into g, validating every value. */
static pl_status conv_geom_init(const pl_node *node, const pl_tensor *x, const pl_tensor *w,
                                conv_geom *g) {
    memset(g, 0, sizeof *g);
    char s1[128], s2[128];
    if (x->rank < 3 || w->rank != x->rank)
        return pl_err(PL_ERR_INVALID, "x %s and w %s must have the same rank (at least 3)",
                      pl_dims_str(x->rank, x->dims, s1, sizeof s1),
                      pl_dims_str(w->rank, w->dims, s2, sizeof s2));
    g->nsp = x->rank - 2;
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->m = w->dims[0];
    g->group = pl_attr_int(node, "group", 1);
    if (g->group < 1 || g->c % g->group || g->m % g->group || w->dims[1] * g->group != g->c)
        return pl_err(PL_ERR_INVALID, "group %lld does not fit x %s and w %s",
                      (long long)g->group, pl_dims_str(x->rank, x->dims, s1, sizeof s1),
                      pl_dims_str(w->rank, w->dims, s2, sizeof s2));
    g->cg = g->c / g->group;
    g->mg = g->m / g->group;
    int nk, ns, nd, np;
    const int64_t *ks = pl_attr_ints(node, "kernel_shape", &nk);
    const int64_t *st = pl_attr_ints(node, "strides", &ns);
    const int64_t *dl = pl_attr_ints(node, "dilations", &nd);
    const int64_t *pd = pl_attr_ints(node, "pads", &np);
    if ((ks && nk != g->nsp) || (st && ns != g->nsp) || (dl && nd != g->nsp) ||
        (pd && np != 2 * g->nsp))
        return pl_err(PL_ERR_INVALID,
                      "kernel_shape/strides/dilations need %d values and pads %d", g->nsp,
                      2 * g->nsp);
    const char *ap = pl_attr_string(node, "auto_pad", "NOTSET");
    bool same_up = !strcmp(ap, "SAME_UPPER"), same_lo = !strcmp(ap, "SAME_LOWER");
    bool valid = !strcmp(ap, "VALID");
    if (!same_up && !same_lo && !valid && strcmp(ap, "NOTSET"))
        return pl_err(PL_ERR_INVALID, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, "
                      "SAME_LOWER, VALID", ap);
    g->in_sp = g->k_sp = g->out_sp = 1;
    for (int d = 0; d < g->nsp; d++) {
        g->in[d] = x->dims[d + 2];
        g->k[d] = w->dims[d + 2];
        if (ks && ks[d] != g->k[d])
            return pl_err(PL_ERR_INVALID, "kernel_shape[%d]=%lld differs from w's %lld", d,
                          (long long)ks[d], (long long)g->k[d]);
        g->stride[d] = st ? st[d] : 1;
        g->dil[d] = dl ? dl[d] : 1;
        if (g->stride[d] < 1 || g->dil[d] < 1 || g->stride[d] > LIMIT || g->dil[d] > LIMIT)
            return pl_err(PL_ERR_INVALID, "strides and dilations must be within [1, 2^32] "
                          "(axis %d)", d);
        if (g->k[d] < 1 || g->k[d] > LIMIT || g->in[d] > LIMIT)
            return pl_err(PL_ERR_INVALID, "kernel size %lld on axis %d is out of range",
                          (long long)g->k[d], d);
        int64_t ext = (g->k[d] - 1) * g->dil[d] + 1;
        int64_t pb = pd ? pd[d] : 0, pe = pd ? pd[d + g->nsp] : 0;
        if (pb < 0 || pe < 0 || pb > LIMIT || pe > LIMIT)
            return pl_err(PL_ERR_INVALID, "pads must be within [0, 2^32]");
        if (same_up || same_lo) {
            g->out[d] = (g->in[d] + g->stride[d] - 1) / g->stride[d];
            int64_t total = (g->out[d] - 1) * g->stride[d] + ext - g->in[d];
            if (total < 0) total = 0;
            pb = same_up ? total / 2 : total - total / 2;
        } else {
            if (valid) pb = pe = 0;
            int64_t span = g->in[d] + pb + pe - ext;
            if (span < 0)
                return pl_err(PL_ERR_INVALID, "kernel extent %lld exceeds the padded input %lld "
                              "on axis %d", (long long)ext, (long long)(g->in[d] + pb + pe), d);
            g->out[d] = span / g->stride[d] + 1;
        }
        g->pad0[d] = pb;
        if (!pl_mul_size(g->in_sp, g->in[d], &g->in_sp) ||
            !pl_mul_size(g->k_sp, g->k[d], &g->k_sp) ||
            !pl_mul_size(g->out_sp, g->out[d], &g->out_sp))
            return pl_err(PL_ERR_INVALID, "convolution size overflows");
    }
    return PL_OK;
}

/* acc[n][m][out] = sum over c, k of x[n][c][..] * w[m][c][k] (both already zero-point
 * adjusted). acc has n*m*out_sp entries. */
static pl_status conv_accumulate(const conv_geom *g, const int32_t *x, const int32_t *w,
                                 int64_t *acc) {
    int64_t *kofs = malloc((size_t)(g->k_sp ? g->k_sp : 1) * sizeof *kofs);
    int64_t *iofs = malloc((size_t)(g->k_sp ? g->k_sp : 1) * sizeof *iofs);
    if (!kofs || !iofs) {
        free(kofs);
        free(iofs);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    int64_t istr[PL_MAX_RANK], kstr[PL_MAX_RANK], ostr[PL_MAX_RANK];
    pl_strides(g->nsp, g->in, istr);
    pl_strides(g->nsp, g->k, kstr);
    pl_strides(g->nsp, g->out, ostr);
    for (int64_t o = 0; o < g->out_sp; o++) {
        /* valid (kernel offset, input offset) pairs for this output position */
        int64_t nv = 0;
        for (int64_t k = 0; k < g->k_sp; k++) {
            int64_t off = 0;
            bool ok = true;
            for (int d = 0; d < g->nsp && ok; d++) {
                int64_t od = (o / ostr[d]) % g->out[d], kd = (k / kstr[d]) % g->k[d];
                int64_t id = od * g->stride[d] - g->pad0[d] + kd * g->dil[d];
                ok = id >= 0 && id < g->in[d];
                off += id * istr[d];
            }
            if (ok) {
                kofs[nv] = k;
                iofs[nv++] = off;
            }
        }
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t m = 0; m < g->m; m++) {
                int64_t grp = m / g->mg, sum = 0;
                for (int64_t c = 0; c < g->cg; c++) {
                    const int32_t *xp = x + (n * g->c + grp * g->cg + c) * g->in_sp;
                    const int32_t *wp = w + (m * g->cg + c) * g->k_sp;
                    for (int64_t v = 0; v < nv; v++) sum += (int64_t)xp[iofs[v]] * wp[kofs[v]];
                }
                acc[(n * g->m + m) * g->out_sp + o] = sum;
            }
    }
    free(kofs);
    free(iofs);
    return PL_OK;
}

/* Copies an integer tensor into int32 with its zero point subtracted; the zero point is
 * per tensor or per slice of `slice` elements (per output channel for weights). */
static pl_status to_i32_minus_zp(const pl_tensor *t, const qparam *zp, int64_t slice,
                                 int32_t **out) {
    *out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof **out);
    if (!*out) return pl_err(PL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < t->numel; i++) {
        int64_t c = slice > 0 ? i / slice : 0;
        (*out)[i] = (int32_t)(pl_get_i64(t, i) - qparam_i(zp, c));
    }
    return PL_OK;
}

static bool is_q8(pl_dtype t) { return t == PL_DT_INT8 || t == PL_DT_UINT8; }

/* Shared by ConvInteger and QLinearConv: validates, then fills *acc (malloc'ed, caller
 * frees) with n*m*out_sp exact sums. */
static pl_status conv_int_run(const pl_kernel_ctx *ctx, const pl_tensor *x, const pl_tensor *xz,
                              const pl_tensor *w, const pl_tensor *wz, conv_geom *g,
                              int64_t **acc) {
    *acc = NULL;
    if (!is_q8(x->dtype) || !is_q8(w->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "x dtype %s / w dtype %s (int8 or uint8 expected)",
                      pl_dtype_name(x->dtype), pl_dtype_name(w->dtype));
    if (xz && xz->dtype != x->dtype)
        return pl_err(PL_ERR_INVALID, "x_zero_point dtype %s differs from x dtype %s",
                      pl_dtype_name(xz->dtype), pl_dtype_name(x->dtype));
    if (wz && wz->dtype != w->dtype)
        return pl_err(PL_ERR_INVALID, "w_zero_point dtype %s differs from w dtype %s",
                      pl_dtype_name(wz->dtype), pl_dtype_name(w->dtype));
    PL_TRY(conv_geom_init(ctx->node, x, w, g));
    qparam pxz, pwz;
    PL_TRY(qparam_init(xz, "x_zero_point", 0, &pxz));
    PL_TRY(qparam_init(wz, "w_zero_point", g->m, &pwz));
    int64_t total;
    if (!pl_mul_size(g->n * g->m, g->out_sp, &total))
        return pl_err(PL_ERR_INVALID, "output size overflows");
    int32_t *xi = NULL, *wi = NULL;
    pl_status st = to_i32_minus_zp(x, &pxz, 0, &xi);
    if (st == PL_OK) st = to_i32_minus_zp(w, &pwz, g->cg * g->k_sp, &wi);
    if (st == PL_OK) {
        *acc = malloc((size_t)(total ? total : 1) * sizeof **acc);
        if (!*acc) st = pl_err(PL_ERR_NOMEM, "out of memory");
    }
    if (st == PL_OK) st = conv_accumulate(g, xi, wi, *acc);
    free(xi);
    free(wi);
    if (st != PL_OK) {
        free(*acc);
        *acc = NULL;
    }
    return st;
}

static void conv_out_dims(const conv_geom *g, int64_t *dims) {
    dims[0] = g->n;
    dims[1] = g->m;
    for (int d = 0; d < g->nsp; d++) dims[d + 2] = g->out[d];
}

/* ConvInteger: int32 y = conv(x - x_zero_point, w - w_zero_point). */
static pl_status op_conv_integer(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *w, *xz, *wz;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &w));
    PL_TRY(opt_in(ctx, 2, &xz));
    PL_TRY(opt_in(ctx, 3, &wz));
    conv_geom g;
    int64_t *acc;
    PL_TRY(conv_int_run(ctx, x, xz, w, wz, &g, &acc));
    int64_t dims[PL_MAX_RANK];
    conv_out_dims(&g, dims);
    pl_tensor *y;
    pl_status st = pl_out(ctx, 0, PL_DT_INT32, x->rank, dims, &y);
    if (st == PL_OK)
        for (int64_t i = 0; i < y->numel; i++)
            ((int32_t *)y->data)[i] = (int32_t)(uint32_t)(uint64_t)acc[i];
    free(acc);
    return st;
}

/* QLinearConv: y = saturate(round((acc + B) * x_scale * w_scale[m] / y_scale) + y_zero_point). */
static pl_status op_qlinear_conv(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *xs, *xz, *w, *ws, *wz, *ys, *yz, *b;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &xs));
    PL_TRY(pl_in_req(ctx, 2, &xz));
    PL_TRY(pl_in_req(ctx, 3, &w));
    PL_TRY(pl_in_req(ctx, 4, &ws));
    PL_TRY(pl_in_req(ctx, 5, &wz));
    PL_TRY(pl_in_req(ctx, 6, &ys));
    PL_TRY(pl_in_req(ctx, 7, &yz));
    PL_TRY(opt_in(ctx, 8, &b));
    int64_t lo, hi;
    if (!is_q8(yz->dtype) || !qrange(yz->dtype, &lo, &hi))
        return pl_err(PL_ERR_UNSUPPORTED, "y_zero_point dtype %s (int8 or uint8 expected)",
                      pl_dtype_name(yz->dtype));
    conv_geom g;
    int64_t *acc;
    PL_TRY(conv_int_run(ctx, x, xz, w, wz, &g, &acc));
    qparam pxs, pws, pys, pyz;
    pl_status st = qparam_init(xs, "x_scale", 0, &pxs);
    if (st == PL_OK) st = qparam_init(ws, "w_scale", g.m, &pws);
    if (st == PL_OK) st = qparam_init(ys, "y_scale", 0, &pys);
    if (st == PL_OK) st = qparam_init(yz, "y_zero_point", 0, &pyz);
    if (st == PL_OK && b && (b->dtype != PL_DT_INT32 || b->rank != 1 || b->dims[0] != g.m))
        st = pl_err(PL_ERR_INVALID, "B must be a 1-D int32 tensor of length %lld",
                    (long long)g.m);
    int64_t dims[PL_MAX_RANK];
    conv_out_dims(&g, dims);
    pl_tensor *y;
    if (st == PL_OK) st = pl_out(ctx, 0, yz->dtype, x->rank, dims, &y);
    for (int64_t i = 0; st == PL_OK && i < y->numel; i++) {
        int64_t m = (i / g.out_sp) % g.m;
        int64_t a = acc[i] + (b ? ((const int32_t *)b->data)[m] : 0);
        float mult = (float)qparam_f(&pxs, 0) * (float)qparam_f(&pws, m) /
                     (float)qparam_f(&pys, 0);
        float v = (float)(int32_t)(uint32_t)(uint64_t)a * mult;
        pl_set_i64(y, i, saturate((double)nearbyintf(v) + (double)qparam_i(&pyz, 0), lo, hi));
    }
    free(acc);
    return st;
}

/* ---------------------------------------------------------------- integer matmul */

typedef struct mm_geom {
    int rank;                   /* output rank */
    int64_t dims[PL_MAX_RANK];  /* output dims */
    int nb;                     /* broadcast batch rank */
    int64_t bdims[PL_MAX_RANK]; /* batch dims */
    int64_t astr[PL_MAX_RANK], bstr[PL_MAX_RANK]; /* batch strides in matrices, 0 = broadcast */
    int64_t M, K, N, batch, a_batch, b_batch;
} mm_geom;

/* Numpy matmul shapes: 1-D operands are promoted and their unit axis dropped afterwards. */
static pl_status mm_geom_init(const pl_tensor *a, const pl_tensor *b, mm_geom *g) {
    memset(g, 0, sizeof *g);
    char s1[128], s2[128];
    if (a->rank < 1 || b->rank < 1)
        return pl_err(PL_ERR_INVALID, "MatMul inputs must have rank >= 1");
    int ra = a->rank, rb = b->rank;
    int64_t ad[PL_MAX_RANK + 1], bd[PL_MAX_RANK + 1];
    if (ra == 1) {
        ad[0] = 1;
        ad[1] = a->dims[0];
        ra = 2;
    } else {
        memcpy(ad, a->dims, sizeof(int64_t) * (size_t)ra);
    }
    if (rb == 1) {
        bd[0] = b->dims[0];
        bd[1] = 1;
        rb = 2;
    } else {
        memcpy(bd, b->dims, sizeof(int64_t) * (size_t)rb);
    }
    g->M = ad[ra - 2];
    g->K = ad[ra - 1];
    g->N = bd[rb - 1];
    if (bd[rb - 2] != g->K)
        return pl_err(PL_ERR_INVALID, "shapes %s and %s do not match for MatMul",
                      pl_dims_str(a->rank, a->dims, s1, sizeof s1),
                      pl_dims_str(b->rank, b->dims, s2, sizeof s2));
    PL_TRY(pl_broadcast(ra - 2, ad, rb - 2, bd, &g->nb, g->bdims));
    int64_t sa = g->M * g->K, sb = g->K * g->N;
    g->a_batch = g->b_batch = g->batch = 1;
    for (int i = g->nb - 1; i >= 0; i--) {
        int ia = i - (g->nb - (ra - 2)), ib = i - (g->nb - (rb - 2));
        int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        g->astr[i] = da == 1 ? 0 : sa;
        g->bstr[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        g->a_batch *= da;
        g->b_batch *= db;
        if (!pl_mul_size(g->batch, g->bdims[i], &g->batch))
            return pl_err(PL_ERR_INVALID, "MatMul size overflows");
    }
    g->rank = 0;
    for (int i = 0; i < g->nb; i++) g->dims[g->rank++] = g->bdims[i];
    if (a->rank > 1) g->dims[g->rank++] = g->M;
    if (b->rank > 1) g->dims[g->rank++] = g->N;
    int64_t tot;
    if (!pl_dims_numel(g->rank, g->dims, &tot))
        return pl_err(PL_ERR_INVALID, "MatMul size overflows");
    return PL_OK;
}

/* A row/column parameter (zero point or scale): one value, one per row (M values), or one per
 * row of each batch matrix (batch*M values). */
typedef struct rowparam {
    const pl_tensor *t; /* NULL: 0 */
    int64_t len, per_batch;
} rowparam;

static pl_status rowparam_init(const pl_tensor *t, const char *what, int64_t len,
                               int64_t batch, rowparam *p) {
    p->t = t;
    p->len = 0;
    p->per_batch = 0;
    if (!t || t->numel == 1) return PL_OK;
    if (t->numel == len) {
        p->len = len;
        return PL_OK;
    }
    if (t->numel == len * batch) {
        p->len = len;
        p->per_batch = 1;
        return PL_OK;
    }
    char s[128];
    return pl_err(PL_ERR_INVALID, "%s has shape %s; expected one value or %lld", what,
                  pl_dims_str(t->rank, t->dims, s, sizeof s), (long long)len);
}

static int64_t rowparam_index(const rowparam *p, int64_t batch, int64_t r) {
    if (!p->len) return 0;
    return p->per_batch ? batch * p->len + r : r;
}

/* acc[batch][M][N] = sum_k (a - a_zp[row]) * (b - b_zp[col]); int64 exact. */
static pl_status mm_accumulate(const mm_geom *g, const pl_tensor *a, const rowparam *az,
                               const pl_tensor *b, const rowparam *bz, int64_t **acc) {
    int64_t bm, total;
    if (!pl_mul_size(g->batch, g->M, &bm) || !pl_mul_size(bm, g->N, &total))
        return pl_err(PL_ERR_INVALID, "MatMul size overflows");
    *acc = calloc((size_t)(total ? total : 1), sizeof **acc);
    int32_t *zb = malloc((size_t)(g->N ? g->N : 1) * sizeof *zb);
    if (!*acc || !zb) {
        free(*acc);
        free(zb);
        *acc = NULL;
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    bool a_s8 = a->dtype == PL_DT_INT8, b_s8 = b->dtype == PL_DT_INT8;
    const uint8_t *au = a->data, *bu = b->data;
    const int8_t *as = a->data, *bs = b->data;
    int64_t ma = g->M * g->K, mb = g->K * g->N;
    for (int64_t t = 0; t < g->batch; t++) {
        int64_t ao = 0, bo = 0, rem = t;
        for (int i = g->nb - 1; i >= 0; i--) {
            int64_t c = rem % g->bdims[i];
            rem /= g->bdims[i];
            ao += c * g->astr[i];
            bo += c * g->bstr[i];
        }
        int64_t abatch = ma > 0 ? ao / ma : 0, bbatch = mb > 0 ? bo / mb : 0;
        for (int64_t n = 0; n < g->N; n++)
            zb[n] = bz->t ? (int32_t)pl_get_i64(bz->t, rowparam_index(bz, bbatch, n)) : 0;
        for (int64_t m = 0; m < g->M; m++) {
            int32_t za = az->t ? (int32_t)pl_get_i64(az->t, rowparam_index(az, abatch, m)) : 0;
            int64_t *row = *acc + (t * g->M + m) * g->N;
            for (int64_t k = 0; k < g->K; k++) {
                int64_t ia = ao + m * g->K + k, ib = bo + k * g->N;
                int32_t av = (a_s8 ? (int32_t)as[ia] : (int32_t)au[ia]) - za;
                if (b_s8)
                    for (int64_t n = 0; n < g->N; n++) row[n] += av * ((int32_t)bs[ib + n] - zb[n]);
                else
                    for (int64_t n = 0; n < g->N; n++) row[n] += av * ((int32_t)bu[ib + n] - zb[n]);
            }
        }
    }
    free(zb);
    return PL_OK;
}

/* Validates MatMulInteger / QLinearMatMul operands and zero points, then accumulates. */
static pl_status mm_int_run(const pl_tensor *a, const pl_tensor *az, const pl_tensor *b,
                            const pl_tensor *bz, mm_geom *g, int64_t **acc) {
    *acc = NULL;
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "A dtype %s / B dtype %s (int8 or uint8 expected)",
                      pl_dtype_name(a->dtype), pl_dtype_name(b->dtype));
    if ((az && az->dtype != a->dtype) || (bz && bz->dtype != b->dtype))
        return pl_err(PL_ERR_INVALID, "zero point dtypes must match their inputs");
    PL_TRY(mm_geom_init(a, b, g));
    rowparam pa, pb;
    PL_TRY(rowparam_init(az, "a_zero_point", g->M, g->a_batch, &pa));
    PL_TRY(rowparam_init(bz, "b_zero_point", g->N, g->b_batch, &pb));
    return mm_accumulate(g, a, &pa, b, &pb, acc);
}

/* MatMulInteger: int32 y = (A - a_zero_point) @ (B - b_zero_point). */
static pl_status op_matmul_integer(pl_kernel_ctx *ctx) {
    const pl_tensor *a, *b, *az, *bz;
    PL_TRY(pl_in_req(ctx, 0, &a));
    PL_TRY(pl_in_req(ctx, 1, &b));
    PL_TRY(opt_in(ctx, 2, &az));
    PL_TRY(opt_in(ctx, 3, &bz));
    mm_geom g;
    int64_t *acc;
    PL_TRY(mm_int_run(a, az, b, bz, &g, &acc));
    pl_tensor *y;
    pl_status st = pl_out(ctx, 0, PL_DT_INT32, g.rank, g.dims, &y);
    if (st == PL_OK)
        for (int64_t i = 0; i < y->numel; i++)
            ((int32_t *)y->data)[i] = (int32_t)(uint32_t)(uint64_t)acc[i];
    free(acc);
    return st;
}

/* QLinearMatMul: y = saturate(round(acc * a_scale * b_scale / y_scale) + y_zero_point). */
static pl_status op_qlinear_matmul(pl_kernel_ctx *ctx) {
    const pl_tensor *a, *as, *az, *b, *bs, *bz, *ys, *yz;
    PL_TRY(pl_in_req(ctx, 0, &a));
    PL_TRY(pl_in_req(ctx, 1, &as));
    PL_TRY(pl_in_req(ctx, 2, &az));
    PL_TRY(pl_in_req(ctx, 3, &b));
    PL_TRY(pl_in_req(ctx, 4, &bs));
    PL_TRY(pl_in_req(ctx, 5, &bz));
    PL_TRY(pl_in_req(ctx, 6, &ys));
    PL_TRY(pl_in_req(ctx, 7, &yz));
    int64_t lo, hi;
    if (!is_q8(yz->dtype) || !qrange(yz->dtype, &lo, &hi))
        return pl_err(PL_ERR_UNSUPPORTED, "y_zero_point dtype %s (int8 or uint8 expected)",
                      pl_dtype_name(yz->dtype));
    mm_geom g;
    int64_t *acc;
    PL_TRY(mm_int_run(a, az, b, bz, &g, &acc));
    rowparam pas, pbs;
    qparam pys, pyz;
    pl_status st = rowparam_init(as, "a_scale", g.M, 1, &pas);
    if (st == PL_OK) st = rowparam_init(bs, "b_scale", g.N, 1, &pbs);
    if (st == PL_OK) st = qparam_init(ys, "y_scale", 0, &pys);
    if (st == PL_OK) st = qparam_init(yz, "y_zero_point", 0, &pyz);
    pl_tensor *y;
    if (st == PL_OK) st = pl_out(ctx, 0, yz->dtype, g.rank, g.dims, &y);
    if (st == PL_OK) {
        float ysv = (float)qparam_f(&pys, 0);
        int64_t yzv = qparam_i(&pyz, 0);
        for (int64_t t = 0; t < g.batch; t++)
            for (int64_t m = 0; m < g.M; m++)
                for (int64_t n = 0; n < g.N; n++) {
                    /* scales are per tensor or per row / column of the first batch */
                    float sa = (float)pl_get_f64(as, rowparam_index(&pas, 0, m));
                    float sb = (float)pl_get_f64(bs, rowparam_index(&pbs, 0, n));
                    int64_t i = (t * g.M + m) * g.N + n;
                    float v = (float)acc[i] * (sa * sb / ysv);
                    pl_set_i64(y, i, saturate((double)nearbyintf(v) + (double)yzv, lo, hi));
                }
    }
    free(acc);
    return st;
}

const pl_op_schema pl_ops_quant[] = {
    {"", "QuantizeLinear", 2, 3, 1, 1, op_quantize_linear},
    {"", "DequantizeLinear", 2, 3, 1, 1, op_dequantize_linear},
    {"", "DynamicQuantizeLinear", 1, 1, 1, 3, op_dynamic_quantize_linear},
    {"", "QLinearConv", 8, 9, 1, 1, op_qlinear_conv},
    {"", "QLinearMatMul", 8, 8, 1, 1, op_qlinear_matmul},
    {"", "ConvInteger", 2, 4, 1, 1, op_conv_integer},
    {"", "MatMulInteger", 2, 4, 1, 1, op_matmul_integer},
    {0},
};
