/* resize.c - resampling reference kernels: Resize (opsets 10-19), Upsample (7, 9),
 * GridSample (16) and RoiAlign (10, 16).
 *
 * Resize follows the ONNX reference implementation: it is separable, so each output axis gets
 * a plan listing, for every output coordinate, the input indices it reads and their weights
 * (1 tap for nearest, 2 for linear, 4 for cubic; indices clamped to the edge as the reference's
 * edge padding does), and each output element is the tensor product of its axes' taps. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- Resize plan */

enum { CT_HALF_PIXEL, CT_PYTORCH_HALF_PIXEL, CT_ALIGN_CORNERS, CT_ASYMMETRIC,
       CT_TF_HALF_PIXEL_FOR_NN, CT_TF_CROP_AND_RESIZE, CT_HALF_PIXEL_SYMMETRIC };
enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC };
enum { NR_ROUND_PREFER_FLOOR, NR_ROUND_PREFER_CEIL, NR_FLOOR, NR_CEIL, NR_SIMPLE };

typedef struct resize_attrs {
    int mode, coord, nearest;
    double cubic_a;
    bool exclude_outside;
    bool antialias; /* widen linear/cubic filters by 1/scale when downsampling (opset 18) */
    double extrapolation;
} resize_attrs;

/* Taps of one output axis. */
typedef struct axis_plan {
    int64_t out_len;
    int ntap;          /* taps stored per coordinate */
    int *cnt;          /* used taps per coordinate */
    int64_t *idx;      /* out_len * ntap input indices (clamped) */
    double *w;         /* out_len * ntap weights */
    bool *outside;     /* tf_crop_and_resize: coordinate outside the input */
} axis_plan;

static void plan_free(axis_plan *p) {
    free(p->cnt);
    free(p->idx);
    free(p->w);
    free(p->outside);
    memset(p, 0, sizeof *p);
}

/* Input coordinate of output coordinate x (ONNX coordinate_transformation_mode). */
static double map_coord(const resize_attrs *a, double x, double scale, int64_t in_len,
                        int64_t out_len, double roi_s, double roi_e) {
    double out_f = scale * (double)in_len;
    switch (a->coord) {
    case CT_ALIGN_CORNERS:
        return out_f == 1.0 ? 0.0 : x * (double)(in_len - 1) / (out_f - 1.0);
    case CT_ASYMMETRIC: return x / scale;
    case CT_TF_HALF_PIXEL_FOR_NN: return (x + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE:
        if (out_f == 1.0) return (roi_e - roi_s) * (double)(in_len - 1) / 2.0 + roi_s * (double)(in_len - 1);
        return x * (roi_e - roi_s) * (double)(in_len - 1) / (out_f - 1.0) + roi_s * (double)(in_len - 1);
    case CT_PYTORCH_HALF_PIXEL: return out_f == 1.0 ? -0.5 : (x + 0.5) / scale - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adjustment = (double)out_len / out_f;
        double offset = (double)in_len / 2.0 * (1.0 - adjustment);
        return offset + (x + 0.5) / scale - 0.5;
    }
    default: return (x + 0.5) / scale - 0.5;
    }
}

static void cubic_coeffs(double r, double A, double *c) {
    c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    c[2] = ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1;
    c[3] = ((A * ((1 - r) + 1) - 5 * A) * ((1 - r) + 1) + 8 * A) * ((1 - r) + 1) - 4 * A;
}

