/* dnnl_binary.c - Add, Sub, Mul, Div, Max, Min (two inputs) with numpy broadcasting, and
 * PRelu, on oneDNN's binary and prelu primitives. Inputs of the same shape run in the layout
 * of a blocked input (the other one reordered into it when its layout differs), so that
 * residual Adds between oneDNN convolutions stay blocked; a broadcast operand is described
 * plain with its size-1 dims. Float tensors only; anything else runs on the reference. */
#include "dnnl_util.h"

#include <stdlib.h>
#include <string.h>

static bool binary_alg(const char *op, dnnl_alg_kind_t *alg, bool *commutes) {
    *commutes = true;
    if (!strcmp(op, "Add")) *alg = dnnl_binary_add;
    else if (!strcmp(op, "Mul")) *alg = dnnl_binary_mul;
    else if (!strcmp(op, "Max")) *alg = dnnl_binary_max;
    else if (!strcmp(op, "Min")) *alg = dnnl_binary_min;
    else if (!strcmp(op, "Sub")) *alg = dnnl_binary_sub, *commutes = false;
    else if (!strcmp(op, "Div")) *alg = dnnl_binary_div, *commutes = false;
    else return false;
    return true;
}

static bool binary_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || xn->n_in != 2 || xn->n_out != 1 || xn->in[0] < 0 || xn->in[1] < 0) return false;
    dnnl_alg_kind_t alg;
    bool commutes;
    if (strcmp(xn->op, "PRelu") && !binary_alg(xn->op, &alg, &commutes)) return false;
    /* opset < 7 Add/Sub/Mul/Div broadcast by `axis`, not numpy */
    if (xn->node->opset < 7 && strcmp(xn->op, "PRelu")) return false;
    return pl_dnnl_maybe_float(xg, xn->in[0]) && pl_dnnl_maybe_float(xg, xn->in[1]);
}

/* dims of t right-aligned to rank */
static void align_dims(const pl_tensor *t, int rank, int64_t *d) {
    for (int i = 0; i < rank; i++) {
        int k = i - (rank - t->rank);
        d[i] = k >= 0 ? t->dims[k] : 1;
    }
}

/* True when b broadcasts into a's shape (a has the output's shape). */
static bool fits_into(const pl_tensor *a, const pl_tensor *b) {
    if (b->rank > a->rank) return false;
    for (int i = 0; i < b->rank; i++) {
        int64_t bd = b->dims[i], ad = a->dims[a->rank - b->rank + i];
        if (bd != ad && bd != 1) return false;
    }
    return true;
}

static pl_status run_prelu(pl_xrun *r, pl_xnode *xn) {
    dnnl_memory_desc_t xmd;
    void *xd;
    const pl_tensor *x, *slope;
    PL_DNNL_IN_OR_REFERENCE(r, xn, 0, &xmd, &xd, &x);
    PL_TRY(pl_xrun_in(r, xn, 1, &slope));
    if (x->kind != PL_KIND_TENSOR || slope->kind != PL_KIND_TENSOR || x->dtype != PL_DT_FLOAT ||
        slope->dtype != PL_DT_FLOAT || x->numel == 0 || x->rank == 0 || !fits_into(x, slope))
        return pl_tactic_reference.run(r, xn);
    pl_dnnl_prim *p;
    PL_TRY(pl_dnnl_lookup(r, xn, &xmd, &p));
    if (!p->prim) {
        p->rank = x->rank;
        memcpy(p->out_dims, x->dims, (size_t)x->rank * sizeof *x->dims);
        int64_t sd[PL_MAX_RANK];
        align_dims(slope, x->rank, sd);
        dnnl_memory_desc_t wmd;
        dnnl_prelu_desc_t d;
        pl_status st = pl_dnnl_plain_md(PL_DT_FLOAT, x->rank, sd, &wmd);
        if (st == PL_OK) st = pl_dnnl_check(dnnl_prelu_forward_desc_init(&d, dnnl_forward_inference, &xmd, &wmd), "prelu descriptor");
        if (st == PL_OK) st = pl_dnnl_prim_create_plain(p, &d, "prelu");
        if (st == PL_OK && !dnnl_memory_desc_equal(&p->wei_md, &wmd))
            st = pl_err(PL_ERR_UNSUPPORTED, "prelu wants another slope layout");
        if (st != PL_OK) {
            pl_dnnl_prim_free(p);
            return pl_dnnl_or_reference(r, xn, st);
        }
        pl_dnnl_add(xn, p, &p);
    }
    void *dst;
    PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst));
    pl_dnnl_arg a[3] = {{DNNL_ARG_SRC, &xmd, xd}, {DNNL_ARG_WEIGHTS, &p->wei_md, slope->data}, {DNNL_ARG_DST, &p->dst_md, dst}};
    return pl_dnnl_prim_exec(r, p, 3, a, dst);
}

