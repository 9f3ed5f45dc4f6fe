/* dnnl_softmax.c - Softmax and LogSoftmax on oneDNN's softmax (v2) primitive, in plain
 * layout. Opset >= 13 normalizes over one axis; earlier opsets flatten the input to 2-D at
 * `axis` and normalize each row, which is a softmax over axis 1 of a [prod(dims[:axis]),
 * prod(dims[axis:])] view. Float tensors only; anything else runs on the reference. */
#include "dnnl_util.h"

#include <stdlib.h>
#include <string.h>

static bool softmax_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || xn->n_in != 1 || xn->n_out != 1 || xn->in[0] < 0) return false;
    if (strcmp(xn->op, "Softmax") && strcmp(xn->op, "LogSoftmax")) return false;
    return pl_dnnl_maybe_float(xg, xn->in[0]);
}

static pl_status softmax_run(pl_xrun *r, pl_xnode *xn) {
    const pl_tensor *x;
    PL_TRY(pl_xrun_in(r, xn, 0, &x));
    bool v13 = xn->node->opset >= 13;
    int64_t axis = pl_attr_int(xn->node, "axis", v13 ? -1 : 1);
    if (axis < 0) axis += x->rank;
    if (x->kind != PL_KIND_TENSOR || x->dtype != PL_DT_FLOAT || x->numel == 0 || x->rank == 0 || axis < 0 ||
        axis >= x->rank || (v13 && x->rank > DNNL_MAX_NDIMS))
        return pl_tactic_reference.run(r, xn);
    pl_dnnl_prim *p;
    PL_TRY(pl_dnnl_lookup(r, xn, NULL, &p));
    if (!p->prim) {
        int64_t d2[2] = {1, 1};
        for (int i = 0; i < x->rank; i++) d2[i >= axis] *= x->dims[i];
        dnnl_memory_desc_t md;
        pl_status st = v13 ? pl_dnnl_plain_md(PL_DT_FLOAT, x->rank, x->dims, &md) : pl_dnnl_plain_md(PL_DT_FLOAT, 2, d2, &md);
        dnnl_softmax_v2_desc_t d;
        dnnl_alg_kind_t alg = strcmp(xn->op, "Softmax") ? dnnl_softmax_log : dnnl_softmax_accurate;
        if (st == PL_OK)
            st = pl_dnnl_check(dnnl_softmax_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &md, &md, v13 ? (int)axis : 1),
                               "softmax descriptor");
        if (st == PL_OK) st = pl_dnnl_prim_create_plain(p, &d, "softmax");
        if (st != PL_OK) {
            pl_dnnl_prim_free(p);
            return pl_dnnl_or_reference(r, xn, st);
        }
        pl_dnnl_add(xn, p, &p);
    }
    pl_tensor *y;
    PL_TRY(pl_xrun_out(r, xn, 0, PL_DT_FLOAT, x->rank, x->dims, &y));
    pl_dnnl_arg a[2] = {{DNNL_ARG_SRC, &p->src_md, x->data}, {DNNL_ARG_DST, &p->dst_md, y->data}};
    return pl_dnnl_prim_exec(r, p, 2, a, y->data);
}

const pl_tactic pl_tactic_dnnl_softmax = {.name = "onednn:softmax", .accepts = softmax_accepts, .run = softmax_run,
                                          .blocked_io = true};