static int64_t clamp_i(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Index chosen by nearest interpolation; i0 is the left neighbour, r in (0, 1]. */
static int64_t nearest_index(int mode, double xo, int64_t i0, double r, bool downsample) {
    if (mode == NR_SIMPLE) return downsample ? (int64_t)ceil(xo) : (int64_t)floor(xo);
    if (r == 1.0) return i0 + 1;
    switch (mode) {
    case NR_ROUND_PREFER_CEIL: return r < 0.5 ? i0 : i0 + 1;
    case NR_FLOOR: return i0;
    case NR_CEIL: return i0 + 1;
    default: return r <= 0.5 ? i0 : i0 + 1;
    }
}

/* Antialiased filter weight at distance x, in input pixels already scaled (ONNX reference). */
static double aa_weight(int mode, double x, double A) {
    x = fabs(x);
    if (mode == MODE_LINEAR) return x < 1.0 ? 1.0 - x : 0.0;
    if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0.0;
}

/* First tap offset (relative to the left neighbour) of a filter of half-width `support`;
 * the filter has 2 - 2 * start taps. */
static int64_t tap_start(const resize_attrs *a, double scale) {
    if (a->mode == MODE_NEAREST) return 0;
    double support = a->mode == MODE_CUBIC ? 2.0 : 1.0;
    if (!a->antialias || scale >= 1.0) return a->mode == MODE_CUBIC ? -1 : 0;
    return (int64_t)floor(-support / scale) + 1;
}

/* Fills the taps of one output coordinate. */
static void plan_coord(const resize_attrs *a, axis_plan *p, int64_t o, double xo, int64_t in_len,
                       double scale) {
    int64_t *idx = p->idx + o * p->ntap;
    double *w = p->w + o * p->ntap;
    p->outside[o] = a->coord == CT_TF_CROP_AND_RESIZE && (xo < 0 || xo > (double)(in_len - 1));
    double fl = floor(xo);
    int64_t i0 = xo == fl ? (int64_t)fl - 1 : (int64_t)fl;
    double r = xo - (double)i0;
    int n = 0;
    if (a->mode == MODE_NEAREST) {
        idx[0] = clamp_i(nearest_index(a->nearest, xo, i0, r, scale < 1.0), 0, in_len - 1);
        w[0] = 1.0;
        p->cnt[o] = 1;
        return;
    }
    int64_t start = tap_start(a, scale);
    double fs = a->antialias && scale < 1.0 ? scale : 1.0, sum = 0.0;
    double cub[4];
    if (a->mode == MODE_CUBIC && fs == 1.0) cubic_coeffs(r, a->cubic_a, cub);
    for (int t = 0; t < p->ntap; t++) {
        double d = ((double)(start + t) - r) * fs;
        if (fs != 1.0) w[t] = aa_weight(a->mode, d, a->cubic_a);
        else w[t] = a->mode == MODE_CUBIC ? cub[t] : (t == 0 ? 1.0 - r : r);
        sum += w[t];
    }
    if (fs != 1.0 && sum != 0.0)
        for (int t = 0; t < p->ntap; t++) w[t] /= sum;
    if (a->exclude_outside) {
        sum = 0.0;
        for (int t = 0; t < p->ntap; t++) {
            int64_t i = i0 + start + t;
            if (i < 0 || i >= in_len) w[t] = 0.0;
            sum += w[t];
        }
        if (sum != 0.0)
            for (int t = 0; t < p->ntap; t++) w[t] /= sum;
    }
    for (int t = 0; t < p->ntap; t++)
        if (w[t] != 0.0) {
            idx[n] = clamp_i(i0 + start + t, 0, in_len - 1);
            w[n++] = w[t];
        }
    p->cnt[o] = n;
}

static pl_status plan_axis(const resize_attrs *a, int64_t in_len, int64_t out_len, double scale,
                           double roi_s, double roi_e, axis_plan *p) {
    memset(p, 0, sizeof *p);
    p->out_len = out_len;
    int64_t ntap = a->mode == MODE_NEAREST ? 1 : 2 - 2 * tap_start(a, scale);
    if (ntap > 4096)
        return pl_err(PL_ERR_UNSUPPORTED, "antialias filter of %lld taps (scale %g)",
                      (long long)ntap, scale);
    p->ntap = (int)ntap;
    size_t n = (size_t)(out_len ? out_len : 1);
    p->cnt = malloc(n * sizeof *p->cnt);
    p->idx = malloc(n * (size_t)p->ntap * sizeof *p->idx);
    p->w = malloc(n * (size_t)p->ntap * sizeof *p->w);
    p->outside = malloc(n * sizeof *p->outside);
    if (!p->cnt || !p->idx || !p->w || !p->outside) {
        plan_free(p);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    for (int64_t o = 0; o < out_len; o++) {
        double xo = map_coord(a, (double)o, scale, in_len, out_len, roi_s, roi_e);
        plan_coord(a, p, o, xo, in_len, scale);
    }
    return PL_OK;
}

/* Writes y from x through the per-axis plans (tensor product of taps). */
static pl_status resize_apply(const pl_tensor *x, pl_tensor *y, const axis_plan *plans,
                              double extrapolation) {
    int rank = x->rank;
    pl_tensor *xf = NULL;
    const float *xd = NULL;
    if (x->dtype == PL_DT_FLOAT) {
        xd = x->data;
    } else if (x->dtype != PL_DT_DOUBLE && !pl_dtype_is_int(x->dtype)) {
        PL_TRY(pl_as_float(x, &xf));
        xd = xf->data;
    }
    int64_t istr[PL_MAX_RANK], coord[PL_MAX_RANK] = {0};
    pl_strides(rank, x->dims, istr);
    bool is_int = pl_dtype_is_int(y->dtype);
    double lo = 0.0, hi = 0.0; /* saturation range of integer outputs */
    if (is_int) {
        size_t bits = pl_dtype_size(y->dtype) * 8;
        bool sgn = pl_dtype_is_signed(y->dtype);
        lo = sgn ? -ldexp(1.0, (int)bits - 1) : 0.0;
        hi = ldexp(1.0, (int)bits - (sgn ? 1 : 0)) - 1.0;
    }
    for (int64_t o = 0; o < y->numel; o++) {
        double v = 0.0;
        bool outside = false;
        for (int d = 0; d < rank; d++) outside |= plans[d].outside[coord[d]];
        if (outside) {
            v = extrapolation;
        } else {
            int tap[PL_MAX_RANK] = {0};
            for (;;) {
                double wt = 1.0;
                int64_t off = 0;
                for (int d = 0; d < rank; d++) {
                    int64_t k = coord[d] * plans[d].ntap + tap[d];
                    wt *= plans[d].w[k];
                    off += plans[d].idx[k] * istr[d];
                }
                v += wt * (xd ? (double)xd[off] : pl_get_f64(x, off));
                int d = rank - 1;
                while (d >= 0 && ++tap[d] >= plans[d].cnt[coord[d]]) tap[d--] = 0;
                if (d < 0) break;
            }
        }
        if (y->dtype == PL_DT_FLOAT) ((float *)y->data)[o] = (float)v;
        else if (is_int) pl_set_f64(y, o, fmin(fmax(nearbyint(v), lo), hi));
        else pl_set_f64(y, o, v);
        for (int d = rank - 1; d >= 0 && ++coord[d] >= y->dims[d]; d--) coord[d] = 0;
    }
    pl_tensor_destroy(xf);
    return PL_OK;
}

/* Plans every axis and computes y (created as output 0). */
static pl_status resize_run(pl_kernel_ctx *ctx, const pl_tensor *x, const resize_attrs *a,
                            const int64_t *out_dims, const double *scales, const double *roi_s,
                            const double *roi_e) {
    if (x->dtype == PL_DT_STRING || x->dtype == PL_DT_BOOL || !pl_dtype_valid((int)x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input X of dtype %s is not supported",
                      pl_dtype_name(x->dtype));
    for (int d = 0; d < x->rank; d++) {
        if (out_dims[d] < 0)
            return pl_err(PL_ERR_INVALID, "output size %lld on axis %d is negative",
                          (long long)out_dims[d], d);
        if (x->dims[d] == 0 && out_dims[d] > 0)
            return pl_err(PL_ERR_INVALID, "cannot resize axis %d of length 0 to %lld", d,
                          (long long)out_dims[d]);
        if (!(scales[d] > 0.0) || !isfinite(scales[d]))
            return pl_err(PL_ERR_INVALID, "scale %g on axis %d must be positive", scales[d], d);
    }
    int64_t total;
    if (!pl_dims_numel(x->rank, out_dims, &total))
        return pl_err(PL_ERR_INVALID, "output size overflows");
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, out_dims, &y));
    if (total == 0) return PL_OK;
    axis_plan plans[PL_MAX_RANK];
    memset(plans, 0, sizeof plans);
    pl_status st = PL_OK;
    for (int d = 0; d < x->rank && st == PL_OK; d++)
        st = plan_axis(a, x->dims[d], out_dims[d], scales[d], roi_s[d], roi_e[d], &plans[d]);
    if (st == PL_OK) st = resize_apply(x, y, plans, a->extrapolation);
    for (int d = 0; d < x->rank; d++) plan_free(&plans[d]);
    return st;
}

/* ---------------------------------------------------------------- Resize */

static pl_status parse_enum(const char *what, const char *v, const char *const *names, int n,
                            int *out) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return PL_OK;
        }
    return pl_err(PL_ERR_INVALID, "attribute %s has unknown value '%s'", what, v);
}

