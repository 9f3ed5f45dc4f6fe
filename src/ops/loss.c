/* loss.c - NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * Inputs are [N, C, d1, ..., dk] scores (log-probabilities for NLL) with [N, d1, ..., dk]
 * integer targets and an optional weight of C values. Both ops reduce to the same core on
 * log-probabilities viewed as [N, C, D]: loss = -logp[n, target, d] * weight[target], zero
 * (with zero weight) where target == ignore_index; reduction "none" keeps the target's shape,
 * "sum" adds, "mean" divides the sum by the summed weights. Computed in double (loss tensors
 * are small) and rounded to the input's dtype. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum loss_reduction { RED_NONE, RED_SUM, RED_MEAN } loss_reduction;

/* What the core needs besides the log-probabilities. */
typedef struct loss_args {
    int64_t n, c, d;           /* logp is [n, c, d] */
    const pl_tensor *target;   /* [n, d] (any shape with n*d values), integer */
    const pl_tensor *weight;   /* C values or NULL */
    loss_reduction reduction;
    bool has_ignore;
    int64_t ignore_index;
    pl_dtype dtype;            /* output dtype */
} loss_args;

static bool is_float_type(pl_dtype t) {
    return t == PL_DT_FLOAT || t == PL_DT_DOUBLE || t == PL_DT_FLOAT16 || t == PL_DT_BFLOAT16;
}

/* Reads the reduction and ignore_index attributes. */
static pl_status loss_attrs(const pl_kernel_ctx *ctx, loss_args *a) {
    const char *r = pl_attr_string(ctx->node, "reduction", "mean");
    if (!strcmp(r, "none")) a->reduction = RED_NONE;
    else if (!strcmp(r, "sum")) a->reduction = RED_SUM;
    else if (!strcmp(r, "mean")) a->reduction = RED_MEAN;
    else
        return pl_err(PL_ERR_INVALID, "attribute reduction '%s' must be none, sum or mean", r);
    const pl_attr *ii = pl_node_attr(ctx->node, "ignore_index");
    a->has_ignore = ii != NULL;
    if (ii && ii->type != PL_ATTR_INT)
        return pl_err(PL_ERR_INVALID, "attribute ignore_index must be an int");
    a->ignore_index = ii ? ii->i : 0;
    return PL_OK;
}

/* Validates scores (input 0), target (input 1) and weight (input 2) and fills the geometry. */
static pl_status loss_inputs(const pl_kernel_ctx *ctx, const pl_tensor **scores, loss_args *a) {
    const pl_tensor *x, *t;
    PL_TRY(pl_in_req(ctx, 0, &x));
    PL_TRY(pl_in_req(ctx, 1, &t));
    char sx[256], st[256];
    if (!is_float_type(x->dtype))
        return pl_err(PL_ERR_UNSUPPORTED, "input 0 has dtype %s; float types only",
                      pl_dtype_name(x->dtype));
    if (x->rank < 2)
        return pl_err(PL_ERR_INVALID, "input 0 has shape %s; rank >= 2 ([N, C, ...]) is required",
                      pl_dims_str(x->rank, x->dims, sx, sizeof sx));
    if (!pl_dtype_is_int(t->dtype))
        return pl_err(PL_ERR_INVALID, "input 1 (target) must be an integer tensor, not %s",
                      pl_dtype_name(t->dtype));
    bool ok = t->rank == x->rank - 1 && t->dims[0] == x->dims[0];
    for (int i = 1; ok && i < t->rank; i++) ok = t->dims[i] == x->dims[i + 1];
    if (!ok)
        return pl_err(PL_ERR_INVALID, "input 1 (target) has shape %s; input 0 of shape %s needs "
                      "[N, d1, ..., dk]", pl_dims_str(t->rank, t->dims, st, sizeof st),
                      pl_dims_str(x->rank, x->dims, sx, sizeof sx));
    a->n = x->dims[0];
    a->c = x->dims[1];
    a->d = 1;
    for (int i = 2; i < x->rank; i++) a->d *= x->dims[i];
    a->target = t;
    a->dtype = x->dtype;
    a->weight = pl_in(ctx, 2);
    if (a->weight) {
        const pl_tensor *w = a->weight;
        if (w->kind != PL_KIND_TENSOR || !is_float_type(w->dtype) || w->rank != 1 ||
            w->dims[0] != a->c)
            return pl_err(PL_ERR_INVALID, "input 2 (weight) must be a 1-D float tensor of %lld "
                          "values, has dtype %s and shape %s", (long long)a->c,
                          pl_dtype_name(w->dtype), pl_dims_str(w->rank, w->dims, st, sizeof st));
    }
    *scores = x;
    return PL_OK;
}

