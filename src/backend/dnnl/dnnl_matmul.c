/* dnnl_matmul.c - MatMul (batched, numpy broadcast of batch dims, 1-D operands) and Gemm
 * (transposes through strides, alpha folded into constant weights, a vector C as bias) on
 * oneDNN's matmul; constant weights are reordered once into the layout it prefers, and
 * post-ops (activations, bias or residual Adds) are fused. */
#include "dnnl_util.h"

#include <stdlib.h>
#include <string.h>

static bool is_float_const(const pl_xgraph *xg, int v) {
    return v >= 0 && xg->consts[v] && xg->consts[v]->dtype == PL_DT_FLOAT;
}

static bool matmul_accepts(const pl_xgraph *xg, const pl_xnode *xn) {
    if (xn->node->domain[0] || xn->n_out != 1) return false;
    if (!strcmp(xn->op, "MatMul")) return xn->n_in == 2 && pl_dnnl_post_ops_supported(xg, xn);
    if (strcmp(xn->op, "Gemm") || xn->n_in < 2) return false;
    float alpha = pl_attr_float(xn->node, "alpha", 1.0f), beta = pl_attr_float(xn->node, "beta", 1.0f);
    if (alpha != 1.0f && !is_float_const(xg, xn->in[1])) return false;
    if (xn->n_in >= 3 && xn->in[2] >= 0) {
        if (!is_float_const(xg, xn->in[2])) return false;
        const pl_tensor *c = xg->consts[xn->in[2]];
        if (c->rank > 2 || (c->rank == 2 && c->dims[0] != 1)) return false;
        (void)beta;
    }
    return pl_dnnl_post_ops_supported(xg, xn);
}

static pl_status strides_md(int rank, const int64_t *dims, const int64_t *strides, dnnl_memory_desc_t *md) {
    dnnl_dims_t d, s;
    for (int i = 0; i < rank; i++) {
        d[i] = dims[i];
        s[i] = strides[i];
    }
    PL_DNNL(dnnl_memory_desc_init_by_strides(md, rank, d, dnnl_f32, s), "matmul memory descriptor");
    return PL_OK;
}

/* Shapes: a' [batch.., M, K], b' [batch.., K, N] as descriptors (with transposes), out dims. */
typedef struct mm_shape {
    int rank;                 /* of the oneDNN problem (>= 2) */
    int64_t ad[PL_MAX_RANK], as[PL_MAX_RANK], bd[PL_MAX_RANK], bs[PL_MAX_RANK], dd[PL_MAX_RANK];
    int out_rank;             /* ONNX output rank */
    int64_t out[PL_MAX_RANK];
} mm_shape;

static bool mm_geometry(const pl_xnode *xn, const pl_tensor *a, const pl_tensor *b, mm_shape *s) {
    memset(s, 0, sizeof *s);
    if (!strcmp(xn->op, "Gemm")) {
        if (a->rank != 2 || b->rank != 2) return false;
        bool ta = pl_attr_int(xn->node, "transA", 0) != 0, tb = pl_attr_int(xn->node, "transB", 0) != 0;
        int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
        int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
        if (k != kb) return false;
        s->rank = 2;
        s->ad[0] = m, s->ad[1] = k;
        s->as[0] = ta ? 1 : k, s->as[1] = ta ? m : 1;
        s->bd[0] = k, s->bd[1] = n;
        s->bs[0] = tb ? 1 : n, s->bs[1] = tb ? k : 1;
        s->dd[0] = m, s->dd[1] = n;
        s->out_rank = 2;
        s->out[0] = m, s->out[1] = n;
        return m > 0 && n > 0 && k > 0;
    }
    if (a->rank < 1 || b->rank < 1) return false;
    int ra = a->rank, rb = b->rank;
    int64_t m = ra == 1 ? 1 : a->dims[ra - 2], k = a->dims[ra - 1];
    int64_t kb = rb == 1 ? b->dims[0] : b->dims[rb - 2], n = rb == 1 ? 1 : b->dims[rb - 1];
    if (k != kb || m <= 0 || n <= 0 || k <= 0) return false;
    int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
    int nb = ba > bb ? ba : bb;
    if (nb + 2 > DNNL_MAX_NDIMS) return false;
    s->rank = nb + 2;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - ba), ib = i - (nb - bb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return false;
        s->ad[i] = da;
        s->bd[i] = db;
        s->dd[i] = da > db ? da : db;
    }
    s->ad[nb] = m, s->ad[nb + 1] = k;
    s->bd[nb] = k, s->bd[nb + 1] = n;
    s->dd[nb] = m, s->dd[nb + 1] = n;
    /* plain strides (oneDNN broadcasts a batch dim of 1 by its size, not a zero stride) */
    int64_t st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        s->as[i] = st;
        st *= s->ad[i];
    }
    st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        s->bs[i] = st;
        st *= s->bd[i];
    }
    int o = 0;
    for (int i = 0; i < nb; i++) s->out[o++] = s->dd[i];
    if (ra > 1) s->out[o++] = m;
    if (rb > 1) s->out[o++] = n;
    s->out_rank = o;
    return true;
}