static pl_status parse_mode(const char *v, int *mode) {
    if (!strcmp(v, "nearest")) *mode = MODE_NEAREST;
    else if (!strcmp(v, "linear") || !strcmp(v, "bilinear") || !strcmp(v, "trilinear"))
        *mode = MODE_LINEAR;
    else if (!strcmp(v, "cubic") || !strcmp(v, "bicubic")) *mode = MODE_CUBIC;
    else return pl_err(PL_ERR_INVALID, "attribute mode has unknown value '%s'", v);
    return PL_OK;
}

static pl_status resize_attrs_read(const pl_kernel_ctx *ctx, resize_attrs *a) {
    const pl_node *n = ctx->node;
    PL_TRY(parse_mode(pl_attr_string(n, "mode", "nearest"), &a->mode));
    a->cubic_a = pl_attr_float(n, "cubic_coeff_a", -0.75f);
    a->exclude_outside = pl_attr_int(n, "exclude_outside", 0) != 0;
    a->extrapolation = pl_attr_float(n, "extrapolation_value", 0.0f);
    if (ctx->opset < 11) {
        if (a->mode == MODE_CUBIC) return pl_err(PL_ERR_INVALID, "mode cubic needs opset 11");
        a->coord = CT_ASYMMETRIC;
        a->nearest = NR_SIMPLE;
        return PL_OK;
    }
    static const char *const cts[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                      "asymmetric", "tf_half_pixel_for_nn",
                                      "tf_crop_and_resize", "half_pixel_symmetric"};
    static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                      "ceil"};
    PL_TRY(parse_enum("coordinate_transformation_mode",
                      pl_attr_string(n, "coordinate_transformation_mode", "half_pixel"), cts, 7,
                      &a->coord));
    PL_TRY(parse_enum("nearest_mode", pl_attr_string(n, "nearest_mode", "round_prefer_floor"),
                      nms, 4, &a->nearest));
    a->antialias = ctx->opset >= 18 && pl_attr_int(n, "antialias", 0) != 0;
    return PL_OK;
}

