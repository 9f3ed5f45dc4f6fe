/* norm.c - normalisation kernels: BatchNormalization, InstanceNormalization,
 * LayerNormalization, GroupNormalization, LRN, MeanVarianceNormalization, LpNormalization.
 *
 * Every kernel computes in a "compute type": double for double inputs, float otherwise
 * (float16/bfloat16 are widened to float and rounded back). Statistics accumulate in double
 * and use two passes (mean, then squared deviations) over rows that are contiguous in memory,
 * so the hot float paths (BatchNormalization, Layer/Instance/GroupNormalization) work on
 * float* directly. Small parameter tensors are read as doubles. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- row kernels for T = float and double ---- */

/* sum: sum of n values; sqdev: sum of squared deviations from m; affine: y = x*a + b;
 * lnrow: y = (x - m) * inv * s[i] + b[i] (b may be NULL). */
#define NORM_DEFINE(T, SUF)                                                                        \
    static double sum_##SUF(const T *x, int64_t n) {                                               \
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* four chains for throughput */                    \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= n; i += 4) {                                                               \
            s0 += x[i];                                                                            \
            s1 += x[i + 1];                                                                        \
            s2 += x[i + 2];                                                                        \
            s3 += x[i + 3];                                                                        \
        }                                                                                          \
        for (; i < n; i++) s0 += x[i];                                                             \
        return (s0 + s1) + (s2 + s3);                                                              \
    }                                                                                              \
    static double sqdev_##SUF(const T *x, int64_t n, double m) {                                   \
        T mt = (T)m, d0, d1, d2, d3;                                                               \
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                     \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= n; i += 4) {                                                               \
            d0 = x[i] - mt, d1 = x[i + 1] - mt, d2 = x[i + 2] - mt, d3 = x[i + 3] - mt;            \
            s0 += (double)(d0 * d0);                                                               \
            s1 += (double)(d1 * d1);                                                               \
            s2 += (double)(d2 * d2);                                                               \
            s3 += (double)(d3 * d3);                                                               \
        }                                                                                          \
        for (; i < n; i++) {                                                                       \
            d0 = x[i] - mt;                                                                        \
            s0 += (double)(d0 * d0);                                                               \
        }                                                                                          \
        return (s0 + s1) + (s2 + s3);                                                              \
    }                                                                                              \
    static void affine_##SUF(const T *x, T *y, int64_t n, double a, double b) {                    \
        T at = (T)a, bt = (T)b;                                                                    \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * at + bt;                                     \
    }                                                                                              \
    static void lnrow_##SUF(const T *x, T *y, int64_t n, double m, double inv, const T *s,         \
                            const T *b) {                                                          \
        T mt = (T)m, it = (T)inv;                                                                  \
        if (b)                                                                                     \
            for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mt) * it * s[i] + b[i];                 \
        else                                                                                       \
            for (int64_t i = 0; i < n; i++) y[i] = (x[i] - mt) * it * s[i];                        \
    }

NORM_DEFINE(float, f32)
NORM_DEFINE(double, f64)

/* Dispatch helpers on the compute type of t (float or double). */
static double row_sum(const pl_tensor *t, int64_t off, int64_t n) {
    return t->dtype == PL_DT_DOUBLE ? sum_f64((const double *)t->data + off, n)
                                    : sum_f32((const float *)t->data + off, n);
}

static double row_sqdev(const pl_tensor *t, int64_t off, int64_t n, double m) {
    return t->dtype == PL_DT_DOUBLE ? sqdev_f64((const double *)t->data + off, n, m)
                                    : sqdev_f32((const float *)t->data + off, n, m);
}

static void row_affine(const pl_tensor *x, pl_tensor *y, int64_t off, int64_t n, double a,
                       double b) {
    if (x->dtype == PL_DT_DOUBLE)
        affine_f64((const double *)x->data + off, (double *)y->data + off, n, a, b);
    else
        affine_f32((const float *)x->data + off, (float *)y->data + off, n, a, b);
}

/* Mean and population variance of the n values of t from off (0 and 0 when n is 0). */
static void row_moments(const pl_tensor *t, int64_t off, int64_t n, double *mean, double *var) {
    *mean = n ? row_sum(t, off, n) / (double)n : 0;
    *var = n ? row_sqdev(t, off, n, *mean) / (double)n : 0;
}

