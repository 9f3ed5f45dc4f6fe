/* pool.c - pooling for any number of spatial dims: MaxPool (with Indices), AveragePool,
 * LpPool, their Global forms, MaxUnpool and MaxRoiPool. Windows are computed in double
 * from a float or double buffer (other dtypes are converted exactly), so float data is
 * read in place. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum pool_mode { POOL_MAX, POOL_AVG, POOL_LP } pool_mode;

/* Window geometry: image dims, kernel, output grid; image_pos = out_pos * stride - pad_b +
 * kernel_pos * dilation. */
typedef pl_window pool_geom;

/* Options of one pooling run. */
typedef struct pool_opts {
    pool_mode mode;
    bool count_include_pad; /* AveragePool */
    double p;               /* LpPool */
    bool col_major;         /* MaxPool storage_order = 1 (for Indices) */
} pool_opts;

/* Input elements as float or double: `f` when the tensor is float, else `d`. */
typedef struct pool_src {
    const float *f;
    const double *d;
} pool_src;

static inline double src_at(const pool_src *s, int64_t i) { return s->f ? s->f[i] : s->d[i]; }

/* kernel_shape (required), strides, dilations and pads of a pooling node over x. */
static pl_status read_geom(const pl_node *node, const pl_tensor *x, pool_geom *g) {
    if (x->rank < 3) {
        char s[256];
        return pl_err(PL_ERR_INVALID, "X %s must have rank >= 3 (N, C, spatial...)",
                      pl_dims_str(x->rank, x->dims, s, sizeof s));
    }
    g->nd = x->rank - 2;
    for (int i = 0; i < g->nd; i++) g->in[i] = x->dims[2 + i];
    if (!pl_node_attr(node, "kernel_shape"))
        return pl_err(PL_ERR_INVALID, "attribute 'kernel_shape' is required");
    PL_TRY(pl_attr_ints_exact(node, "kernel_shape", g->nd, 1, 1, g->k));
    return pl_window_read_attrs(node, g);
}

/* Pools one plane (the spatial image of one n, c) into `out` (double) and, for max, the
 * row- or column-major spatial index of each maximum into `arg` (may be NULL). */
static void pool_plane(const pool_geom *g, const pool_opts *o, const pool_src *src, int64_t base,
                       double *out, int64_t *arg) {
    int nd = g->nd;
    int64_t rst[PL_MAX_RANK], cst[PL_MAX_RANK], oidx[PL_MAX_RANK] = {0}, outp = 1;
    pl_strides(nd, g->in, rst);
    for (int d = 0; d < nd; d++) cst[d] = d ? cst[d - 1] * g->in[d - 1] : 1, outp *= g->out[d];
    for (int64_t e = 0; e < outp; e++) {
        /* per dim: first kernel tap, valid tap range [lo, hi), taps inside the padded image */
        int64_t start[PL_MAX_RANK], lo[PL_MAX_RANK], hi[PL_MAX_RANK], kidx[PL_MAX_RANK];
        int64_t count = 1, padded = 1;
        bool empty = false;
        for (int d = 0; d < nd; d++) {
            start[d] = oidx[d] * g->stride[d] - g->pad_b[d];
            int64_t dl = g->dil[d], n_pad = 0;
            lo[d] = start[d] >= 0 ? 0 : (-start[d] + dl - 1) / dl;
            int64_t last = g->in[d] - 1 - start[d];
            hi[d] = last < 0 ? 0 : last / dl + 1;
            if (hi[d] > g->k[d]) hi[d] = g->k[d];
            if (lo[d] >= hi[d]) empty = true;
            for (int64_t j = 0; j < g->k[d]; j++) {
                int64_t p = start[d] + j * dl;
                n_pad += p >= -g->pad_b[d] && p < g->in[d] + g->pad_e[d];
            }
            count *= hi[d] > lo[d] ? hi[d] - lo[d] : 0;
            padded *= n_pad;
            kidx[d] = lo[d];
        }
        double acc = o->mode == POOL_MAX ? -INFINITY : 0.0;
        int64_t best = -1;
        while (!empty) {
            int64_t r = 0, c = 0;
            for (int d = 0; d < nd; d++) {
                int64_t p = start[d] + kidx[d] * g->dil[d];
                r += p * rst[d], c += p * cst[d];
            }
            double v = src_at(src, base + r);
            if (o->mode == POOL_MAX) {
                if (best < 0 || v > acc || (isnan(v) && !isnan(acc)))
                    acc = v, best = o->col_major ? c : r;
            } else if (o->mode == POOL_AVG) {
                acc += v;
            } else {
                acc += pow(fabs(v), o->p);
            }
            int d = nd - 1;
            for (; d >= 0 && ++kidx[d] == hi[d]; d--) kidx[d] = lo[d];
            if (d < 0) break;
        }
        if (o->mode == POOL_AVG) {
            int64_t div = o->count_include_pad ? padded : count;
            acc = div > 0 ? acc / (double)div : 0.0;
        } else if (o->mode == POOL_LP) {
            acc = pow(acc, 1.0 / o->p);
        } else if (empty) {
            acc = 0.0;
        }
        out[e] = acc;
        if (arg) arg[e] = best < 0 ? 0 : best;
        for (int d = nd - 1; d >= 0 && ++oidx[d] == g->out[d]; d--) oidx[d] = 0;
    }
}