static pl_status make_prim(pl_xrun *r, pl_xnode *xn, const pl_tensor *b, const mm_shape *s,
                           const int64_t *key, int key_len, pl_dnnl_prim **out) {
    const pl_xgraph *xg = pl_xrun_graph(r);
    bool wconst = is_float_const(xg, xn->in[1]);
    pl_dnnl_prim *p = calloc(1, sizeof *p);
    if (!p) return pl_err(PL_ERR_NOMEM, "out of memory");
    p->key_len = key_len;
    memcpy(p->key, key, (size_t)key_len * sizeof *key);
    p->rank = s->out_rank;
    memcpy(p->out_dims, s->out, sizeof s->out);
    dnnl_memory_desc_t amd, bmd, ubmd, dmd, biasmd;
    int64_t ds[PL_MAX_RANK], st = 1;
    for (int i = s->rank - 1; i >= 0; i--) {
        ds[i] = st;
        st *= s->dd[i];
    }
    pl_status e = strides_md(s->rank, s->ad, s->as, &amd);
    if (e == PL_OK) e = strides_md(s->rank, s->bd, s->bs, &ubmd);
    if (e == PL_OK) e = strides_md(s->rank, s->dd, ds, &dmd);
    bmd = ubmd;
    if (e == PL_OK && wconst) {
        dnnl_dims_t bd;
        for (int i = 0; i < s->rank; i++) bd[i] = s->bd[i];
        e = pl_dnnl_check(dnnl_memory_desc_init_by_tag(&bmd, s->rank, bd, dnnl_f32, dnnl_format_tag_any), "matmul weights");
    }
    /* Gemm's C (a vector of N, or [1, N]) times beta is the bias */
    const pl_tensor *c = !strcmp(xn->op, "Gemm") && xn->n_in >= 3 && xn->in[2] >= 0 ? xg->consts[xn->in[2]] : NULL;
    float *bias = NULL;
    if (e == PL_OK && c) {
        int64_t n = s->dd[s->rank - 1];
        if (c->numel != n && c->numel != 1) {
            pl_dnnl_prim_free(p);
            return PL_ERR_UNSUPPORTED;
        }
        bias = malloc((size_t)n * sizeof *bias);
        if (!bias) e = pl_err(PL_ERR_NOMEM, "out of memory");
        float beta = pl_attr_float(xn->node, "beta", 1.0f);
        for (int64_t i = 0; bias && i < n; i++) bias[i] = beta * ((const float *)c->data)[c->numel == 1 ? 0 : i];
        dnnl_dims_t bd = {1, n};
        if (e == PL_OK) e = pl_dnnl_check(dnnl_memory_desc_init_by_tag(&biasmd, 2, bd, dnnl_f32, dnnl_ab), "matmul bias");
    }
    dnnl_primitive_attr_t attr = NULL;
    if (e == PL_OK) e = pl_dnnl_prim_attr(r, xn, p, s->rank, s->dd, &attr);
    dnnl_matmul_desc_t md;
    if (e == PL_OK) e = pl_dnnl_check(dnnl_matmul_desc_init(&md, &amd, &bmd, c ? &biasmd : NULL, &dmd), "matmul descriptor");
    if (e == PL_OK) e = pl_dnnl_prim_create(p, &md, attr, "matmul");
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (e == PL_OK && wconst) {
        size_t wb = dnnl_memory_desc_get_size(&p->wei_md);
        p->weights = aligned_alloc(64, (wb + 63) / 64 * 64);
        float alpha = !strcmp(xn->op, "Gemm") ? pl_attr_float(xn->node, "alpha", 1.0f) : 1.0f;
        const void *src = b->data;
        float *scaled = NULL;
        if (alpha != 1.0f) {
            scaled = malloc(b->nbytes);
            if (scaled)
                for (int64_t i = 0; i < b->numel; i++) scaled[i] = alpha * ((const float *)b->data)[i];
            src = scaled;
        }
        if (!p->weights || (alpha != 1.0f && !scaled)) e = pl_err(PL_ERR_NOMEM, "cannot allocate %zu bytes of reordered weights", wb);
        else e = pl_dnnl_reorder(r, &ubmd, (void *)src, &p->wei_md, p->weights);
        free(scaled);
    }
    if (e == PL_OK && bias) { /* keep the bias with the weights: one allocation owned by p */
        size_t wb = p->weights ? (dnnl_memory_desc_get_size(&p->wei_md) + 63) / 64 * 64 : 0;
        size_t nb = (size_t)s->dd[s->rank - 1] * sizeof *bias;
        void *both = aligned_alloc(64, wb + (nb + 63) / 64 * 64);
        if (!both) e = pl_err(PL_ERR_NOMEM, "out of memory");
        else {
            if (wb) memcpy(both, p->weights, wb);
            memcpy((char *)both + wb, bias, nb);
            free(p->weights);
            p->weights = both;
            p->aux[0] = (int64_t)wb; /* bias offset */
            p->aux[1] = 1;
        }
    }
    free(bias);
    if (e != PL_OK) {
        pl_dnnl_prim_free(p);
        return e;
    }
    pl_dnnl_add(xn, p, out);
    return PL_OK;
}

