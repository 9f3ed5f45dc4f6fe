/* dnnl_pool.c - MaxPool, AveragePool (with dilations, ceil mode, padding counted or not) and
 * the global poolings on oneDNN, in whatever layout the input arrives (blocked between
 * convolutions). */
#include "dnnl_util.h"

#include <stdlib.h>
#include <string.h>

static bool is_global(const pl_xnode *xn) { return !strcmp(xn->op, "GlobalAveragePool") || !strcmp(xn->op, "GlobalMaxPool"); }

static bool pool_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || xn->n_in != 1 || xn->n_post) return false;
    if (is_global(xn)) return xn->n_out == 1;
    if (!strcmp(xn->op, "MaxPool")) {
        if (xn->n_out > 1 && xn->out[1] >= 0) return false; /* indices: reference */
        return pl_attr_int(xn->node, "storage_order", 0) == 0;
    }
    if (!strcmp(xn->op, "AveragePool")) return xn->n_out == 1;
    return false;
}

static bool geometry(const pl_xnode *xn, const pl_tensor *x, pl_window *g) {
    memset(g, 0, sizeof *g);
    g->nd = x->rank - 2;
    if (g->nd < 1 || g->nd > 3) return false;
    for (int i = 0; i < g->nd; i++) g->in[i] = x->dims[2 + i];
    if (is_global(xn)) {
        for (int i = 0; i < g->nd; i++) {
            g->k[i] = g->in[i];
            g->stride[i] = g->dil[i] = 1;
            g->out[i] = 1;
        }
        return true;
    }
    int nk = 0;
    const int64_t *k = pl_attr_ints(xn->node, "kernel_shape", &nk);
    if (!k || nk != g->nd) return false;
    for (int i = 0; i < g->nd; i++) g->k[i] = k[i];
    if (pl_window_read_attrs(xn->node, g) != PL_OK) {
        pl_err_clear();
        return false;
    }
    bool ceil = pl_attr_int(xn->node, "ceil_mode", 0) != 0;
    if (ceil && !strcmp(xn->op, "AveragePool") && pl_attr_int(xn->node, "count_include_pad", 0)) return false;
    if (pl_window_output(xn->node, g, ceil) != PL_OK) {
        pl_err_clear();
        return false;
    }
    for (int i = 0; i < g->nd; i++) {
        if (g->out[i] <= 0) return false;
        /* oneDNN's right padding makes the last window (ceil mode) fit */
        int64_t keff = (g->k[i] - 1) * g->dil[i] + 1;
        int64_t need = (g->out[i] - 1) * g->stride[i] + keff - g->in[i] - g->pad_b[i];
        if (need > g->pad_e[i]) g->pad_e[i] = need;
        /* a window starting in the right padding would average nothing: the reference */
        if ((g->out[i] - 1) * g->stride[i] - g->pad_b[i] >= g->in[i]) return false;
    }
    return true;
}

static pl_status pool_run(pl_xrun *r, pl_xnode *xn) {
    dnnl_memory_desc_t xmd;
    void *xd;
    const pl_tensor *x;
    PL_TRY(pl_xrun_dnnl_in(r, xn, 0, &xmd, &xd, &x));
    pl_window g;
    if (x->dtype != PL_DT_FLOAT || !geometry(xn, x, &g)) return pl_tactic_reference.run(r, xn);
    int64_t key[64];
    int key_len;
    PL_TRY(pl_dnnl_key(r, xn, key, &key_len));
    pl_dnnl_prim *p = pl_dnnl_find(xn, key, key_len, &xmd);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p) return pl_err(PL_ERR_NOMEM, "out of memory");
        p->key_len = key_len;
        memcpy(p->key, key, (size_t)key_len * sizeof *key);
        p->in_md = xmd;
        p->rank = x->rank;
        p->out_dims[0] = x->dims[0];
        p->out_dims[1] = x->dims[1];
        for (int i = 0; i < g.nd; i++) p->out_dims[2 + i] = g.out[i];
        dnnl_dims_t dd, st, k, dl, pl, pr;
        for (int i = 0; i < x->rank; i++) dd[i] = p->out_dims[i];
        for (int i = 0; i < g.nd; i++) {
            st[i] = g.stride[i];
            k[i] = g.k[i];
            dl[i] = g.dil[i] - 1;
            pl[i] = g.pad_b[i];
            pr[i] = g.pad_e[i];
        }
        dnnl_alg_kind_t alg = !strcmp(xn->op, "MaxPool") || !strcmp(xn->op, "GlobalMaxPool") ? dnnl_pooling_max
                              : pl_attr_int(xn->node, "count_include_pad", 0) ? dnnl_pooling_avg_include_padding
                                                                               : dnnl_pooling_avg_exclude_padding;
        dnnl_memory_desc_t dmd;
        dnnl_primitive_attr_t attr = NULL;
        pl_status s = pl_dnnl_check(dnnl_memory_desc_init_by_tag(&dmd, x->rank, dd, dnnl_f32, dnnl_format_tag_any), "pool dst");
        if (s == PL_OK) s = pl_dnnl_prim_attr(r, xn, p, x->rank, p->out_dims, &attr);
        dnnl_pooling_v2_desc_t pdsc;
        if (s == PL_OK)
            s = pl_dnnl_check(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &xmd, &dmd, st, k, dl, pl, pr),
                              "pooling descriptor");
        if (s == PL_OK) s = pl_dnnl_prim_create(p, &pdsc, attr, "pooling");
        if (attr) dnnl_primitive_attr_destroy(attr);
        if (s != PL_OK) {
            pl_dnnl_prim_free(p);
            if (s == PL_ERR_UNSUPPORTED) {
                pl_err_clear();
                return pl_tactic_reference.run(r, xn);
            }
            return s;
        }
        pl_dnnl_add(xn, p, &p);
    }
    void *dst;
    PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst));
    pl_dnnl_arg a[2] = {{DNNL_ARG_SRC, &xmd, xd}, {DNNL_ARG_DST, &p->dst_md, dst}};
    return pl_dnnl_prim_exec(r, p, 2, a, dst);
}

const pl_tactic pl_tactic_dnnl_pool = {.name = "onednn:pool", .accepts = pool_accepts, .run = pool_run, .blocked_io = true};