/* Optional input i with at least one element; NULL otherwise. */
static const pl_tensor *nonempty_in(const pl_kernel_ctx *ctx, int i) {
    const pl_tensor *t = pl_in(ctx, i);
    if (!t || t->kind != PL_KIND_TENSOR || t->numel == 0) return NULL;
    return t;
}

/* The axes Resize's scales/sizes/roi refer to (opset 18 `axes`, else all). */
static pl_status resize_axes(const pl_kernel_ctx *ctx, int rank, int *axes, int *na) {
    int n = 0;
    const int64_t *ax = ctx->opset >= 18 ? pl_attr_ints(ctx->node, "axes", &n) : NULL;
    if (!ax) {
        for (int d = 0; d < rank; d++) axes[d] = d;
        *na = rank;
        return PL_OK;
    }
    if (n > rank) return pl_err(PL_ERR_INVALID, "attribute axes has %d values for rank %d", n, rank);
    bool seen[PL_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        PL_TRY(pl_axis(ax[i], rank, "attribute axes value", &axes[i]));
        if (seen[axes[i]]) return pl_err(PL_ERR_INVALID, "attribute axes repeats axis %lld",
                                         (long long)ax[i]);
        seen[axes[i]] = true;
    }
    *na = n;
    return PL_OK;
}

/* Output sizes and scales from `sizes` (with keep_aspect_ratio_policy). */
static pl_status sizes_to_scales(const pl_kernel_ctx *ctx, const pl_tensor *x,
                                 const pl_tensor *sizes, const int *axes, int na,
                                 int64_t *out_dims, double *scales) {
    if (!pl_dtype_is_int(sizes->dtype) || sizes->numel != na)
        return pl_err(PL_ERR_INVALID, "sizes must hold %d integers, has %lld of %s", na,
                      (long long)sizes->numel, pl_dtype_name(sizes->dtype));
    const char *pol = ctx->opset >= 18 ? pl_attr_string(ctx->node, "keep_aspect_ratio_policy",
                                                        "stretch")
                                       : "stretch";
    bool stretch = !strcmp(pol, "stretch"), larger = !strcmp(pol, "not_larger");
    if (!stretch && !larger && strcmp(pol, "not_smaller"))
        return pl_err(PL_ERR_INVALID, "keep_aspect_ratio_policy '%s' is unknown", pol);
    double common = larger ? INFINITY : 0.0;
    for (int i = 0; i < na; i++) {
        int64_t s = pl_get_i64(sizes, i), in = x->dims[axes[i]];
        if (s < 0) return pl_err(PL_ERR_INVALID, "sizes[%d]=%lld is negative", i, (long long)s);
        out_dims[axes[i]] = s;
        scales[axes[i]] = in > 0 ? (double)s / (double)in : 1.0;
        if (s == 0) scales[axes[i]] = 1.0; /* empty output: no sampling */
        common = larger ? fmin(common, scales[axes[i]]) : fmax(common, scales[axes[i]]);
    }
    if (stretch) return PL_OK;
    for (int i = 0; i < na; i++) {
        scales[axes[i]] = common;
        out_dims[axes[i]] = (int64_t)floor(common * (double)x->dims[axes[i]] + 0.5);
    }
    return PL_OK;
}