/* aux[0]: which input is oneDNN's src0 (1: swapped); aux[1]: src0 is read plain;
 * aux[2]: src1 is reordered into src0's layout (same shapes). */
static pl_status make_binary(pl_xnode *xn, dnnl_alg_kind_t alg, const pl_tensor *a, const dnnl_memory_desc_t *amd,
                             const pl_tensor *b, const dnnl_memory_desc_t *bmd, bool swapped, bool same,
                             const dnnl_memory_desc_t *in_md, const int64_t *key, int key_len, pl_dnnl_prim **out) {
    pl_dnnl_prim *p = pl_dnnl_prim_new(key, key_len, in_md);
    if (!p) return PL_ERR_NOMEM;
    p->rank = a->rank;
    memcpy(p->out_dims, a->dims, (size_t)a->rank * sizeof *a->dims);
    p->aux[0] = swapped;
    dnnl_memory_desc_t s0 = *amd, s1;
    pl_status st = PL_OK;
    if (same) {
        /* both in src0's layout when it is blocked, else in src1's */
        if (pl_dnnl_md_is_plain(amd) && !pl_dnnl_md_is_plain(bmd)) {
            s0 = *bmd;
            p->aux[1] = 2; /* src0 reordered into src1's layout */
        }
        s1 = s0;
        p->aux[2] = !dnnl_memory_desc_equal(bmd, &s1);
    } else {
        int64_t bd[PL_MAX_RANK];
        align_dims(b, a->rank, bd);
        st = pl_dnnl_plain_md(PL_DT_FLOAT, a->rank, bd, &s1);
    }
    dnnl_binary_desc_t d;
    /* a subtraction with swapped operands is negated afterwards: a - b = -(b - a) */
    bool negate = swapped && alg == dnnl_binary_sub;
    if (swapped && alg == dnnl_binary_div) st = pl_err(PL_ERR_UNSUPPORTED, "division of a broadcast dividend");
    for (int attempt = 0; st == PL_OK && attempt < 2; attempt++) {
        if (attempt == 1) { /* oneDNN refused src0's blocked layout with this broadcast: plain */
            pl_err_clear();
            st = pl_dnnl_plain_md(PL_DT_FLOAT, a->rank, a->dims, &s0);
            p->aux[1] = 1;
            if (st != PL_OK) break;
        }
        st = pl_dnnl_check(dnnl_binary_desc_init(&d, alg, &s0, &s1, &s0), "binary descriptor");
        dnnl_primitive_attr_t attr = NULL;
        dnnl_post_ops_t po = NULL;
        if (st == PL_OK) st = pl_dnnl_plain_attr(&attr);
        if (st == PL_OK && negate) {
            st = pl_dnnl_check(dnnl_post_ops_create(&po), "post-ops");
            if (st == PL_OK) st = pl_dnnl_check(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, -1.f, 0.f), "negation");
            if (st == PL_OK) st = pl_dnnl_check(dnnl_primitive_attr_set_post_ops(attr, po), "set post-ops");
        }
        if (st == PL_OK) st = pl_dnnl_prim_create(p, &d, attr, "binary");
        if (po) dnnl_post_ops_destroy(po);
        if (attr) dnnl_primitive_attr_destroy(attr);
        if (st != PL_ERR_UNSUPPORTED || same || pl_dnnl_md_is_plain(&s0)) break;
    }
    if (st != PL_OK) {
        pl_dnnl_prim_free(p);
        return st;
    }
    pl_dnnl_add(xn, p, out);
    return PL_OK;
}