/* Element i of a float or double tensor. */
static inline double ld(const pl_tensor *t, int64_t i) {
    return t->dtype == PL_DT_DOUBLE ? ((const double *)t->data)[i] : ((const float *)t->data)[i];
}

static inline void st(pl_tensor *t, int64_t i, double v) {
    if (t->dtype == PL_DT_DOUBLE) ((double *)t->data)[i] = v;
    else ((float *)t->data)[i] = (float)v;
}

/* ---- plumbing ---- */

/* Whether the graph uses output i of this node. */
static bool out_wanted(const pl_kernel_ctx *ctx, int i) {
    return i < ctx->n_out && ctx->node->out[i] >= 0;
}

static bool is_float_type(pl_dtype t) {
    return t == PL_DT_FLOAT || t == PL_DT_DOUBLE || t == PL_DT_FLOAT16 || t == PL_DT_BFLOAT16;
}

/* Input x and output 0 (same shape) in the compute type. */
typedef struct work {
    pl_dtype dtype;      /* the input's (and output's) dtype */
    const pl_tensor *x;  /* x itself, or x_owned */
    pl_tensor *x_owned;  /* float copy of a float16/bfloat16 input */
    pl_tensor *y;        /* ctx->out[0], or a float temporary cast back by work_end */
    bool y_is_out;
} work;

/* Finishes w: on success stores output 0 in the input's dtype; frees temporaries. */
static pl_status work_end(pl_kernel_ctx *ctx, work *w, pl_status st) {
    if (st == PL_OK && !w->y_is_out && w->y) {
        pl_tensor *y;
        st = pl_tensor_cast(w->y, w->dtype, &y);
        if (st == PL_OK) pl_out_set(ctx, 0, y);
    }
    if (!w->y_is_out) pl_tensor_destroy(w->y);
    pl_tensor_destroy(w->x_owned);
    w->y = w->x_owned = NULL;
    return st;
}

