/* dnnl_norm.c - LRN (across channels), BatchNormalization in inference mode (the ones the
 * bn-fold pass could not fold into a Conv) and LayerNormalization on oneDNN.
 *
 * LRN: oneDNN computes x / (k + alpha / size * sum of squares)^beta over channels
 * [c - (size-1)/2, c + (size-1)/2], which is ONNX's window only for an odd size.
 * BatchNormalization runs in the input's layout (blocked between convolutions) with the
 * given mean and variance. LayerNormalization normalizes a plain [prod(dims[:axis]),
 * prod(dims[axis:])] view over its last axis; its Mean and InvStdDev outputs are not produced,
 * so a node whose graph reads them is declined. Float tensors only. */
#include "dnnl_util.h"

#include <stdlib.h>
#include <string.h>

static bool out_read(const pl_xgraph *xg, const pl_xnode *xn, int i) {
    return i < xn->n_out && xn->out[i] >= 0 && pl_xgraph_readers(xg, xn->out[i]) > 0;
}

static bool norm_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    const pl_node *n = xn->node;
    if (n->domain[0] || xn->n_in < 1 || xn->in[0] < 0 || xn->n_out < 1 || xn->out[0] < 0) return false;
    for (int i = 0; i < xn->n_in; i++)
        if (xn->in[i] >= 0 && !pl_dnnl_maybe_float(xg, xn->in[i])) return false;
    if (!strcmp(xn->op, "LRN")) {
        int64_t size = pl_attr_int(n, "size", 0);
        return xn->n_in == 1 && xn->n_out == 1 && size > 0 && size % 2 == 1;
    }
    if (!strcmp(xn->op, "BatchNormalization")) {
        if (xn->n_in != 5 || pl_attr_int(n, "training_mode", 0) != 0) return false;
        if (n->opset < 9 && pl_attr_int(n, "spatial", 1) != 1) return false;
        if (n->opset < 7 && pl_node_attr(n, "is_test") && pl_attr_int(n, "is_test", 0) == 0) return false;
        for (int i = 0; i < 5; i++)
            if (xn->in[i] < 0) return false;
        for (int i = 1; i < xn->n_out; i++)
            if (out_read(xg, xn, i)) return false;
        return true;
    }
    if (!strcmp(xn->op, "LayerNormalization")) {
        if (xn->n_in < 2 || xn->n_in > 3 || xn->in[1] < 0) return false;
        if (pl_attr_int(n, "stash_type", 1) != 1) return false;
        for (int i = 1; i < xn->n_out; i++)
            if (out_read(xg, xn, i)) return false;
        return true;
    }
    return false;
}

/* True when p (a parameter) holds n floats and its dims are the trailing dims `want` (with
 * leading 1s allowed). */
static bool param_fits(const pl_tensor *p, int64_t n, int want_rank, const int64_t *want) {
    if (!p || p->kind != PL_KIND_TENSOR || p->dtype != PL_DT_FLOAT || p->numel != n) return false;
    if (!want) return p->rank == 1;
    for (int i = 0; i < p->rank; i++) {
        int k = i - (p->rank - want_rank);
        if (k < 0 ? p->dims[i] != 1 : p->dims[i] != want[k]) return false;
    }
    return true;
}

static pl_status finish(pl_xrun *r, pl_xnode *xn, pl_dnnl_prim *p, const void *desc, const char *what,
                        pl_dnnl_prim **out) {
    pl_status st = pl_dnnl_prim_create_plain(p, desc, what);
    if (st != PL_OK) {
        pl_dnnl_prim_free(p);
        return st;
    }
    (void)r;
    pl_dnnl_add(xn, p, out);
    return PL_OK;
}

static pl_status lrn_run(pl_xrun *r, pl_xnode *xn) {
    dnnl_memory_desc_t xmd;
    void *xd;
    const pl_tensor *x;
    PL_DNNL_IN_OR_REFERENCE(r, xn, 0, &xmd, &xd, &x);
    if (x->kind != PL_KIND_TENSOR || x->dtype != PL_DT_FLOAT || x->numel == 0 || x->rank < 3 || x->rank > 5)
        return pl_tactic_reference.run(r, xn);
    pl_dnnl_prim *p;
    PL_TRY(pl_dnnl_lookup(r, xn, &xmd, &p));
    if (!p->prim) {
        p->rank = x->rank;
        memcpy(p->out_dims, x->dims, (size_t)x->rank * sizeof *x->dims);
        const pl_node *n = xn->node;
        dnnl_lrn_desc_t d;
        pl_status st = pl_dnnl_check(dnnl_lrn_forward_desc_init(&d, dnnl_forward_inference, dnnl_lrn_across_channels, &xmd,
                                                                pl_attr_int(n, "size", 1), pl_attr_float(n, "alpha", 1e-4f),
                                                                pl_attr_float(n, "beta", 0.75f), pl_attr_float(n, "bias", 1.0f)),
                                     "lrn descriptor");
        if (st == PL_OK) st = finish(r, xn, p, &d, "lrn", &p);
        else pl_dnnl_prim_free(p);
        if (st != PL_OK) return pl_dnnl_or_reference(r, xn, st);
    }
    void *dst;
    PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst));
    pl_dnnl_arg a[2] = {{DNNL_ARG_SRC, &xmd, xd}, {DNNL_ARG_DST, &p->dst_md, dst}};
    return pl_dnnl_prim_exec(r, p, 2, a, dst);
}

