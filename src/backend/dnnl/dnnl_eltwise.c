/* dnnl_eltwise.c - the unary element-wise ops on oneDNN's eltwise primitive, in whatever
 * layout the input arrives (the output takes the same layout): Relu, LeakyRelu, Sigmoid,
 * Tanh, Clip, HardSwish, HardSigmoid (linear, then clip in place), Elu, Gelu, Exp, Log, Sqrt,
 * Abs, Neg, Softplus, Mish, Round and Pow by a constant scalar. Float tensors only; anything
 * else runs on the reference. */
#include "dnnl_util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct elt_params {
    dnnl_alg_kind_t alg;
    float alpha, beta;
    bool hard_sigmoid; /* linear, then clip to [0, 1] */
} elt_params;

/* The scalar of constant input i (absent: *has = false); false when it is not a constant
 * scalar of a real type. */
static bool const_scalar(const pl_xgraph *xg, const pl_xnode *xn, int i, double *v, bool *has) {
    *has = false;
    if (i >= xn->n_in || xn->in[i] < 0) return true;
    const pl_tensor *t = xg->consts[xn->in[i]];
    if (!t || t->kind != PL_KIND_TENSOR) return false;
    if (t->numel == 0 && t->rank > 0) return true; /* an empty bound: absent */
    if (t->numel != 1 || !(pl_dtype_is_float(t->dtype) || pl_dtype_is_int(t->dtype))) return false;
    *v = pl_get_f64(t, 0);
    *has = true;
    return true;
}

/* How xn maps onto oneDNN's eltwise; false when it does not (exactly). */
static bool elt_map(const pl_xgraph *xg, const pl_xnode *xn, elt_params *e) {
    const pl_node *n = xn->node;
    const char *op = xn->op;
    memset(e, 0, sizeof *e);
    if (n->domain[0] || xn->n_in < 1 || xn->n_out != 1 || xn->in[0] < 0) return false;
    if (!strcmp(op, "Relu")) e->alg = dnnl_eltwise_relu;
    else if (!strcmp(op, "LeakyRelu")) e->alg = dnnl_eltwise_relu, e->alpha = pl_attr_float(n, "alpha", 0.01f);
    else if (!strcmp(op, "Sigmoid")) e->alg = dnnl_eltwise_logistic;
    else if (!strcmp(op, "Tanh")) e->alg = dnnl_eltwise_tanh;
    else if (!strcmp(op, "HardSwish")) e->alg = dnnl_eltwise_hardswish;
    else if (!strcmp(op, "Elu")) e->alg = dnnl_eltwise_elu, e->alpha = pl_attr_float(n, "alpha", 1.0f);
    else if (!strcmp(op, "Exp")) e->alg = dnnl_eltwise_exp;
    else if (!strcmp(op, "Log")) e->alg = dnnl_eltwise_log;
    else if (!strcmp(op, "Sqrt")) e->alg = dnnl_eltwise_sqrt;
    else if (!strcmp(op, "Abs")) e->alg = dnnl_eltwise_abs;
    else if (!strcmp(op, "Neg")) e->alg = dnnl_eltwise_linear, e->alpha = -1.0f;
    else if (!strcmp(op, "Softplus")) e->alg = dnnl_eltwise_soft_relu;
    else if (!strcmp(op, "Mish")) e->alg = dnnl_eltwise_mish;
    else if (!strcmp(op, "Round")) e->alg = dnnl_eltwise_round;
    else if (!strcmp(op, "HardSigmoid")) {
        e->alg = dnnl_eltwise_linear;
        e->alpha = pl_attr_float(n, "alpha", 0.2f);
        e->beta = pl_attr_float(n, "beta", 0.5f);
        e->hard_sigmoid = true;
    } else if (!strcmp(op, "Gelu")) {
        const char *a = pl_attr_string(n, "approximate", "none");
        if (!strcmp(a, "none")) e->alg = dnnl_eltwise_gelu_erf;
        else if (!strcmp(a, "tanh")) e->alg = dnnl_eltwise_gelu_tanh;
        else return false;
    } else if (!strcmp(op, "Clip")) {
        e->alg = dnnl_eltwise_clip_v2;
        e->alpha = -INFINITY;
        e->beta = INFINITY;
        if (n->opset < 11) { /* absent bounds are -FLT_MAX and FLT_MAX here */
            e->alpha = pl_attr_float(n, "min", -FLT_MAX);
            e->beta = pl_attr_float(n, "max", FLT_MAX);
        } else {
            double lo = 0, hi = 0;
            bool has_lo, has_hi;
            if (!const_scalar(xg, xn, 1, &lo, &has_lo) || !const_scalar(xg, xn, 2, &hi, &has_hi)) return false;
            if (xn->n_in > 3) return false;
            if (has_lo) e->alpha = (float)lo;
            if (has_hi) e->beta = (float)hi;
        }
        if (isnan(e->alpha) || isnan(e->beta)) return false;
    } else if (!strcmp(op, "Pow")) {
        double y = 0;
        bool has;
        if (xn->n_in != 2 || !const_scalar(xg, xn, 1, &y, &has) || !has) return false;
        if (xg->consts[xn->in[1]]->rank > 0) return false; /* may widen the output's rank */
        e->alg = dnnl_eltwise_pow;
        e->alpha = 1.0f;
        e->beta = (float)y;
    } else {
        return false;
    }
    /* inputs other than the data (Clip's bounds, Pow's exponent) are read above */
    if (strcmp(op, "Clip") && strcmp(op, "Pow") && xn->n_in != 1) return false;
    return true;
}