/* Prepares w for input x: float and double are used in place, half types widened. */
static pl_status work_begin(pl_kernel_ctx *ctx, const pl_tensor *x, work *w) {
    memset(w, 0, sizeof *w);
    w->dtype = x->dtype;
    if (!is_float_type(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input 0 has dtype %s; float types only",
                      pl_dtype_name(x->dtype));
    if (x->dtype == PL_DT_FLOAT || x->dtype == PL_DT_DOUBLE) {
        w->x = x;
        w->y_is_out = true;
        return pl_out(ctx, 0, x->dtype, x->rank, x->dims, &w->y);
    }
    PL_TRY(pl_tensor_cast(x, PL_DT_FLOAT, &w->x_owned));
    w->x = w->x_owned;
    pl_status s = pl_tensor_create(PL_DT_FLOAT, x->rank, x->dims, &w->y);
    if (s != PL_OK) work_end(ctx, w, s);
    return s;
}

/* Expands parameter input `idx` (named `what`), broadcast unidirectionally to (rank, dims),
 * into a new tensor of dtype `dt`. */
static pl_status expand_param(const pl_kernel_ctx *ctx, int idx, const char *what, int rank,
                              const int64_t *dims, pl_dtype dt, pl_tensor **out) {
    *out = NULL;
    const pl_tensor *p;
    PL_TRY(pl_in_req(ctx, idx, &p));
    char sp[256], sd[256];
    bool ok = is_float_type(p->dtype);
    int lead = p->rank - rank; /* leading dims of p beyond rank must be 1 */
    for (int i = 0; ok && i < lead; i++) ok = p->dims[i] == 1;
    for (int i = lead > 0 ? lead : 0; ok && i < p->rank; i++) {
        int64_t d = dims[i - lead], pd = p->dims[i];
        ok = pd == d || pd == 1;
    }
    if (!ok)
        return pl_err(PL_ERR_INVALID, "input %d (%s) of dtype %s and shape %s must be a float "
                      "tensor broadcastable to %s", idx, what, pl_dtype_name(p->dtype),
                      pl_dims_str(p->rank, p->dims, sp, sizeof sp),
                      pl_dims_str(rank, dims, sd, sizeof sd));
    pl_tensor *e;
    PL_TRY(pl_tensor_create(dt, rank, dims, &e));
    int64_t own[PL_MAX_RANK], bs[PL_MAX_RANK], idxs[PL_MAX_RANK] = {0};
    pl_strides(p->rank, p->dims, own);
    for (int i = 0; i < rank; i++) {
        int j = i + lead;
        bs[i] = (j >= 0 && p->dims[j] != 1) ? own[j] : 0;
    }
    int64_t src = 0;
    for (int64_t k = 0; k < e->numel; k++) {
        st(e, k, pl_get_f64(p, src));
        for (int d = rank - 1; d >= 0; d--) { /* odometer over dims */
            src += bs[d];
            if (++idxs[d] < dims[d]) break;
            src -= bs[d] * dims[d];
            idxs[d] = 0;
        }
    }
    *out = e;
    return PL_OK;
}

/* Product of dims[from:to]. */
static int64_t dims_prod(const int64_t *dims, int from, int to) {
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= dims[i];
    return p;
}

/* Requires x to have rank >= min_rank (an [N, C, ...] input). */
static pl_status need_rank(const pl_tensor *x, int min_rank) {
    if (x->rank >= min_rank) return PL_OK;
    char s[256];
    return pl_err(PL_ERR_INVALID, "input 0 has shape %s; rank >= %d ([N, C, ...]) is required",
                  pl_dims_str(x->rank, x->dims, s, sizeof s), min_rank);
}

/* ---- BatchNormalization ---- */

typedef struct bn_geom {
    int64_t n, p, per; /* x is [n, p, per]; parameters have p values */
    int prank;
    int64_t pdims[PL_MAX_RANK];
} bn_geom;

/* Batch mean and population variance per parameter slot into mean[p], var[p]. */
static void bn_batch_stats(const pl_tensor *x, bn_geom g, double *mean, double *var) {
    double count = (double)(g.n * g.per);
    for (int64_t p = 0; p < g.p; p++) {
        double s = 0, q = 0;
        for (int64_t n = 0; n < g.n; n++) s += row_sum(x, (n * g.p + p) * g.per, g.per);
        mean[p] = count > 0 ? s / count : 0;
        for (int64_t n = 0; n < g.n; n++) q += row_sqdev(x, (n * g.p + p) * g.per, g.per, mean[p]);
        var[p] = count > 0 ? q / count : 0;
    }
}

/* Output i (shaped like the parameters, dtype dt) as momentum * prev + (1 - momentum) * cur;
 * prev alone when cur is NULL, cur alone when prev is NULL. */
static pl_status bn_stat_out(pl_kernel_ctx *ctx, int i, bn_geom g, pl_dtype dt,
                             const pl_tensor *prev, const double *cur, double momentum) {
    if (!out_wanted(ctx, i)) return PL_OK;
    pl_tensor *t;
    PL_TRY(pl_out(ctx, i, dt, g.prank, g.pdims, &t));
    for (int64_t k = 0; k < t->numel; k++) {
        double v = prev ? ld(prev, k) : cur[k];
        if (prev && cur) v = momentum * v + (1 - momentum) * cur[k];
        pl_set_f64(t, k, v);
    }
    return PL_OK;
}

/* Whether this node runs in training mode (batch statistics, running-stat outputs). */
static bool bn_training(const pl_kernel_ctx *ctx) {
    if (ctx->opset >= 14) return pl_attr_int(ctx->node, "training_mode", 0) != 0;
    bool wants_stats = false;
    for (int i = 1; i < ctx->n_out; i++) wants_stats |= out_wanted(ctx, i);
    if (ctx->opset < 7 && pl_attr_int(ctx->node, "is_test", 0) != 0) return false;
    return wants_stats;
}

/* Normalises with per-slot a, b (y = x*a + b) and writes the optional statistics outputs. */
static pl_status bn_apply(pl_kernel_ctx *ctx, work *w, bn_geom g, pl_tensor *const prm[4],
                          bool training) {
    double eps = pl_attr_float(ctx->node, "epsilon", 1e-5f);
    double momentum = pl_attr_float(ctx->node, "momentum", 0.9f);
    size_t bytes = (size_t)g.p * sizeof(double);
    double *bm = malloc(bytes ? bytes : 1), *bv = malloc(bytes ? bytes : 1);
    if (!bm || !bv) {
        free(bm);
        free(bv);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    if (training) bn_batch_stats(w->x, g, bm, bv);
    for (int64_t p = 0; p < g.p; p++) {
        double m = training ? bm[p] : ld(prm[2], p), v = training ? bv[p] : ld(prm[3], p);
        double a = ld(prm[0], p) / sqrt(v + eps), b = ld(prm[1], p) - m * a;
        for (int64_t n = 0; n < g.n; n++) row_affine(w->x, w->y, (n * g.p + p) * g.per, g.per, a, b);
    }
    pl_dtype mdt = ctx->in[3]->dtype, vdt = ctx->in[4]->dtype;
    const double *cm = training ? bm : NULL, *cv = training ? bv : NULL;
    /* running statistics (copies of the inputs outside training); opset < 14: saved ones */
    pl_status s = bn_stat_out(ctx, 1, g, mdt, prm[2], cm, momentum);
    if (s == PL_OK) s = bn_stat_out(ctx, 2, g, vdt, prm[3], cv, momentum);
    if (s == PL_OK) s = bn_stat_out(ctx, 3, g, mdt, training ? NULL : prm[2], cm, 0);
    if (s == PL_OK) s = bn_stat_out(ctx, 4, g, vdt, training ? NULL : prm[3], cv, 0);
    free(bm);
    free(bv);
    return s;
}

/* BatchNormalization: y = scale * (x - mean) / sqrt(var + epsilon) + B per channel (or per
 * element of [C, D...] when opset < 9 has spatial = 0). */
static pl_status batchnorm_run(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(need_rank(x, 2));
    bool spatial = ctx->opset >= 9 || pl_attr_int(ctx->node, "spatial", 1) != 0;
    bn_geom g = {.n = x->dims[0], .prank = spatial ? 1 : x->rank - 1};
    memcpy(g.pdims, x->dims + 1, (size_t)g.prank * sizeof(int64_t));
    g.p = dims_prod(g.pdims, 0, g.prank);
    g.per = spatial ? dims_prod(x->dims, 2, x->rank) : 1;
    static const char *names[4] = {"scale", "B", "mean", "var"};
    pl_tensor *prm[4] = {NULL, NULL, NULL, NULL};
    pl_status s = PL_OK;
    for (int i = 0; i < 4 && s == PL_OK; i++)
        s = expand_param(ctx, i + 1, names[i], g.prank, g.pdims, PL_DT_DOUBLE, &prm[i]);
    work w;
    if (s == PL_OK) s = work_begin(ctx, x, &w);
    if (s == PL_OK) s = work_end(ctx, &w, bn_apply(ctx, &w, g, prm, bn_training(ctx)));
    for (int i = 0; i < 4; i++) pl_tensor_destroy(prm[i]);
    return s;
}

/* ---- LayerNormalization ---- */

/* Normalises each of the `outer` rows of n values; writes mean/inv-std per row when wanted. */
static void ln_rows(const pl_tensor *x, pl_tensor *y, int64_t outer, int64_t n, double eps,
                    const pl_tensor *scale, const pl_tensor *bias, pl_tensor *mo,
                    pl_tensor *io) {
    bool dbl = x->dtype == PL_DT_DOUBLE;
    for (int64_t r = 0; r < outer; r++) {
        double mean, var;
        row_moments(x, r * n, n, &mean, &var);
        double inv = 1.0 / sqrt(var + eps);
        if (dbl)
            lnrow_f64((const double *)x->data + r * n, (double *)y->data + r * n, n, mean, inv,
                      scale->data, bias ? bias->data : NULL);
        else
            lnrow_f32((const float *)x->data + r * n, (float *)y->data + r * n, n, mean, inv,
                      scale->data, bias ? bias->data : NULL);
        if (mo) pl_set_f64(mo, r, mean);
        if (io) pl_set_f64(io, r, inv);
    }
}

/* The dtype of LayerNormalization's Mean / InvStdDev outputs from stash_type. */
static pl_status stash_dtype(const pl_kernel_ctx *ctx, pl_dtype *dt) {
    int64_t s = pl_attr_int(ctx->node, "stash_type", 1);
    if (s != PL_DT_FLOAT && s != PL_DT_DOUBLE && s != PL_DT_FLOAT16 && s != PL_DT_BFLOAT16)
        return pl_err(PL_ERR_INVALID, "attribute stash_type %lld is not a float type",
                      (long long)s);
    *dt = (pl_dtype)s;
    return PL_OK;
}

/* LayerNormalization: normalises over dims[axis:], scales by Scale and adds B. */
static pl_status layernorm_run(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 0 must have rank >= 1, is a scalar");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", -1), x->rank, "attribute axis", &axis));
    pl_dtype sdt = PL_DT_FLOAT;
    PL_TRY(stash_dtype(ctx, &sdt));
    double eps = pl_attr_float(ctx->node, "epsilon", 1e-5f);
    int64_t outer = dims_prod(x->dims, 0, axis), n = dims_prod(x->dims, axis, x->rank);
    pl_dtype ct = x->dtype == PL_DT_DOUBLE ? PL_DT_DOUBLE : PL_DT_FLOAT;
    int nrank = x->rank - axis;
    const int64_t *ndims = x->dims + axis;
    pl_tensor *scale = NULL, *bias = NULL, *mo = NULL, *io = NULL;
    int64_t sdims[PL_MAX_RANK];
    for (int i = 0; i < x->rank; i++) sdims[i] = i < axis ? x->dims[i] : 1;
    pl_status s = expand_param(ctx, 1, "Scale", nrank, ndims, ct, &scale);
    if (s == PL_OK && pl_in(ctx, 2)) s = expand_param(ctx, 2, "B", nrank, ndims, ct, &bias);
    if (s == PL_OK && out_wanted(ctx, 1)) s = pl_out(ctx, 1, sdt, x->rank, sdims, &mo);
    if (s == PL_OK && out_wanted(ctx, 2)) s = pl_out(ctx, 2, sdt, x->rank, sdims, &io);
    work w;
    if (s == PL_OK) s = work_begin(ctx, x, &w);
    if (s == PL_OK) {
        ln_rows(w.x, w.y, outer, n, eps, scale, bias, mo, io);
        s = work_end(ctx, &w, PL_OK);
    }
    pl_tensor_destroy(scale);
    pl_tensor_destroy(bias);
    return s;
}