static pl_status binary_run(pl_xrun *r, pl_xnode *xn) {
    if (!strcmp(xn->op, "PRelu")) return run_prelu(r, xn);
    dnnl_alg_kind_t alg;
    bool commutes;
    binary_alg(xn->op, &alg, &commutes);
    dnnl_memory_desc_t md[2];
    void *data[2];
    const pl_tensor *t[2];
    PL_DNNL_IN_OR_REFERENCE(r, xn, 0, &md[0], &data[0], &t[0]);
    PL_DNNL_IN_OR_REFERENCE(r, xn, 1, &md[1], &data[1], &t[1]);
    for (int i = 0; i < 2; i++)
        if (t[i]->kind != PL_KIND_TENSOR || t[i]->dtype != PL_DT_FLOAT || t[i]->numel == 0)
            return pl_tactic_reference.run(r, xn);
    if (pl_dnnl_md_is_plain(&md[0]) && pl_dnnl_md_is_plain(&md[1]) && t[0]->numel < PL_DNNL_MIN_PLAIN_NUMEL &&
        t[1]->numel < PL_DNNL_MIN_PLAIN_NUMEL)
        return pl_tactic_reference.run(r, xn);
    bool same = t[0]->rank == t[1]->rank && !memcmp(t[0]->dims, t[1]->dims, (size_t)t[0]->rank * sizeof *t[0]->dims);
    int a = 0; /* the input with the output's shape: oneDNN's src0 */
    if (!same && !fits_into(t[0], t[1])) {
        if (!fits_into(t[1], t[0]) || alg == dnnl_binary_div) return pl_tactic_reference.run(r, xn);
        a = 1;
    }
    int b = 1 - a;
    int64_t key[64];
    int key_len;
    PL_TRY(pl_dnnl_key(r, xn, key, &key_len));
    if (key_len >= 64) return pl_tactic_reference.run(r, xn);
    key[key_len++] = pl_dnnl_md_layout(&md[1]);
    pl_dnnl_prim *p = pl_dnnl_find(xn, key, key_len, &md[0]);
    if (!p) {
        pl_status st = make_binary(xn, alg, t[a], &md[a], t[b], &md[b], a == 1, same, &md[0], key, key_len, &p);
        if (st != PL_OK) return pl_dnnl_or_reference(r, xn, st);
    }
    /* the operands in the primitive's layouts */
    void *s0 = data[a], *s1 = data[b];
    if (p->aux[1] == 1) { /* src0 read plain */
        const pl_tensor *pt;
        PL_TRY(pl_xrun_in(r, xn, a, &pt));
        s0 = pt->data;
    } else if (p->aux[1] == 2) { /* src0 reordered into src1's (blocked) layout */
        s0 = pl_xrun_scratch(r, 1, dnnl_memory_desc_get_size(&p->src_md));
        if (!s0) return pl_err(PL_ERR_NOMEM, "out of memory reordering an operand");
        PL_TRY(pl_dnnl_reorder(r, &md[a], data[a], &p->src_md, s0));
    }
    if (p->aux[2]) {
        s1 = pl_xrun_scratch(r, 2, dnnl_memory_desc_get_size(&p->src1_md));
        if (!s1) return pl_err(PL_ERR_NOMEM, "out of memory reordering an operand");
        PL_TRY(pl_dnnl_reorder(r, &md[b], data[b], &p->src1_md, s1));
    } else if (!same) {
        const pl_tensor *pt; /* the broadcast operand is described plain */
        PL_TRY(pl_xrun_in(r, xn, b, &pt));
        s1 = pt->data;
    }
    void *dst;
    PL_TRY(pl_xrun_dnnl_out(r, xn, 0, &p->dst_md, PL_DT_FLOAT, p->rank, p->out_dims, &dst));
    pl_dnnl_arg args[3] = {{DNNL_ARG_SRC_0, &p->src_md, s0}, {DNNL_ARG_SRC_1, &p->src1_md, s1}, {DNNL_ARG_DST, &p->dst_md, dst}};
    return pl_dnnl_prim_exec(r, p, 3, args, dst);
}

const pl_tactic pl_tactic_dnnl_binary = {.name = "onednn:binary", .accepts = binary_accepts, .run = binary_run,
                                         .blocked_io = true};