/* Resize: X, roi, scales, sizes (opset 10: X, scales). */
static pl_status op_resize(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    resize_attrs a = {0};
    PL_TRY(resize_attrs_read(ctx, &a));
    int rank = x->rank, axes[PL_MAX_RANK], na = 0;
    PL_TRY(resize_axes(ctx, rank, axes, &na));
    double scales[PL_MAX_RANK], roi_s[PL_MAX_RANK], roi_e[PL_MAX_RANK];
    int64_t out_dims[PL_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        scales[d] = 1.0;
        roi_s[d] = 0.0;
        roi_e[d] = 1.0;
        out_dims[d] = x->dims[d];
    }
    const pl_tensor *roi = ctx->opset >= 11 ? nonempty_in(ctx, 1) : NULL;
    const pl_tensor *sc = nonempty_in(ctx, ctx->opset >= 11 ? 2 : 1);
    const pl_tensor *sz = ctx->opset >= 11 ? nonempty_in(ctx, 3) : NULL;
    if (!!sc == !!sz)
        return pl_err(PL_ERR_INVALID, "exactly one of scales and sizes must be given");
    if (roi && a.coord == CT_TF_CROP_AND_RESIZE) {
        if (!pl_dtype_is_float(roi->dtype) || roi->numel != 2 * na)
            return pl_err(PL_ERR_INVALID, "roi must hold %d floats, has %lld", 2 * na,
                          (long long)roi->numel);
        for (int i = 0; i < na; i++) {
            roi_s[axes[i]] = pl_get_f64(roi, i);
            roi_e[axes[i]] = pl_get_f64(roi, na + i);
        }
    }
    if (sc) {
        if (!pl_dtype_is_float(sc->dtype) || sc->numel != na)
            return pl_err(PL_ERR_INVALID, "scales must hold %d floats, has %lld of %s", na,
                          (long long)sc->numel, pl_dtype_name(sc->dtype));
        for (int i = 0; i < na; i++) {
            double s = (double)(float)pl_get_f64(sc, i);
            if (!(s > 0.0) || !isfinite(s))
                return pl_err(PL_ERR_INVALID, "scales[%d]=%g must be positive", i, s);
            scales[axes[i]] = s;
            double o = floor(s * (double)x->dims[axes[i]]);
            if (o > 9.0e18) return pl_err(PL_ERR_INVALID, "scales[%d]=%g is too large", i, s);
            out_dims[axes[i]] = (int64_t)o;
        }
    } else {
        PL_TRY(sizes_to_scales(ctx, x, sz, axes, na, out_dims, scales));
    }
    return resize_run(ctx, x, &a, out_dims, scales, roi_s, roi_e);
}

/* Upsample (opset 7: `scales` attribute; 9: scales input); asymmetric coordinates. */
static pl_status op_upsample(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    resize_attrs a = {.coord = CT_ASYMMETRIC, .nearest = NR_SIMPLE, .cubic_a = -0.75};
    PL_TRY(parse_mode(pl_attr_string(ctx->node, "mode", "nearest"), &a.mode));
    if (a.mode == MODE_CUBIC) return pl_err(PL_ERR_INVALID, "Upsample has no cubic mode");
    double scales[PL_MAX_RANK], roi_s[PL_MAX_RANK], roi_e[PL_MAX_RANK];
    int64_t out_dims[PL_MAX_RANK];
    const pl_tensor *sc = ctx->opset >= 9 ? pl_in(ctx, 1) : NULL;
    int n = 0;
    const float *fs = NULL;
    float four[4];
    if (ctx->opset >= 9) {
        if (!sc || sc->kind != PL_KIND_TENSOR || !pl_dtype_is_float(sc->dtype))
            return pl_err(PL_ERR_INVALID, "input scales (float tensor) is required");
        n = (int)(sc->numel < 1000 ? sc->numel : 1000);
    } else {
        fs = pl_attr_floats(ctx->node, "scales", &n);
        if (!fs) {
            /* opset 1 form: height_scale / width_scale */
            float hs = pl_attr_float(ctx->node, "height_scale", 0.0f);
            float ws = pl_attr_float(ctx->node, "width_scale", 0.0f);
            if (hs <= 0.0f || ws <= 0.0f || x->rank != 4)
                return pl_err(PL_ERR_INVALID, "attribute scales is required");
            four[0] = four[1] = 1.0f;
            four[2] = hs;
            four[3] = ws;
            fs = four;
            n = 4;
        }
    }
    if (n != x->rank)
        return pl_err(PL_ERR_INVALID, "scales has %d values for an input of rank %d", n, x->rank);
    for (int d = 0; d < x->rank; d++) {
        double s = fs ? (double)fs[d] : (double)(float)pl_get_f64(sc, d);
        if (!(s >= 1.0) || !isfinite(s))
            return pl_err(PL_ERR_INVALID, "scales[%d]=%g must be >= 1", d, s);
        scales[d] = s;
        roi_s[d] = 0.0;
        roi_e[d] = 1.0;
        double o = floor(s * (double)x->dims[d]);
        if (o > 9.0e18) return pl_err(PL_ERR_INVALID, "scales[%d]=%g is too large", d, s);
        out_dims[d] = (int64_t)o;
    }
    return resize_run(ctx, x, &a, out_dims, scales, roi_s, roi_e);
}

/* ---------------------------------------------------------------- GridSample */

enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION };

/* Reflects x into [lo, hi] (ONNX Runtime's GsReflect). */
static double gs_reflect(double x, double lo, double hi) {
    double range = hi - lo;
    if (range <= 0) return lo;
    if (x < lo) {
        double dx = lo - x;
        double n = floor(dx / range), r = dx - n * range;
        return fmod(n, 2.0) == 0.0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        double n = floor(dx / range), r = dx - n * range;
        return fmod(n, 2.0) == 0.0 ? hi - r : lo + r;
    }
    return x;
}

/* Grid sampling geometry: spatial dims of X and the reflection bounds of each. */
typedef struct gs_geom {
    int ns;                                 /* spatial rank */
    int64_t dims[PL_MAX_RANK], str[PL_MAX_RANK];
    double lo[PL_MAX_RANK], hi[PL_MAX_RANK]; /* align_corners ? [0, d-1] : [-0.5, d-0.5] */
    int mode, pad;
} gs_geom;

/* Input index of tap i on spatial dim d after padding; -1 when it reads a zero. */
static int64_t gs_index(const gs_geom *g, int d, int64_t i) {
    if (i >= 0 && i < g->dims[d]) return i;
    if (g->pad == PAD_ZEROS) return -1;
    if (g->pad == PAD_REFLECTION) i = (int64_t)gs_reflect((double)i, g->lo[d], g->hi[d]);
    return clamp_i(i, 0, g->dims[d] - 1);
}

/* One sample of plane `d0` at pixel coordinates x[0..ns) (outermost spatial dim first). */
static double gs_sample(const gs_geom *g, const float *d0, const double *x) {
    int64_t idx[PL_MAX_RANK][4];
    double w[PL_MAX_RANK][4];
    int nt[PL_MAX_RANK];
    for (int d = 0; d < g->ns; d++) {
        double v = g->mode == MODE_NEAREST ? nearbyint(x[d]) : x[d];
        if (v < g->lo[d] || v > g->hi[d]) {
            if (g->pad == PAD_BORDER) v = fmin(fmax(v, 0.0), (double)(g->dims[d] - 1));
            else if (g->pad == PAD_REFLECTION) v = gs_reflect(v, g->lo[d], g->hi[d]);
        }
        if (!isfinite(v) || fabs(v) > 4.0e18) return 0.0;
        int64_t f = (int64_t)floor(v);
        double r = v - (double)f;
        if (g->mode == MODE_NEAREST) {
            nt[d] = 1;
            idx[d][0] = gs_index(g, d, (int64_t)v);
            w[d][0] = 1.0;
        } else if (g->mode == MODE_LINEAR) {
            nt[d] = 2;
            idx[d][0] = gs_index(g, d, f);
            idx[d][1] = gs_index(g, d, f + 1);
            w[d][0] = 1.0 - r;
            w[d][1] = r;
        } else {
            nt[d] = 4;
            cubic_coeffs(r, -0.75, w[d]);
            for (int t = 0; t < 4; t++) idx[d][t] = gs_index(g, d, f - 1 + t);
        }
    }
    int tap[PL_MAX_RANK] = {0};
    double acc = 0.0;
    for (;;) {
        double wt = 1.0;
        int64_t off = 0;
        for (int d = 0; d < g->ns && off >= 0; d++) {
            int64_t i = idx[d][tap[d]];
            wt *= w[d][tap[d]];
            off = i < 0 ? -1 : off + i * g->str[d];
        }
        if (off >= 0) acc += wt * d0[off];
        int d = g->ns - 1;
        while (d >= 0 && ++tap[d] >= nt[d]) tap[d--] = 0;
        if (d < 0) break;
    }
    return acc;
}