/* Runs a pool over every plane of x into output 0 (and Indices into output 1 when wanted). */
static pl_status pool_run(pl_kernel_ctx *ctx, const pl_tensor *x, const pool_geom *g,
                          const pool_opts *o, bool want_indices) {
    int64_t ydims[PL_MAX_RANK] = {x->dims[0], x->dims[1]}, outp = 1, inp = 1;
    for (int d = 0; d < g->nd; d++) ydims[2 + d] = g->out[d], outp *= g->out[d], inp *= g->in[d];
    pl_tensor *y, *ind = NULL, *tmp = NULL;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, ydims, &y));
    if (want_indices) PL_TRY(pl_out(ctx, 1, PL_DT_INT64, x->rank, ydims, &ind));
    pool_src src = {0};
    if (x->dtype == PL_DT_FLOAT) src.f = x->data;
    else if (x->dtype == PL_DT_DOUBLE) src.d = x->data;
    else {
        PL_TRY(pl_tensor_cast(x, PL_DT_DOUBLE, &tmp));
        src.d = tmp->data;
    }
    double *plane = malloc((size_t)(outp ? outp : 1) * sizeof *plane);
    if (!plane) {
        pl_tensor_destroy(tmp);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    int64_t planes = x->dims[0] * x->dims[1];
    for (int64_t p = 0; p < planes; p++) {
        int64_t *arg = ind ? (int64_t *)ind->data + p * outp : NULL;
        pool_plane(g, o, &src, p * inp, plane, arg);
        for (int64_t e = 0; e < outp; e++) {
            if (y->dtype == PL_DT_FLOAT) ((float *)y->data)[p * outp + e] = (float)plane[e];
            else pl_set_f64(y, p * outp + e, plane[e]);
            if (arg) arg[e] += p * inp;
        }
    }
    free(plane);
    pl_tensor_destroy(tmp);
    return PL_OK;
}

static pl_status check_dtype(const pl_tensor *x, const char *op, bool ints) {
    pl_dtype t = x->dtype;
    if (t == PL_DT_FLOAT || t == PL_DT_DOUBLE || t == PL_DT_FLOAT16 || t == PL_DT_BFLOAT16)
        return PL_OK;
    if (ints && (t == PL_DT_INT8 || t == PL_DT_UINT8)) return PL_OK;
    return pl_err(PL_ERR_UNSUPPORTED, "%s does not support dtype %s", op, pl_dtype_name(t));
}

/* MaxPool with optional Indices (row-major, or column-major for storage_order 1). */
static pl_status op_maxpool(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(check_dtype(x, "MaxPool", true));
    pool_geom g;
    PL_TRY(read_geom(ctx->node, x, &g));
    PL_TRY(pl_window_output(ctx->node, &g, pl_attr_int(ctx->node, "ceil_mode", 0) != 0));
    int64_t so = pl_attr_int(ctx->node, "storage_order", 0);
    if (so != 0 && so != 1)
        return pl_err(PL_ERR_INVALID, "attribute 'storage_order' is %lld, must be 0 or 1", (long long)so);
    pool_opts o = {.mode = POOL_MAX, .col_major = so == 1};
    bool want = ctx->n_out > 1 && ctx->node->n_out > 1 && ctx->node->out[1] >= 0;
    return pool_run(ctx, x, &g, &o, want);
}

/* AveragePool (count_include_pad counts padding taps in the divisor). */
static pl_status op_averagepool(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(check_dtype(x, "AveragePool", false));
    pool_geom g;
    PL_TRY(read_geom(ctx->node, x, &g));
    PL_TRY(pl_window_output(ctx->node, &g, pl_attr_int(ctx->node, "ceil_mode", 0) != 0));
    pool_opts o = {.mode = POOL_AVG,
                   .count_include_pad = pl_attr_int(ctx->node, "count_include_pad", 0) != 0};
    return pool_run(ctx, x, &g, &o, false);
}

/* The p of LpPool / GlobalLpPool: an int (opset >= 2) or a float (opset 1); default 2. */
static pl_status read_p(const pl_node *node, double *p) {
    const pl_attr *a = pl_node_attr(node, "p");
    *p = !a ? 2.0 : a->type == PL_ATTR_FLOAT ? (double)a->f : (double)a->i;
    if (!(*p > 0.0)) return pl_err(PL_ERR_INVALID, "attribute 'p' is %g, must be > 0", *p);
    return PL_OK;
}