static pl_status bn_run(pl_xrun *r, pl_xnode *xn) {
    dnnl_memory_desc_t xmd;
    void *xd;
    const pl_tensor *x, *prm[4];
    PL_DNNL_IN_OR_REFERENCE(r, xn, 0, &xmd, &xd, &x);
    for (int i = 0; i < 4; i++) PL_TRY(pl_xrun_in(r, xn, 1 + i, &prm[i]));
    if (x->kind != PL_KIND_TENSOR || x->dtype != PL_DT_FLOAT || x->numel == 0 || x->rank < 2 || x->rank > 5)
        return pl_tactic_reference.run(r, xn);
    for (int i = 0; i < 4; i++)
        if (!param_fits(prm[i], x->dims[1], 0, NULL)) return pl_tactic_reference.run(r, xn);
    pl_dnnl_prim *p;
    PL_TRY(pl_dnnl_lookup(r, xn, &xmd, &p));
    if (!p->prim) {
        p->rank = x->rank;
        memcpy(p->out_dims, x->dims, (size_t)x->rank * sizeof *x->dims);
        dnnl_batch_normalization_desc_t d;
        pl_status st = pl_dnnl_check(dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_inference, &xmd,
                                                                                pl_attr_float(xn->node, "epsilon", 1e-5f),
                                                                                dnnl_use_global_stats | dnnl_use_scale | dnnl_use_shift),
                                     "batch normalization descriptor");
        if (st == PL_OK) st = finish(r, xn, p, &d, "batch normalization", &p);
        else pl_dnnl_prim_free(p);
        if (st != PL_OK) return pl_dnnl_or_reference(r, xn, st);
    }
    dnnl_memory_desc_t cmd;
    PL_TRY(pl_dnnl_plain_md(PL_DT_FLOAT, 1, &x->dims[1], &cmd));
    void *dst;
    PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst));
    pl_dnnl_arg a[6] = {{DNNL_ARG_SRC, &xmd, xd},           {DNNL_ARG_DST, &p->dst_md, dst},
                        {DNNL_ARG_SCALE, &cmd, prm[0]->data}, {DNNL_ARG_SHIFT, &cmd, prm[1]->data},
                        {DNNL_ARG_MEAN, &cmd, prm[2]->data},  {DNNL_ARG_VARIANCE, &cmd, prm[3]->data}};
    return pl_dnnl_prim_exec(r, p, 6, a, dst);
}

static pl_status ln_run(pl_xrun *r, pl_xnode *xn) {
    const pl_tensor *x, *scale, *bias = NULL;
    PL_TRY(pl_xrun_in(r, xn, 0, &x));
    PL_TRY(pl_xrun_in(r, xn, 1, &scale));
    if (xn->n_in > 2) PL_TRY(pl_xrun_in(r, xn, 2, &bias));
    int64_t axis = pl_attr_int(xn->node, "axis", -1);
    if (x->kind != PL_KIND_TENSOR || x->dtype != PL_DT_FLOAT || x->numel == 0) return pl_tactic_reference.run(r, xn);
    if (axis < 0) axis += x->rank;
    if (axis < 0 || axis >= x->rank) return pl_tactic_reference.run(r, xn);
    int64_t d2[2] = {1, 1};
    for (int i = 0; i < x->rank; i++) d2[i >= axis] *= x->dims[i];
    int nrank = x->rank - (int)axis;
    if (!param_fits(scale, d2[1], nrank, x->dims + axis) || (bias && !param_fits(bias, d2[1], nrank, x->dims + axis)))
        return pl_tactic_reference.run(r, xn);
    pl_dnnl_prim *p;
    PL_TRY(pl_dnnl_lookup(r, xn, NULL, &p));
    if (!p->prim) {
        dnnl_memory_desc_t md;
        dnnl_layer_normalization_desc_t d;
        unsigned flags = dnnl_use_scale | (bias ? dnnl_use_shift : 0u);
        pl_status st = pl_dnnl_plain_md(PL_DT_FLOAT, 2, d2, &md);
        if (st == PL_OK)
            st = pl_dnnl_check(dnnl_layer_normalization_forward_desc_init(&d, dnnl_forward_inference, &md, NULL,
                                                                          pl_attr_float(xn->node, "epsilon", 1e-5f), flags),
                               "layer normalization descriptor");
        if (st == PL_OK) st = finish(r, xn, p, &d, "layer normalization", &p);
        else pl_dnnl_prim_free(p);
        if (st != PL_OK) return pl_dnnl_or_reference(r, xn, st);
    }
    dnnl_memory_desc_t cmd;
    PL_TRY(pl_dnnl_plain_md(PL_DT_FLOAT, 1, &d2[1], &cmd));
    pl_tensor *y;
    PL_TRY(pl_xrun_out(r, xn, 0, PL_DT_FLOAT, x->rank, x->dims, &y));
    pl_dnnl_arg a[4] = {{DNNL_ARG_SRC, &p->src_md, x->data}, {DNNL_ARG_DST, &p->dst_md, y->data},
                        {DNNL_ARG_SCALE, &cmd, scale->data}, {DNNL_ARG_SHIFT, &cmd, bias ? bias->data : NULL}};
    return pl_dnnl_prim_exec(r, p, bias ? 4 : 3, a, y->data);
}

static pl_status norm_run(pl_xrun *r, pl_xnode *xn) {
    if (!strcmp(xn->op, "LRN")) return lrn_run(r, xn);
    if (!strcmp(xn->op, "BatchNormalization")) return bn_run(r, xn);
    return ln_run(r, xn);
}

const pl_tactic pl_tactic_dnnl_norm = {.name = "onednn:norm", .accepts = norm_accepts, .run = norm_run, .blocked_io = true};