/* GridSample (opset 16: 2-D bilinear/nearest/bicubic; opset 20: N-D linear/nearest/cubic). */
static pl_status op_grid_sample(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *grid;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &grid));
    char s1[128], s2[128];
    int ns = x->rank - 2;
    if (x->rank < 3 || grid->rank != x->rank || grid->dims[0] != x->dims[0] ||
        grid->dims[grid->rank - 1] != ns)
        return pl_err(PL_ERR_INVALID, "grid %s does not match X %s (expected [N, spatial..., %d])",
                      pl_dims_str(grid->rank, grid->dims, s1, sizeof s1),
                      pl_dims_str(x->rank, x->dims, s2, sizeof s2), ns);
    if (!pl_dtype_is_float(x->dtype) || !pl_dtype_is_float(grid->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "X dtype %s / grid dtype %s (float expected)",
                      pl_dtype_name(x->dtype), pl_dtype_name(grid->dtype));
    gs_geom g = {.ns = ns, .mode = MODE_LINEAR, .pad = PAD_ZEROS};
    const char *ms = pl_attr_string(ctx->node, "mode", ctx->opset >= 20 ? "linear" : "bilinear");
    PL_TRY(parse_mode(ms, &g.mode));
    if (g.mode == MODE_CUBIC && ns != 2)
        return pl_err(PL_ERR_INVALID, "cubic GridSample needs a 4-D X, not rank %d", x->rank);
    static const char *const pads[] = {"zeros", "border", "reflection"};
    PL_TRY(parse_enum("padding_mode", pl_attr_string(ctx->node, "padding_mode", "zeros"), pads,
                      3, &g.pad));
    bool align = pl_attr_int(ctx->node, "align_corners", 0) != 0;
    int64_t n = x->dims[0], c = x->dims[1], in_sp = 1, out_sp = 1;
    int64_t dims[PL_MAX_RANK] = {n, c};
    for (int d = 0; d < ns; d++) {
        g.dims[d] = x->dims[d + 2];
        g.lo[d] = align ? 0.0 : -0.5;
        g.hi[d] = align ? (double)(g.dims[d] - 1) : (double)g.dims[d] - 0.5;
        in_sp *= g.dims[d];
        dims[d + 2] = grid->dims[d + 1];
        out_sp *= dims[d + 2];
    }
    pl_strides(ns, g.dims, g.str);
    pl_tensor *y, *xf = NULL, *gf = NULL;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, dims, &y));
    if (y->numel == 0 || in_sp == 0) return PL_OK; /* nothing to sample: zeros */
    pl_status st = pl_as_float(x, &xf);
    if (st == PL_OK) st = pl_as_float(grid, &gf);
    if (st != PL_OK) {
        pl_tensor_destroy(xf);
        return st;
    }
    const float *gd = gf->data;
    for (int64_t b = 0; b < n; b++)
        for (int64_t p = 0; p < out_sp; p++) {
            const float *gp = gd + (b * out_sp + p) * ns;
            double px[PL_MAX_RANK];
            for (int d = 0; d < ns; d++) {
                double v = gp[ns - 1 - d], len = (double)g.dims[d]; /* grid is (x, y, ...) */
                px[d] = align ? (v + 1) / 2 * (len - 1) : ((v + 1) * len - 1) / 2;
            }
            for (int64_t ch = 0; ch < c; ch++) {
                const float *plane = (const float *)xf->data + (b * c + ch) * in_sp;
                pl_set_f64(y, (b * c + ch) * out_sp + p, gs_sample(&g, plane, px));
            }
        }
    pl_tensor_destroy(xf);
    pl_tensor_destroy(gf);
    return PL_OK;
}

/* ---------------------------------------------------------------- RoiAlign */

/* Bilinear sample of a [h, w] plane at (y, x) as ONNX Runtime's RoiAlign pre-calculation does;
 * the four weighted corners go to v[4] (all 0 outside the plane). */
static void roi_bilinear(const float *d, int64_t h, int64_t w, double y, double x, double *v) {
    v[0] = v[1] = v[2] = v[3] = 0.0;
    if (y < -1.0 || y > (double)h || x < -1.0 || x > (double)w) return;
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
    if (yl >= h - 1) {
        yh = yl = h - 1;
        y = (double)yl;
    } else {
        yh = yl + 1;
    }
    if (xl >= w - 1) {
        xh = xl = w - 1;
        x = (double)xl;
    } else {
        xh = xl + 1;
    }
    double ly = y - (double)yl, lx = x - (double)xl, hy = 1 - ly, hx = 1 - lx;
    v[0] = hy * hx * d[yl * w + xl];
    v[1] = hy * lx * d[yl * w + xh];
    v[2] = ly * hx * d[yh * w + xl];
    v[3] = ly * lx * d[yh * w + xh];
}