/* LpPool: (sum |x|^p)^(1/p) over each window. */
static pl_status op_lppool(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(check_dtype(x, "LpPool", false));
    pool_geom g;
    PL_TRY(read_geom(ctx->node, x, &g));
    PL_TRY(pl_window_output(ctx->node, &g, pl_attr_int(ctx->node, "ceil_mode", 0) != 0));
    pool_opts o = {.mode = POOL_LP};
    PL_TRY(read_p(ctx->node, &o.p));
    return pool_run(ctx, x, &g, &o, false);
}

/* Global pools: one window covering the whole spatial image. */
static pl_status global_pool(pl_kernel_ctx *ctx, pool_mode mode, const char *op) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(check_dtype(x, op, false));
    if (x->rank < 3) {
        char s[256];
        return pl_err(PL_ERR_INVALID, "X %s must have rank >= 3 (N, C, spatial...)",
                      pl_dims_str(x->rank, x->dims, s, sizeof s));
    }
    pool_geom g = {.nd = x->rank - 2};
    for (int d = 0; d < g.nd; d++) {
        g.in[d] = g.k[d] = x->dims[2 + d];
        g.out[d] = g.stride[d] = g.dil[d] = 1;
        if (g.in[d] == 0) return pl_err(PL_ERR_INVALID, "spatial dim %d of X is 0", d);
    }
    pool_opts o = {.mode = mode};
    if (mode == POOL_LP) PL_TRY(read_p(ctx->node, &o.p));
    return pool_run(ctx, x, &g, &o, false);
}

static pl_status op_globalaveragepool(pl_kernel_ctx *ctx) {
    return global_pool(ctx, POOL_AVG, "GlobalAveragePool");
}
static pl_status op_globalmaxpool(pl_kernel_ctx *ctx) {
    return global_pool(ctx, POOL_MAX, "GlobalMaxPool");
}
static pl_status op_globallppool(pl_kernel_ctx *ctx) {
    return global_pool(ctx, POOL_LP, "GlobalLpPool");
}

/* MaxUnpool: scatter X into zeros at the flat positions given by I. The output shape is
 * the output_shape input when given, else (in - 1) * stride + kernel - pads. */
static pl_status op_maxunpool(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *ind, *shape = pl_in(ctx, 2);
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &ind));
    PL_TRY(check_dtype(x, "MaxUnpool", false));
    pool_geom g;
    PL_TRY(read_geom(ctx->node, x, &g));
    char sx[256], si[256];
    if (ind->rank != x->rank || memcmp(ind->dims, x->dims, sizeof(int64_t) * (size_t)x->rank) ||
        !pl_dtype_is_int(ind->dtype))
        return pl_err(PL_ERR_INVALID, "I %s (%s) must be an integer tensor shaped like X %s",
                      pl_dims_str(ind->rank, ind->dims, si, sizeof si), pl_dtype_name(ind->dtype),
                      pl_dims_str(x->rank, x->dims, sx, sizeof sx));
    /* indices address the inferred (default) shape; a given output_shape keeps the
     * coordinates and only changes the extent */
    int64_t idims[PL_MAX_RANK] = {x->dims[0], x->dims[1]}, ydims[PL_MAX_RANK];
    for (int d = 0; d < g.nd; d++) {
        idims[2 + d] = (g.in[d] - 1) * g.stride[d] + g.k[d] - g.pad_b[d] - g.pad_e[d];
        if (idims[2 + d] < 0)
            return pl_err(PL_ERR_INVALID, "spatial dim %d: output size %lld is negative", d,
                          (long long)idims[2 + d]);
    }
    memcpy(ydims, idims, sizeof ydims);
    if (shape && shape->kind == PL_KIND_TENSOR) {
        int64_t *v, n;
        PL_TRY(pl_as_int64s(shape, "input output_shape", &v, &n));
        bool ok = n == x->rank;
        for (int i = 0; ok && i < n; i++) ok = v[i] >= 0 && (i >= 2 || v[i] == x->dims[i]), ydims[i] = v[i];
        free(v);
        if (!ok)
            return pl_err(PL_ERR_INVALID, "input output_shape must hold %d non-negative dims with "
                          "X's N and C", x->rank);
    }
    int64_t inumel;
    if (!pl_dims_numel(x->rank, idims, &inumel)) return pl_err(PL_ERR_INVALID, "output too large");
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, ydims, &y));
    size_t es = pl_dtype_size(x->dtype);
    for (int64_t e = 0; e < x->numel; e++) {
        int64_t i = pl_get_i64(ind, e), rem = i, dst = 0, mul = 1;
        bool ok = i >= 0 && i < inumel;
        for (int d = x->rank - 1; ok && d >= 0; d--) {
            int64_t coord = rem % idims[d];
            rem /= idims[d];
            ok = coord < ydims[d];
            dst += coord * mul, mul *= ydims[d];
        }
        if (!ok)
            return pl_err(PL_ERR_INVALID, "I[%lld] = %lld is outside the unpooled output %s",
                          (long long)e, (long long)i, pl_dims_str(x->rank, ydims, sx, sizeof sx));
        memcpy((char *)y->data + (size_t)dst * es, (const char *)x->data + (size_t)e * es, es);
    }
    return PL_OK;
}

