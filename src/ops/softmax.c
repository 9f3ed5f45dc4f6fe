/* softmax.c - Softmax, LogSoftmax and Hardmax.
 *
 * opset < 13: the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] (default
 * axis 1) and each row is normalised. opset >= 13: normalised along the single `axis`
 * (default -1). Both reduce to blocks of `n` x `inner` elements with `inner` = 1 for the
 * contiguous case. Numerically stable: the row maximum is subtracted before exp.
 * float and double compute natively; float16/bfloat16 compute in float and round back. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>

typedef enum sm_kind { SM_SOFTMAX, SM_LOGSOFTMAX, SM_HARDMAX } sm_kind;

/* The input viewed as [outer, n, inner], normalised along n. */
typedef struct sm_geom {
    int64_t outer, n, inner;
} sm_geom;

/* Row kernels (inner == 1, one contiguous pass per stage) and block kernels (inner > 1,
 * walking the n axis with `inner` running values in `acc`) for T = float and double.
 * Sums accumulate in double. Hardmax marks the first maximum. */
#define SM_DEFINE(T, SUF, EXP, LOG)                                                                \
    static T sm_max_##SUF(const T *x, int64_t n) { /* n >= 1; four chains */                      \
        T m0 = x[0], m1 = x[0], m2 = x[0], m3 = x[0];                                              \
        int64_t k = 0;                                                                             \
        for (; k + 4 <= n; k += 4) {                                                               \
            m0 = x[k] > m0 ? x[k] : m0;                                                            \
            m1 = x[k + 1] > m1 ? x[k + 1] : m1;                                                    \
            m2 = x[k + 2] > m2 ? x[k + 2] : m2;                                                    \
            m3 = x[k + 3] > m3 ? x[k + 3] : m3;                                                    \
        }                                                                                          \
        for (; k < n; k++) m0 = x[k] > m0 ? x[k] : m0;                                             \
        m0 = m1 > m0 ? m1 : m0;                                                                    \
        m2 = m3 > m2 ? m3 : m2;                                                                    \
        return m2 > m0 ? m2 : m0;                                                                  \
    }                                                                                              \
    /* sum of exp(x - mx); stores the terms in y when y is not NULL */                             \
    static double sm_expsum_##SUF(const T *x, T *y, int64_t n, T mx) {                             \
        double s0 = 0, s1 = 0;                                                                     \
        int64_t k = 0;                                                                             \
        for (; k + 2 <= n; k += 2) {                                                               \
            T e0 = EXP(x[k] - mx), e1 = EXP(x[k + 1] - mx);                                        \
            if (y) y[k] = e0, y[k + 1] = e1;                                                       \
            s0 += e0;                                                                              \
            s1 += e1;                                                                              \
        }                                                                                          \
        for (; k < n; k++) {                                                                       \
            T e0 = EXP(x[k] - mx);                                                                 \
            if (y) y[k] = e0;                                                                      \
            s0 += e0;                                                                              \
        }                                                                                          \
        return s0 + s1;                                                                            \
    }                                                                                              \
    static void sm_rows_##SUF(sm_kind kind, const T *x, T *y, int64_t rows, int64_t n) {          \
        for (int64_t r = 0; r < rows; r++, x += n, y += n) {                                       \
            if (n == 0) continue;                                                                  \
            if (kind == SM_HARDMAX) {                                                              \
                int64_t arg = 0;                                                                   \
                for (int64_t k = 1; k < n; k++)                                                    \
                    if (x[k] > x[arg]) arg = k;                                                    \
                for (int64_t k = 0; k < n; k++) y[k] = 0;                                          \
                y[arg] = 1;                                                                        \
                continue;                                                                          \
            }                                                                                      \
            T mx = sm_max_##SUF(x, n);                                                             \
            if (kind == SM_SOFTMAX) {                                                              \
                T inv = (T)(1.0 / sm_expsum_##SUF(x, y, n, mx));                                   \
                for (int64_t k = 0; k < n; k++) y[k] *= inv;                                       \
            } else {                                                                               \
                T lse = (T)LOG((T)sm_expsum_##SUF(x, NULL, n, mx));                                \
                for (int64_t k = 0; k < n; k++) y[k] = (x[k] - mx) - lse;                          \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void sm_block_##SUF(sm_kind kind, const T *x, T *y, int64_t n, int64_t inner,          \
                               double *acc, T *mx) {                                               \
        for (int64_t j = 0; j < inner; j++) {                                                      \
            mx[j] = x[j];                                                                          \
            acc[j] = 0;                                                                            \
        }                                                                                          \
        for (int64_t k = 1; k < n; k++)                                                            \
            for (int64_t j = 0; j < inner; j++)                                                    \
                if (x[k * inner + j] > mx[j]) mx[j] = x[k * inner + j], acc[j] = (double)k;        \
        if (kind == SM_HARDMAX) {                                                                  \
            for (int64_t k = 0; k < n; k++)                                                        \
                for (int64_t j = 0; j < inner; j++)                                                \
                    y[k * inner + j] = (double)k == acc[j] ? 1 : 0;                                \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j = 0; j < inner; j++) acc[j] = 0;                                            \
        for (int64_t k = 0; k < n; k++)                                                            \
            for (int64_t j = 0; j < inner; j++) {                                                  \
                T e = EXP(x[k * inner + j] - mx[j]);                                               \
                if (kind == SM_SOFTMAX) y[k * inner + j] = e;                                      \
                acc[j] += e;                                                                       \
            }                                                                                      \
        for (int64_t j = 0; j < inner; j++)                                                        \
            acc[j] = kind == SM_SOFTMAX ? 1.0 / acc[j] : (double)LOG((T)acc[j]);                   \
        for (int64_t k = 0; k < n; k++)                                                            \
            for (int64_t j = 0; j < inner; j++) {                                                  \
                if (kind == SM_SOFTMAX) y[k * inner + j] *= (T)acc[j];                             \
                else y[k * inner + j] = (x[k * inner + j] - mx[j]) - (T)acc[j];                    \
            }                                                                                      \
    }

SM_DEFINE(float, f32, expf, logf)
SM_DEFINE(double, f64, exp, log)

/* Splits the shape of x by the op's axis rule for this opset. */
static pl_status sm_geometry(const pl_kernel_ctx *ctx, const pl_tensor *x, sm_geom *g) {
    int rank = x->rank;
    if (rank < 1) return pl_err(PL_ERR_INVALID, "input 0 must have rank >= 1, is a scalar");
    bool legacy = ctx->opset < 13;
    int64_t a = pl_attr_int(ctx->node, "axis", legacy ? 1 : -1);
    int axis;
    if (legacy && a == rank) axis = rank; /* opset < 13 coerces to [numel, 1] */
    else PL_TRY(pl_axis(a, rank, "attribute axis", &axis));
    g->outer = g->n = g->inner = 1;
    for (int i = 0; i < rank; i++) {
        int64_t *slot = i < axis ? &g->outer : (i == axis || legacy) ? &g->n : &g->inner;
        *slot *= x->dims[i];
    }
    return PL_OK;
}

/* Computes y from x (both float or both double) over all outer blocks. */
static pl_status sm_compute(sm_kind kind, const pl_tensor *x, pl_tensor *y, sm_geom g) {
    bool dbl = x->dtype == PL_DT_DOUBLE;
    if (x->numel == 0) return PL_OK;
    if (g.inner == 1) {
        if (dbl) sm_rows_f64(kind, x->data, y->data, g.outer, g.n);
        else sm_rows_f32(kind, x->data, y->data, g.outer, g.n);
        return PL_OK;
    }
    double *acc = malloc((size_t)g.inner * sizeof *acc);
    void *mx = malloc((size_t)g.inner * (dbl ? sizeof(double) : sizeof(float)));
    if (!acc || !mx) {
        free(acc);
        free(mx);
        return pl_err(PL_ERR_NOMEM, "out of memory for %lld scratch values", (long long)g.inner);
    }
    int64_t block = g.n * g.inner;
    for (int64_t o = 0; o < g.outer; o++) {
        if (dbl)
            sm_block_f64(kind, (const double *)x->data + o * block, (double *)y->data + o * block,
                         g.n, g.inner, acc, mx);
        else
            sm_block_f32(kind, (const float *)x->data + o * block, (float *)y->data + o * block,
                         g.n, g.inner, acc, mx);
    }
    free(acc);
    free(mx);
    return PL_OK;
}

/* Shared driver: validates, picks the compute type, creates output 0. */
static pl_status sm_run(pl_kernel_ctx *ctx, sm_kind kind) {
    const pl_tensor *x;
    PL_TRY(pl_in_req(ctx, 0, &x));
    sm_geom g;
    PL_TRY(sm_geometry(ctx, x, &g));
    pl_tensor *y;
    if (x->dtype == PL_DT_FLOAT || x->dtype == PL_DT_DOUBLE) {
        PL_TRY(pl_out(ctx, 0, x->dtype, x->rank, x->dims, &y));
        return sm_compute(kind, x, y, g);
    }
    if (x->dtype != PL_DT_FLOAT16 && x->dtype != PL_DT_BFLOAT16)
        return pl_err(PL_ERR_UNSUPPORTED, "input 0 has dtype %s; float types only",
                      pl_dtype_name(x->dtype));
    pl_tensor *xf = NULL, *yf = NULL;
    pl_status st = pl_tensor_cast(x, PL_DT_FLOAT, &xf);
    if (st == PL_OK) st = pl_tensor_create(PL_DT_FLOAT, x->rank, x->dims, &yf);
    if (st == PL_OK) st = sm_compute(kind, xf, yf, g);
    if (st == PL_OK) st = pl_tensor_cast(yf, x->dtype, &y);
    if (st == PL_OK) pl_out_set(ctx, 0, y);
    pl_tensor_destroy(xf);
    pl_tensor_destroy(yf);
    return st;
}

static pl_status softmax_run(pl_kernel_ctx *ctx) { return sm_run(ctx, SM_SOFTMAX); }
static pl_status logsoftmax_run(pl_kernel_ctx *ctx) { return sm_run(ctx, SM_LOGSOFTMAX); }
static pl_status hardmax_run(pl_kernel_ctx *ctx) { return sm_run(ctx, SM_HARDMAX); }

const pl_op_schema pl_ops_softmax[] = {
    {"", "Softmax", 1, 1, 1, 1, softmax_run},
    {"", "LogSoftmax", 1, 1, 1, 1, logsoftmax_run},
    {"", "Hardmax", 1, 1, 1, 1, hardmax_run},
    {0},
};