/* ---- Group and Instance normalisation ---- */

/* Normalises each group of C/G channels of each sample, then applies per-channel scale and
 * bias (double tensors of C values). */
static void group_apply(const pl_tensor *x, pl_tensor *y, int64_t groups, double eps,
                        const pl_tensor *scale, const pl_tensor *bias) {
    int64_t n_batch = x->dims[0], c = x->dims[1], inner = dims_prod(x->dims, 2, x->rank);
    int64_t cpg = c / groups;
    for (int64_t n = 0; n < n_batch; n++)
        for (int64_t g = 0; g < groups; g++) {
            int64_t off = (n * c + g * cpg) * inner;
            double mean, var;
            row_moments(x, off, cpg * inner, &mean, &var);
            double inv = 1.0 / sqrt(var + eps);
            for (int64_t k = 0; k < cpg; k++) {
                int64_t ch = g * cpg + k;
                double a = ld(scale, ch) * inv, b = ld(bias, ch) - mean * a;
                row_affine(x, y, off + k * inner, inner, a, b);
            }
        }
}

/* Per-channel values of parameter input idx holding C (or `groups`) values. */
static pl_status channel_param(const pl_kernel_ctx *ctx, int idx, const char *what, int64_t c,
                               int64_t groups, pl_tensor **out) {
    const pl_tensor *p;
    *out = NULL;
    PL_TRY(pl_in_req(ctx, idx, &p));
    int64_t one[1] = {c};
    if (p->numel == c || p->numel != groups)
        return expand_param(ctx, idx, what, 1, one, PL_DT_DOUBLE, out);
    int64_t gd[1] = {groups};
    pl_tensor *pg;
    PL_TRY(expand_param(ctx, idx, what, 1, gd, PL_DT_DOUBLE, &pg));
    pl_status s = pl_tensor_create(PL_DT_DOUBLE, 1, one, out);
    for (int64_t k = 0; s == PL_OK && k < c; k++) st(*out, k, ld(pg, k / (c / groups)));
    pl_tensor_destroy(pg);
    return s;
}