/* MaxRoiPool: max over a pooled_shape grid of bins in each region of interest
 * (rois rows: batch index, x1, y1, x2, y2 in input coordinates times spatial_scale). */
static pl_status op_maxroipool(pl_kernel_ctx *ctx) {
    const pl_tensor *x, *rois;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &rois));
    PL_TRY(check_dtype(x, "MaxRoiPool", false));
    if (x->rank != 4 || rois->rank != 2 || rois->dims[1] != 5)
        return pl_err(PL_ERR_INVALID, "X must be 4-D and rois [num_rois, 5] (ranks %d and %d)",
                      x->rank, rois->rank);
    int64_t ps[2];
    if (!pl_node_attr(ctx->node, "pooled_shape"))
        return pl_err(PL_ERR_INVALID, "attribute 'pooled_shape' is required");
    PL_TRY(pl_attr_ints_exact(ctx->node, "pooled_shape", 2, 1, 1, ps));
    double scale = pl_attr_float(ctx->node, "spatial_scale", 1.0f);
    int64_t c = x->dims[1], h = x->dims[2], w = x->dims[3], nr = rois->dims[0];
    int64_t ydims[4] = {nr, c, ps[0], ps[1]};
    pl_tensor *y;
    PL_TRY(pl_out(ctx, 0, x->dtype, 4, ydims, &y));
    for (int64_t r = 0; r < nr; r++) {
        int64_t b = (int64_t)pl_get_f64(rois, r * 5);
        if (b < 0 || b >= x->dims[0])
            return pl_err(PL_ERR_INVALID, "rois[%lld] batch index %lld is out of range",
                          (long long)r, (long long)b);
        int64_t x1 = (int64_t)round(pl_get_f64(rois, r * 5 + 1) * scale);
        int64_t y1 = (int64_t)round(pl_get_f64(rois, r * 5 + 2) * scale);
        int64_t x2 = (int64_t)round(pl_get_f64(rois, r * 5 + 3) * scale);
        int64_t y2 = (int64_t)round(pl_get_f64(rois, r * 5 + 4) * scale);
        double bh = (double)(y2 - y1 + 1 > 1 ? y2 - y1 + 1 : 1) / (double)ps[0];
        double bw = (double)(x2 - x1 + 1 > 1 ? x2 - x1 + 1 : 1) / (double)ps[1];
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t ph = 0; ph < ps[0]; ph++)
                for (int64_t pw = 0; pw < ps[1]; pw++) {
                    int64_t hs = (int64_t)floor((double)ph * bh) + y1;
                    int64_t he = (int64_t)ceil((double)(ph + 1) * bh) + y1;
                    int64_t ws = (int64_t)floor((double)pw * bw) + x1;
                    int64_t we = (int64_t)ceil((double)(pw + 1) * bw) + x1;
                    hs = hs < 0 ? 0 : hs > h ? h : hs, he = he < 0 ? 0 : he > h ? h : he;
                    ws = ws < 0 ? 0 : ws > w ? w : ws, we = we < 0 ? 0 : we > w ? w : we;
                    double m = hs < he && ws < we ? -INFINITY : 0.0;
                    for (int64_t i = hs; i < he; i++)
                        for (int64_t j = ws; j < we; j++) {
                            double v = pl_get_f64(x, ((b * c + ch) * h + i) * w + j);
                            if (v > m) m = v;
                        }
                    pl_set_f64(y, ((r * c + ch) * ps[0] + ph) * ps[1] + pw, m);
                }
    }
    return PL_OK;
}

const pl_op_schema pl_ops_pool[] = {
    {"", "MaxPool", 1, 1, 1, 2, op_maxpool},
    {"", "AveragePool", 1, 1, 1, 1, op_averagepool},
    {"", "LpPool", 1, 1, 1, 1, op_lppool},
    {"", "GlobalAveragePool", 1, 1, 1, 1, op_globalaveragepool},
    {"", "GlobalMaxPool", 1, 1, 1, 1, op_globalmaxpool},
    {"", "GlobalLpPool", 1, 1, 1, 1, op_globallppool},
    {"", "MaxUnpool", 2, 3, 1, 1, op_maxunpool},
    {"", "MaxRoiPool", 2, 2, 1, 1, op_maxroipool},
    {0},
};