/* Computes output 0 from log-probabilities logp ([n, c, d] doubles). */
static pl_status loss_core(pl_kernel_ctx *ctx, const double *logp, const loss_args *a) {
    const pl_tensor *t = a->target;
    pl_tensor *out;
    if (a->reduction == RED_NONE) PL_TRY(pl_out(ctx, 0, a->dtype, t->rank, t->dims, &out));
    else PL_TRY(pl_out(ctx, 0, a->dtype, 0, NULL, &out));
    double sum = 0, wsum = 0;
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t j = 0; j < a->d; j++) {
            int64_t k = i * a->d + j, cls = pl_get_i64(t, k);
            if (a->has_ignore && cls == a->ignore_index) continue;
            if (cls < 0 || cls >= a->c)
                return pl_err(PL_ERR_INVALID, "input 1 (target) value %lld at index %lld is "
                              "outside [0, %lld) and not ignore_index", (long long)cls,
                              (long long)k, (long long)a->c);
            double w = a->weight ? pl_get_f64(a->weight, cls) : 1.0;
            double l = -logp[(i * a->c + cls) * a->d + j] * w;
            if (a->reduction == RED_NONE) pl_set_f64(out, k, l);
            sum += l;
            wsum += w;
        }
    if (a->reduction == RED_SUM) pl_set_f64(out, 0, sum);
    if (a->reduction == RED_MEAN) pl_set_f64(out, 0, sum / wsum); /* NaN when all ignored */
    return PL_OK;
}

/* A double copy of x's values; caller frees. */
static pl_status to_doubles(const pl_tensor *x, double **out) {
    *out = malloc((size_t)(x->numel ? x->numel : 1) * sizeof **out);
    if (!*out) return pl_err(PL_ERR_NOMEM, "out of memory for %lld values", (long long)x->numel);
    for (int64_t i = 0; i < x->numel; i++) (*out)[i] = pl_get_f64(x, i);
    return PL_OK;
}

/* NegativeLogLikelihoodLoss: input 0 already holds log-probabilities. */
static pl_status nllloss_run(pl_kernel_ctx *ctx) {
    loss_args a;
    const pl_tensor *x;
    PL_TRY(loss_attrs(ctx, &a));
    PL_TRY(loss_inputs(ctx, &x, &a));
    double *logp;
    PL_TRY(to_doubles(x, &logp));
    pl_status s = loss_core(ctx, logp, &a);
    free(logp);
    return s;
}

/* In-place log-softmax over the c axis of [n, c, d]. */
static void log_softmax_axis1(double *v, int64_t n, int64_t c, int64_t d) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            double *p = v + i * c * d + j;
            double mx = -INFINITY, s = 0;
            for (int64_t k = 0; k < c; k++) mx = p[k * d] > mx ? p[k * d] : mx;
            for (int64_t k = 0; k < c; k++) s += exp(p[k * d] - mx);
            double lse = log(s);
            for (int64_t k = 0; k < c; k++) p[k * d] = (p[k * d] - mx) - lse;
        }
}

/* SoftmaxCrossEntropyLoss: log-softmax of the scores over C, then the NLL loss; output 1
 * (optional) is the log-probabilities. */
static pl_status sce_run(pl_kernel_ctx *ctx) {
    loss_args a;
    const pl_tensor *x;
    PL_TRY(loss_attrs(ctx, &a));
    PL_TRY(loss_inputs(ctx, &x, &a));
    double *logp;
    PL_TRY(to_doubles(x, &logp));
    log_softmax_axis1(logp, a.n, a.c, a.d);
    pl_status s = loss_core(ctx, logp, &a);
    if (s == PL_OK && ctx->n_out > 1 && ctx->node->out[1] >= 0) {
        pl_tensor *lp;
        s = pl_out(ctx, 1, x->dtype, x->rank, x->dims, &lp);
        for (int64_t i = 0; s == PL_OK && i < lp->numel; i++) pl_set_f64(lp, i, logp[i]);
    }
    free(logp);
    return s;
}

const pl_op_schema pl_ops_loss[] = {
    {"", "NegativeLogLikelihoodLoss", 2, 3, 1, 1, nllloss_run},
    {"", "SoftmaxCrossEntropyLoss", 2, 3, 1, 2, sce_run},
    {0},
};