/* Shared driver of InstanceNormalization (groups = C) and GroupNormalization. */
static pl_status group_norm(pl_kernel_ctx *ctx, int64_t groups) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(need_rank(x, 2));
    int64_t c = x->dims[1];
    if (groups < 0) groups = c;
    if (groups <= 0 || c % groups != 0)
        return pl_err(PL_ERR_INVALID, "attribute num_groups %lld must divide the %lld channels",
                      (long long)groups, (long long)c);
    double eps = pl_attr_float(ctx->node, "epsilon", 1e-5f);
    pl_tensor *scale = NULL, *bias = NULL;
    pl_status s = channel_param(ctx, 1, "scale", c, groups, &scale);
    if (s == PL_OK) s = channel_param(ctx, 2, "B", c, groups, &bias);
    work w;
    if (s == PL_OK) s = work_begin(ctx, x, &w);
    if (s == PL_OK) {
        group_apply(w.x, w.y, groups, eps, scale, bias);
        s = work_end(ctx, &w, PL_OK);
    }
    pl_tensor_destroy(scale);
    pl_tensor_destroy(bias);
    return s;
}

static pl_status instancenorm_run(pl_kernel_ctx *ctx) { return group_norm(ctx, -1); }

static pl_status groupnorm_run(pl_kernel_ctx *ctx) {
    const pl_attr *a = pl_node_attr(ctx->node, "num_groups");
    if (!a || a->type != PL_ATTR_INT)
        return pl_err(PL_ERR_INVALID, "attribute num_groups (int) is required");
    if (a->i <= 0)
        return pl_err(PL_ERR_INVALID, "attribute num_groups %lld must be positive",
                      (long long)a->i);
    return group_norm(ctx, a->i);
}