static pl_status op_roi_align(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *rois, *bi;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &rois));
    PL_TRY(pl_in_req(ctx, 2, &bi));
    char s1[128];
    if (x->rank != 4 || !pl_dtype_is_float(x->dtype))
        return pl_err(PL_ERR_INVALID, "X must be a 4-D float tensor, is %s %s",
                      pl_dtype_name(x->dtype), pl_dims_str(x->rank, x->dims, s1, sizeof s1));
    if (rois->rank != 2 || rois->dims[1] != 4 || !pl_dtype_is_float(rois->dtype))
        return pl_err(PL_ERR_INVALID, "rois must be a float [num_rois, 4] tensor, is %s",
                      pl_dims_str(rois->rank, rois->dims, s1, sizeof s1));
    if (bi->rank != 1 || bi->dims[0] != rois->dims[0] || !pl_dtype_is_int(bi->dtype))
        return pl_err(PL_ERR_INVALID, "batch_indices must be an integer [%lld] tensor",
                      (long long)rois->dims[0]);
    const pl_node *node = ctx->node;
    int64_t oh = pl_attr_int(node, "output_height", 1), ow = pl_attr_int(node, "output_width", 1);
    int64_t sr = pl_attr_int(node, "sampling_ratio", 0);
    double ss = pl_attr_float(node, "spatial_scale", 1.0f);
    const char *mode = pl_attr_string(node, "mode", "avg");
    bool is_max = !strcmp(mode, "max");
    if (!is_max && strcmp(mode, "avg"))
        return pl_err(PL_ERR_INVALID, "attribute mode '%s' is not avg or max", mode);
    const char *ct = pl_attr_string(node, "coordinate_transformation_mode",
                                    ctx->opset >= 16 ? "half_pixel" : "output_half_pixel");
    bool half = !strcmp(ct, "half_pixel");
    if (!half && strcmp(ct, "output_half_pixel"))
        return pl_err(PL_ERR_INVALID, "coordinate_transformation_mode '%s' is unknown", ct);
    if (oh < 1 || ow < 1 || sr < 0 || oh > (1 << 20) || ow > (1 << 20))
        return pl_err(PL_ERR_INVALID, "output_height %lld / output_width %lld / sampling_ratio "
                      "%lld out of range", (long long)oh, (long long)ow, (long long)sr);
    int64_t nr = rois->dims[0], c = x->dims[1], h = x->dims[2], w = x->dims[3];
    for (int64_t r = 0; r < nr; r++) {
        int64_t b = pl_get_i64(bi, r);
        if (b < 0 || b >= x->dims[0])
            return pl_err(PL_ERR_INVALID, "batch_indices[%lld]=%lld is out of range [0, %lld)",
                          (long long)r, (long long)b, (long long)x->dims[0]);
    }
    int64_t dims[4] = {nr, c, oh, ow};
    pl_tensor *y, *xf;
    PL_TRY(pl_out(ctx, 0, x->dtype, 4, dims, &y));
    if (y->numel == 0 || h == 0 || w == 0) return PL_OK;
    PL_TRY(pl_as_float(x, &xf));
    double off = half ? 0.5 : 0.0;
    for (int64_t r = 0; r < nr; r++) {
        int64_t b = pl_get_i64(bi, r);
        double x0 = pl_get_f64(rois, r * 4) * ss - off, y0 = pl_get_f64(rois, r * 4 + 1) * ss - off;
        double x1 = pl_get_f64(rois, r * 4 + 2) * ss - off, y1 = pl_get_f64(rois, r * 4 + 3) * ss - off;
        double rw = x1 - x0, rh = y1 - y0;
        if (!half) {
            rw = fmax(rw, 1.0);
            rh = fmax(rh, 1.0);
        }
        double bh = rh / (double)oh, bw = rw / (double)ow;
        double gh_d = sr > 0 ? (double)sr : ceil(rh / (double)oh);
        double gw_d = sr > 0 ? (double)sr : ceil(rw / (double)ow);
        int64_t gh = isfinite(gh_d) && gh_d > 0 ? (int64_t)fmin(gh_d, 1 << 16) : 0;
        int64_t gw = isfinite(gw_d) && gw_d > 0 ? (int64_t)fmin(gw_d, 1 << 16) : 0;
        double count = gh * gw > 1 ? (double)(gh * gw) : 1.0;
        for (int64_t ch = 0; ch < c; ch++) {
            const float *plane = (const float *)xf->data + (b * c + ch) * h * w;
            for (int64_t ph = 0; ph < oh; ph++)
                for (int64_t pw = 0; pw < ow; pw++) {
                    double acc = 0.0;
                    bool first = true;
                    for (int64_t iy = 0; iy < gh; iy++) {
                        double yy = y0 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                        for (int64_t ix = 0; ix < gw; ix++) {
                            double xx = x0 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                            double v[4];
                            roi_bilinear(plane, h, w, yy, xx, v);
                            if (is_max) {
                                double m = fmax(fmax(v[0], v[1]), fmax(v[2], v[3]));
                                acc = first ? m : fmax(acc, m);
                                first = false;
                            } else {
                                acc += v[0] + v[1] + v[2] + v[3];
                            }
                        }
                    }
                    if (!is_max) acc /= count;
                    pl_set_f64(y, ((r * c + ch) * oh + ph) * ow + pw, acc);
                }
        }
    }
    pl_tensor_destroy(xf);
    return PL_OK;
}

const pl_op_schema pl_ops_resize[] = {
    {"", "Resize", 1, 4, 1, 1, op_resize},
    {"", "Upsample", 1, 2, 1, 1, op_upsample},
    {"", "GridSample", 2, 2, 1, 1, op_grid_sample},
    {"", "RoiAlign", 3, 3, 1, 1, op_roi_align},
    {0},
};