static bool elt_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    elt_params e;
    return elt_map(xg, xn, &e) && pl_dnnl_maybe_float(xg, xn->in[0]);
}

/* The eltwise primitive (alg, alpha, beta) over layout md, cached under key. */
static pl_status make_prim(pl_xnode *xn, dnnl_alg_kind_t alg, float alpha, float beta, const pl_tensor *x,
                           const dnnl_memory_desc_t *md, const int64_t *key, int key_len, pl_dnnl_prim **out) {
    pl_dnnl_prim *p = pl_dnnl_prim_new(key, key_len, md);
    if (!p) return PL_ERR_NOMEM;
    p->rank = x->rank;
    memcpy(p->out_dims, x->dims, (size_t)x->rank * sizeof *x->dims);
    dnnl_eltwise_desc_t d;
    pl_status st = pl_dnnl_check(dnnl_eltwise_forward_desc_init(&d, dnnl_forward_inference, alg, md, alpha, beta),
                                 "eltwise descriptor");
    if (st == PL_OK) st = pl_dnnl_prim_create_plain(p, &d, "eltwise");
    if (st != PL_OK) {
        pl_dnnl_prim_free(p);
        return st;
    }
    pl_dnnl_add(xn, p, out);
    return PL_OK;
}

static pl_status elt_run(pl_xrun *r, pl_xnode *xn) {
    dnnl_memory_desc_t xmd;
    void *xd;
    const pl_tensor *x;
    PL_DNNL_IN_OR_REFERENCE(r, xn, 0, &xmd, &xd, &x);
    elt_params e;
    if (x->kind != PL_KIND_TENSOR || x->dtype != PL_DT_FLOAT || x->numel == 0 || !elt_map(pl_xrun_graph(r), xn, &e) ||
        (x->numel < PL_DNNL_MIN_PLAIN_NUMEL && pl_dnnl_md_is_plain(&xmd)))
        return pl_tactic_reference.run(r, xn);
    int64_t key[64];
    int key_len;
    PL_TRY(pl_dnnl_key(r, xn, key, &key_len));
    pl_dnnl_prim *p = pl_dnnl_find(xn, key, key_len, &xmd);
    if (!p) {
        pl_status st = make_prim(xn, e.alg, e.alpha, e.beta, x, &xmd, key, key_len, &p);
        if (st != PL_OK) return pl_dnnl_or_reference(r, xn, st);
    }
    /* HardSigmoid's clip runs in place on the output (oneDNN 2.6 miscomputes a linear
     * eltwise with a clip post-op on short tensors); its entry's key ends in a marker */
    pl_dnnl_prim *clip = NULL;
    if (e.hard_sigmoid) {
        if (key_len >= 64) return pl_tactic_reference.run(r, xn);
        key[key_len++] = -77;
        clip = pl_dnnl_find(xn, key, key_len, &p->dst_md);
        if (!clip) {
            pl_status st = make_prim(xn, dnnl_eltwise_clip_v2, 0.f, 1.f, x, &p->dst_md, key, key_len, &clip);
            if (st != PL_OK) return pl_dnnl_or_reference(r, xn, st);
        }
    }
    void *dst;
    PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst));
    pl_dnnl_arg a[2] = {{DNNL_ARG_SRC, &xmd, xd}, {DNNL_ARG_DST, &p->dst_md, dst}};
    PL_TRY(pl_dnnl_prim_exec(r, p, 2, a, dst));
    if (!clip) return PL_OK;
    pl_dnnl_arg c[2] = {{DNNL_ARG_SRC, &p->dst_md, dst}, {DNNL_ARG_DST, &p->dst_md, dst}};
    return pl_dnnl_prim_exec(r, clip, 2, c, dst);
}

const pl_tactic pl_tactic_dnnl_eltwise = {.name = "onednn:eltwise", .accepts = elt_accepts, .run = elt_run,
                                          .blocked_io = true};