/* ---- LRN ---- */

/* y = x / (bias + alpha / size * sum of x^2 over the size channels around c) ^ beta. */
static void lrn_apply(const pl_tensor *x, pl_tensor *y, int64_t size, double alpha, double beta,
                      double bias, double *sq) {
    int64_t nb = x->dims[0], c = x->dims[1], inner = dims_prod(x->dims, 2, x->rank);
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    for (int64_t n = 0; n < nb; n++)
        for (int64_t ch = 0; ch < c; ch++) {
            for (int64_t i = 0; i < inner; i++) sq[i] = 0;
            int64_t from = ch - lo < 0 ? 0 : ch - lo, to = ch + hi >= c ? c - 1 : ch + hi;
            for (int64_t k = from; k <= to; k++)
                for (int64_t i = 0; i < inner; i++) {
                    double v = ld(x, (n * c + k) * inner + i);
                    sq[i] += v * v;
                }
            for (int64_t i = 0; i < inner; i++) {
                int64_t e = (n * c + ch) * inner + i;
                st(y, e, ld(x, e) / pow(bias + alpha / (double)size * sq[i], beta));
            }
        }
}

static pl_status lrn_run(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(need_rank(x, 2));
    const pl_attr *sa = pl_node_attr(ctx->node, "size");
    if (!sa || sa->type != PL_ATTR_INT || sa->i <= 0)
        return pl_err(PL_ERR_INVALID, "attribute size (a positive int) is required%s",
                      sa ? ", got a bad value" : "");
    int64_t inner = dims_prod(x->dims, 2, x->rank);
    double *sq = malloc((size_t)(inner ? inner : 1) * sizeof *sq);
    if (!sq) return pl_err(PL_ERR_NOMEM, "out of memory");
    work w;
    pl_status s = work_begin(ctx, x, &w);
    if (s == PL_OK) {
        lrn_apply(w.x, w.y, sa->i, pl_attr_float(ctx->node, "alpha", 1e-4f),
                  pl_attr_float(ctx->node, "beta", 0.75f), pl_attr_float(ctx->node, "bias", 1.0f),
                  sq);
        s = work_end(ctx, &w, PL_OK);
    }
    free(sq);
    return s;
}

/* ---- MeanVarianceNormalization ---- */

/* Walks a row-major shape keeping `off` = offset in a tensor with strides `stride`. */
typedef struct odo {
    int rank;
    const int64_t *dims;
    int64_t idx[PL_MAX_RANK], stride[PL_MAX_RANK], off;
} odo;

static void odo_next(odo *o) {
    for (int d = o->rank - 1; d >= 0; d--) {
        o->off += o->stride[d];
        if (++o->idx[d] < o->dims[d]) return;
        o->off -= o->stride[d] * o->dims[d];
        o->idx[d] = 0;
    }
}