/* With a 1-D operand the ONNX output has fewer axes than oneDNN's problem ([2,2,4] x [4] is
 * [2,2], the problem [2,2,1]), so a post-op operand aligned to the right of one is not aligned
 * to the right of the other ([2,1] adds along the batch in ONNX, along the rows in oneDNN) and
 * one with more axes widens the result ([3] + [1,3] is [1,3]): such nodes run on the reference
 * kernel, whose post-ops the executor applies with numpy broadcasting. */
static bool has_operand_post(const pl_xnode *xn) {
    for (int p = 0; p < xn->n_post; p++)
        if (xn->post[p].arg >= 0) return true;
    return false;
}

/* A MatMul whose B is a matrix shared by every batch of A ([L, N, K] x [K, M], as a
 * sequence-first Transformer's projections are) is one GEMM of A's rows: oneDNN would
 * otherwise run L products of N rows each (at N = 1, matrix-vector products). Only when the
 * post-op operands are row vectors, which read the same in either form. */
static void collapse_batch(pl_xrun *r, const pl_xnode *xn, const pl_tensor *a, const pl_tensor *b, mm_shape *s) {
    if (strcmp(xn->op, "MatMul") || a->rank < 3 || b->rank != 2 || s->rank != a->rank) return;
    int64_t n = s->dd[s->rank - 1], rows = 1;
    for (int i = 0; i < a->rank - 1; i++) rows *= a->dims[i];
    if (rows == a->dims[a->rank - 2]) return; /* one batch already */
    for (int p = 0; p < xn->n_post; p++) {
        const pl_tensor *t = xn->post[p].arg >= 0 ? pl_xrun_logical(r, xn->post[p].arg) : NULL;
        if (xn->post[p].arg >= 0 && (!t || t->numel != n || t->rank > 2)) return;
    }
    int64_t k = s->ad[s->rank - 1];
    s->rank = 2;
    s->ad[0] = rows, s->ad[1] = k, s->as[0] = k, s->as[1] = 1;
    s->bd[0] = k, s->bd[1] = n, s->bs[0] = n, s->bs[1] = 1;
    s->dd[0] = rows, s->dd[1] = n;
}

static pl_status matmul_run(pl_xrun *r, pl_xnode *xn) {
    const pl_tensor *a, *b;
    PL_TRY(pl_xrun_in(r, xn, 0, &a));
    PL_TRY(pl_xrun_in(r, xn, 1, &b));
    mm_shape s;
    if (!a || !b || a->dtype != PL_DT_FLOAT || b->dtype != PL_DT_FLOAT || !mm_geometry(xn, a, b, &s))
        return pl_tactic_reference.run(r, xn);
    if (s.out_rank < s.rank && has_operand_post(xn)) return pl_tactic_reference.run(r, xn);
    collapse_batch(r, xn, a, b, &s);
    int64_t key[64];
    int key_len;
    PL_TRY(pl_dnnl_key(r, xn, key, &key_len));
    pl_dnnl_prim *p = pl_dnnl_find(xn, key, key_len, NULL);
    if (!p) {
        pl_status st = make_prim(r, xn, b, &s, key, key_len, &p);
        if (st == PL_ERR_UNSUPPORTED) {
            pl_err_clear();
            return pl_tactic_reference.run(r, xn);
        }
        PL_TRY(st);
    }
    dnnl_memory_desc_t omd;
    PL_TRY(pl_dnnl_plain_md(PL_DT_FLOAT, p->rank, p->out_dims, &omd));
    void *dst;
    PL_TRY(pl_xrun_dnnl_out_reuse(r, xn, 0, &omd, PL_DT_FLOAT, p->rank, p->out_dims, p->sum_value, &dst));
    void *w = is_float_const(pl_xrun_graph(r), xn->in[1]) ? p->weights : (void *)b->data;
    pl_dnnl_arg args[4] = {{DNNL_ARG_SRC, &p->src_md, (void *)a->data},
                           {DNNL_ARG_WEIGHTS, &p->wei_md, w},
                           {DNNL_ARG_DST, &p->dst_md, dst}};
    int n = 3;
    if (p->aux[1]) args[n++] = (pl_dnnl_arg){DNNL_ARG_BIAS, &p->bias_md, (char *)p->weights + p->aux[0]};
    return pl_dnnl_prim_exec(r, p, n, args, dst);
}

const pl_tactic pl_tactic_dnnl_matmul = {.name = "onednn:matmul", .accepts = matmul_accepts, .run = matmul_run};