/* y = (x - mean) / (sqrt(var) + 1e-9) with mean and var over `axes` (mask `red`). */
static pl_status mvn_apply(const pl_tensor *x, pl_tensor *y, const bool *red) {
    int64_t kd[PL_MAX_RANK];
    int r = x->rank;
    for (int i = 0; i < r; i++) kd[i] = red[i] ? 1 : x->dims[i];
    int64_t nk = dims_prod(kd, 0, r), cnt = x->numel / (nk ? nk : 1);
    double *mean = calloc((size_t)(nk ? nk : 1), sizeof *mean);
    double *var = calloc((size_t)(nk ? nk : 1), sizeof *var);
    if (!mean || !var) {
        free(mean);
        free(var);
        return pl_err(PL_ERR_NOMEM, "out of memory");
    }
    odo o = {.rank = r, .dims = x->dims};
    pl_strides(r, kd, o.stride);
    for (int i = 0; i < r; i++) o.stride[i] = red[i] ? 0 : o.stride[i];
    for (int pass = 0; pass < 3; pass++) {
        memset(o.idx, 0, sizeof o.idx);
        o.off = 0;
        for (int64_t e = 0; e < x->numel; e++, odo_next(&o)) {
            double v = ld(x, e);
            if (pass == 0) mean[o.off] += v;
            else if (pass == 1) var[o.off] += (v - mean[o.off]) * (v - mean[o.off]);
            else st(y, e, (v - mean[o.off]) / (sqrt(var[o.off]) + 1e-9));
        }
        for (int64_t k = 0; pass < 2 && k < nk; k++) {
            if (pass == 0) mean[k] /= (double)cnt;
            else var[k] /= (double)cnt;
        }
    }
    free(mean);
    free(var);
    return PL_OK;
}

static pl_status mvn_run(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    int n = 0;
    const int64_t *axes = pl_attr_ints(ctx->node, "axes", &n);
    static const int64_t dflt[3] = {0, 2, 3};
    if (!axes) {
        axes = dflt;
        n = 3;
    }
    bool red[PL_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        PL_TRY(pl_axis(axes[i], x->rank, "attribute axes value", &a));
        if (x->rank == 0) break;
        red[a] = true;
    }
    work w;
    PL_TRY(work_begin(ctx, x, &w));
    return work_end(ctx, &w, mvn_apply(w.x, w.y, red));
}

/* ---- LpNormalization ---- */

/* y = x / ||x||_p along the middle axis of [outer, n, inner]; a zero norm gives 0. */
static void lp_apply(const pl_tensor *x, pl_tensor *y, int64_t outer, int64_t n, int64_t inner,
                     int p) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            int64_t base = o * n * inner + j;
            double s = 0;
            for (int64_t k = 0; k < n; k++) {
                double v = ld(x, base + k * inner);
                s += p == 1 ? fabs(v) : v * v;
            }
            double norm = p == 1 ? s : sqrt(s);
            for (int64_t k = 0; k < n; k++)
                st(y, base + k * inner, norm == 0 ? 0 : ld(x, base + k * inner) / norm);
        }
}

static pl_status lpnorm_run(pl_kernel_ctx *ctx) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    if (x->rank < 1) return pl_err(PL_ERR_INVALID, "input 0 must have rank >= 1, is a scalar");
    int axis;
    PL_TRY(pl_axis(pl_attr_int(ctx->node, "axis", -1), x->rank, "attribute axis", &axis));
    int64_t p = pl_attr_int(ctx->node, "p", 2);
    if (p != 1 && p != 2)
        return pl_err(PL_ERR_INVALID, "attribute p %lld must be 1 or 2", (long long)p);
    work w;
    PL_TRY(work_begin(ctx, x, &w));
    lp_apply(w.x, w.y, dims_prod(x->dims, 0, axis), x->dims[axis],
             dims_prod(x->dims, axis + 1, x->rank), (int)p);
    return work_end(ctx, &w, PL_OK);
}

const pl_op_schema pl_ops_norm[] = {
    {"", "BatchNormalization", 5, 5, 1, 5, batchnorm_run},
    {"", "InstanceNormalization", 3, 3, 1, 1, instancenorm_run},
    {"", "LayerNormalization", 2, 3, 1, 3, layernorm_run},
    {"", "GroupNormalization", 3, 3, 1, 1, groupnorm_run},
    {"", "LRN", 1, 1, 1, 1, lrn_run},
    {"", "MeanVarianceNormalization", 1, 1, 1, 1, mvn_run},
    {"", "LpNormalization", 1, 1, 1, 1, lpnorm_run},
    {0},
};
